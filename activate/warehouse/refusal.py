"""A warehouse login refused, and the one re-read of its provider secrets (issue #13: rotation without a loop).

Every warehouse connection activate opens (a source reader, a warehouse-native diff or state session) goes through
`open_with_reread`. Each dialect turns its driver's refusal into `LoginRefused`, decided from the driver's codes:

    SourceError
     └─ LoginRefused       the warehouse (or the key file) refused the credentials of a login
                           - Postgres: SQLSTATE 28P01 / 28000 when the driver has one; psycopg gives a failed
                             connection none, so libpq's own flags decide: the server asked for a password and the
                             login failed (`used_password`), or it demanded one that was not given (`needs_password`)
                           - Snowflake: the connector's `DatabaseError` with SQLSTATE 28000, or a login code among
                             the credential rejections (390100 incorrect username or password, 390144 / 3943xx
                             JWT refused, 390303 / 390318 OAuth token invalid or expired)
                           - a Snowflake private key that its passphrase does not decrypt

When the refused credentials came from a secret provider (`${vault:..}`, `${aws-sm:..}`, `${file:..}`), the
connection's secrets are read again once (`activate.secrets.rotation`); a changed value is tried once more, and
an unchanged one, or a second refusal, raises `CredentialsRefused` (an `AuthFailed`: the run fails `auth`) with
one line naming the connection and the references. Credentials written in the file or the environment cannot
change during a run: their refusal stays the `SourceError` it always was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from activate.errors import SourceError
from activate.http.errors import AuthFailed
from activate.secrets.rotation import Rotation

C = TypeVar("C")
T = TypeVar("T")


class LoginRefused(SourceError):
    """The warehouse refused a login's credentials. The message is the driver's (it never holds a secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def open_with_reread(connection: C, open_: Callable[[C], T]) -> T:
    """`open_(connection)`, its provider secrets re-read once if the warehouse refuses them (see the module doc).

    `connection` is any model opened by `Project.connection`; the attempt uses its current credentials, so a
    second opening after a re-read starts from the new value without reading again.
    """
    rotation = Rotation(connection)
    version, current = rotation.current()
    try:
        return open_(current)
    except LoginRefused as refused:
        if not rotation.active:
            raise
        cause = refused.message
    fresh = rotation.reread(version, cause)  # CredentialsRefused when nothing changed or this was the one re-read
    try:
        return open_(fresh)
    except LoginRefused as again:
        raise rotation.explain(AuthFailed(again.message)) from None
