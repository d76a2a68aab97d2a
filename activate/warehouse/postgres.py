"""Postgres access through psycopg: the `PostgresSession` (autocommit; streamed reads via a server-side cursor)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from activate.errors import SourceError
from activate.warehouse.refusal import LoginRefused
from activate.warehouse.session import WarehouseSession, strip_query

if TYPE_CHECKING:
    from activate.sources.config import PostgresConnection


class PostgresSession(WarehouseSession):
    """A Postgres warehouse through psycopg (autocommit; streamed reads through a server-side cursor)."""

    dialect = "postgres"
    timestamp_type = "TIMESTAMPTZ"

    def __init__(self, connection: PostgresConnection) -> None:
        import psycopg
        import sqlalchemy as sa

        url = sa.engine.make_url(connection.url.get_secret_value()).set(drivername="postgresql")
        try:
            self.con = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        except psycopg.Error as exc:
            message = f"cannot connect to the Postgres warehouse: {pg_message(exc)}"
            if login_refused(exc):
                raise LoginRefused(message) from exc
            raise SourceError(message) from exc
        # pinned so float text never changes with a user's or server's default
        self.execute("SET extra_float_digits = 1")
        self._cursors = 0

    def _run(self, sql: str) -> Any:
        import psycopg

        try:
            return self.con.execute(sql)  # type: ignore[arg-type]  # SQL composed from quoted identifiers
        except psycopg.Error as exc:
            raise SourceError(pg_message(exc)) from exc

    def result_columns(self, query: str) -> list[tuple[str, Any]]:
        cursor = self._run(f"SELECT * FROM ({strip_query(query)}) activate_q LIMIT 0")
        return [(d.name, d.type_code) for d in cursor.description]

    def execute(self, sql: str) -> None:
        self._run(sql)

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        row = self._run(sql).fetchone()
        return tuple(row) if row is not None else ()

    def stream(self, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        import psycopg

        self._cursors += 1
        try:
            with self.con.transaction(), self.con.cursor(name=f"activate_stream_{self._cursors}") as cursor:
                cursor.itersize = chunk
                cursor.execute(sql)  # type: ignore[arg-type]
                while rows := cursor.fetchmany(chunk):
                    yield rows
        except psycopg.Error as exc:
            raise SourceError(pg_message(exc)) from exc

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        import psycopg

        try:
            with self.con.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[arg-type]
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise SourceError(pg_message(exc)) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        import psycopg

        try:
            with self.con.transaction():
                yield
        except psycopg.Error as exc:
            raise SourceError(pg_message(exc)) from exc

    def table_exists(self, table: str) -> bool:
        row = self.fetchone(f"SELECT to_regclass({self.literal(table)}) IS NOT NULL")
        return bool(row and row[0])

    def close(self) -> None:
        self.con.close()


# SQLSTATE class 28: invalid_authorization_specification (28000) and invalid_password (28P01).
REFUSED_SQLSTATES = frozenset({"28000", "28P01"})


def login_refused(exc: BaseException) -> bool:
    """Whether a failed connection attempt (psycopg's error, or SQLAlchemy's wrapping it) is a refused login.

    A SQLSTATE decides when the error has one. psycopg reports a connection the server closed during the
    handshake without one (libpq keeps the server's SQLSTATE private), so then libpq's flags decide: the handshake
    never finished (no server version), and the server asked for a password (`used_password`) or demanded one that
    was not given (`needs_password`). That also takes in the rare failure after a password was accepted (a missing
    database): it costs one provider read, and the line quotes the server. Never the message text: the server
    words it in its own `lc_messages` language.
    """
    error = getattr(exc, "orig", None) or exc  # SQLAlchemy's DBAPIError wraps the driver's
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if sqlstate:
        return sqlstate in REFUSED_SQLSTATES
    pgconn: Any = getattr(error, "pgconn", None)
    if pgconn is None or pgconn.server_version:
        return False  # a server version arrives only after the login: this session was up, then failed
    return bool(pgconn.used_password or pgconn.needs_password)


def pg_message(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
