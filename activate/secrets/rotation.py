"""How a writer (or a warehouse reader) re-reads provider secrets after a refusal, through the toolkit's
"refresh once" hook.

A connection opened with `${vault:..}` / `${aws-sm:..}` / `${file:..}` credentials carries `ProviderCredentials`
(`activate.secrets.connections`). A writer keeps a `Rotation` of it: each request notes the credentials version it
used, the `ApiCaller`'s `refresh` hook re-reads the secrets (once per run, shared by every thread refused at the
same time) and hands the new connection to the writer's `apply`, and the caller retries. When the value did not
change, or the new one is refused too, `explain` turns the caller's `AuthFailed` into the one line the run fails
with (connection, reference, "refused after re-reading the secret"). A connection without provider secrets has no
hook: the writer behaves exactly as before.
"""

from __future__ import annotations

from typing import Generic, TypeVar, cast

from activate.http.errors import AuthFailed
from activate.secrets.connections import credentials_of

C = TypeVar("C")


class Rotation(Generic[C]):
    """The rotating credentials of one writer's connection (thread-safe through `ProviderCredentials`)."""

    def __init__(self, connection: C) -> None:
        self.connection = connection
        self.credentials = credentials_of(connection)

    @property
    def active(self) -> bool:
        """Whether the connection's credentials came from a provider (and so can be re-read)."""
        return self.credentials is not None

    def current(self) -> tuple[int, C]:
        """(version, connection) to send the next request with."""
        if self.credentials is None:
            return 0, self.connection
        version, model = self.credentials.current()
        return version, cast(C, model)

    def reread(self, version: int, cause: str | None = None) -> C:
        """For the `ApiCaller.call(refresh=...)` hook, after the credentials of `version` were refused: the connection
        with its secrets re-read (once per run). Raises `AuthFailed` when there is nothing new to retry with;
        `cause` (the refusal in the service's words) is quoted in that line."""
        if self.credentials is None:
            raise AuthFailed("credentials refused, and they come from no secret provider that could be re-read")
        return cast(C, self.credentials.reread(version, cause))

    def explain(self, error: AuthFailed) -> AuthFailed:
        """The error a refused call ends the run with: the one-line refusal for provider credentials."""
        if self.credentials is None:
            return error
        return self.credentials.refused(error)
