"""Which driver errors are a refused warehouse login (decided by codes, never by message text), and what a refusal
of credentials that came from no secret provider does (nothing new: the `SourceError` it always was).

The refusals themselves are produced for real in tests/secrets: a SCRAM Postgres cluster refusing a rotated
password (`test_warehouse_rotation.py`) and the connector refused by a Snowflake login front
(`test_snowflake_rotation.py`). Here the exceptions are built the way the drivers build them.
"""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from snowflake.connector.errors import DatabaseError, OperationalError, ProgrammingError

from activate.errors import SourceError
from activate.sources.config import PostgresConnection
from activate.warehouse.postgres import login_refused as postgres_refused
from activate.warehouse.refusal import LoginRefused, open_with_reread
from activate.warehouse.snowflake import login_refused as snowflake_refused


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        # as the connector's auth step raises them (`auth/_auth.py`): errno = the login code, SQLSTATE 28000
        (DatabaseError(msg="Incorrect username or password was specified.", errno=390100, sqlstate="28000"), True),
        (DatabaseError(msg="JWT token is invalid.", errno=390144, sqlstate="28000"), True),
        # an OAuth token refused: the connector gives these 08001, the code says what they are
        (ProgrammingError(msg="Invalid OAuth access token.", errno=390303, sqlstate="08001"), True),
        (DatabaseError(msg="OAuth access token expired.", errno=390318, sqlstate="08001"), True),
        # not about credentials: an unreachable account, a failing query, a message that merely mentions a password
        (OperationalError(msg="Failed to connect to DB", errno=250001, sqlstate="08001"), False),
        (ProgrammingError(msg="SQL compilation error", errno=2003, sqlstate="02000"), False),
        (DatabaseError(msg="Incorrect username or password was specified.", errno=250001, sqlstate="08001"), False),
    ],
)
def test_snowflake_refusals_are_decided_by_errno_and_sqlstate(error: Exception, refused: bool) -> None:
    assert snowflake_refused(error) is refused


def test_postgres_refusals_are_decided_by_sqlstate_when_there_is_one() -> None:
    assert postgres_refused(psycopg.errors.InvalidPassword("x"))  # 28P01
    assert postgres_refused(psycopg.errors.InvalidAuthorizationSpecification("x"))  # 28000
    assert not postgres_refused(psycopg.errors.UndefinedTable("password authentication failed"))
    wrapped = sa.exc.OperationalError("connect", {}, psycopg.errors.InvalidPassword("x"))
    assert postgres_refused(wrapped)


def test_a_postgres_error_without_sqlstate_or_connection_is_not_a_refusal() -> None:
    # what psycopg raises when no server answered at all: no SQLSTATE, no handshake to read flags from
    assert not postgres_refused(psycopg.OperationalError("connection refused: password authentication failed"))


def test_a_refusal_of_credentials_from_no_provider_is_raised_as_it_was() -> None:
    connection = PostgresConnection.model_validate({"url": "postgresql+psycopg://u:literal@h/db"})
    attempts: list[str] = []

    def refuse(current: PostgresConnection) -> None:
        attempts.append(current.url.get_secret_value())
        raise LoginRefused("cannot connect to the Postgres warehouse: refused")

    with pytest.raises(SourceError, match="^cannot connect to the Postgres warehouse: refused$"):
        open_with_reread(connection, refuse)
    assert len(attempts) == 1  # nothing could have changed: no second attempt
