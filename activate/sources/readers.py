"""Warehouse readers: DuckDB natively (Arrow straight from the engine, opened by `activate.warehouse.duckdb`),
Postgres and SQLite through SQLAlchemy.

Postgres uses a server-side cursor (`stream_results`), so a 10M-row query streams in `batch_size` chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from activate.clock import SYSTEM_CLOCK, Clock
from activate.errors import SourceError
from activate.sources.arrow import JSON_METADATA_KEY, rows_to_arrow
from activate.sources.config import DuckDBConnection, PostgresConnection, SQLiteConnection
from activate.warehouse.duckdb import connect_duckdb, duckdb_path
from activate.warehouse.postgres import login_refused
from activate.warehouse.refusal import LoginRefused, open_with_reread

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa


def _limit_zero(query: str) -> str:
    return f"select * from ({query.strip().rstrip(';')}) as activate_q limit 0"


def arrow_batches(con: duckdb.DuckDBPyConnection, query: str, batch_size: int) -> Iterator[pa.RecordBatch]:
    """A DuckDB query as streamed Arrow batches (`to_arrow_reader` in DuckDB 2, `fetch_arrow_reader` in 1.x)."""
    relation = con.sql(query)
    to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
    yield from to_reader(batch_size)


class DuckDBReader:
    """Reads a DuckDB file (or memory) with the native driver: results come out as Arrow with no row loop."""

    def __init__(self, connection: DuckDBConnection, project_root: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        path = duckdb_path(connection, project_root)
        if path != ":memory:" and not Path(path).exists():
            raise SourceError(f"DuckDB warehouse file {path} does not exist (check the connection's path:)")
        # Read-only: a source never writes, and readers in other processes (parallel syncs) can share the file.
        read_only = path != ":memory:"
        self._con: duckdb.DuckDBPyConnection = connect_duckdb(
            connection, project_root, read_only=read_only, clock=clock
        )

    def columns(self, query: str) -> list[str]:
        import duckdb

        try:
            return [d[0] for d in self._con.execute(_limit_zero(query)).description]
        except duckdb.Error as exc:
            raise SourceError(str(exc).strip()) from exc

    def batches(self, query: str, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        import duckdb

        try:
            yield from arrow_batches(self._con, query, batch_size)
        except duckdb.Error as exc:
            raise SourceError(str(exc).strip()) from exc

    def close(self) -> None:
        self._con.close()


class SQLAlchemyReader:
    """Reads any SQLAlchemy database; used for Postgres (server-side cursor) and SQLite.

    `connection` (a Postgres connection model) makes logins go through `open_with_reread`: a login refused with
    credentials from a secret provider re-reads them once, and the engine is rebuilt on the new URL.
    """

    def __init__(self, url: str, *, batch_size: int = 50_000, connection: Any = None) -> None:
        self._url = url
        self._engine = sa.create_engine(url)
        self._batch_size = batch_size
        self._connection = connection

    def columns(self, query: str) -> list[str]:
        try:
            with self._connect() as conn:
                return list(conn.execute(sa.text(_limit_zero(query))).keys())
        except sa.exc.DBAPIError as exc:
            raise SourceError(_db_message(exc)) from exc

    def _connect(self) -> sa.engine.Connection:
        if self._connection is None:
            return self._engine.connect()
        return open_with_reread(self._connection, self._login)

    def _login(self, connection: PostgresConnection) -> sa.engine.Connection:
        url = connection.url.get_secret_value()
        if url != self._url:  # the secret was re-read: later logins use the new URL too
            self._engine.dispose()
            self._engine = sa.create_engine(url)
            self._url = url
        try:
            return self._engine.connect()
        except sa.exc.OperationalError as exc:
            if login_refused(exc):
                raise LoginRefused(f"cannot connect to the Postgres warehouse: {_db_message(exc)}") from exc
            raise

    def batches(self, query: str, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        size = min(batch_size, self._batch_size)
        try:
            with self._connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=size).execute(sa.text(query))
                names = list(result.keys())
                for partition in result.partitions(size):
                    yield rows_to_arrow(names, partition)
        except sa.exc.DBAPIError as exc:
            raise SourceError(_db_message(exc)) from exc

    def close(self) -> None:
        self._engine.dispose()


def _db_message(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)


def open_reader(connection: Any, project_root: Path) -> Any:
    """The reader for a source connection model."""
    if isinstance(connection, DuckDBConnection):
        return DuckDBReader(connection, project_root)
    if isinstance(connection, PostgresConnection):
        return SQLAlchemyReader(
            connection.url.get_secret_value(), batch_size=connection.batch_size, connection=connection
        )
    if isinstance(connection, SQLiteConnection):
        path = connection.path if Path(connection.path).is_absolute() else str(project_root / connection.path)
        return SQLAlchemyReader(f"sqlite:///{path}")
    if getattr(connection, "type", None) == "snowflake":
        from activate.sources.snowflake import SnowflakeReader

        return SnowflakeReader(connection, project_root)
    raise SourceError(f"connection type '{getattr(connection, 'type', '?')}' cannot be used as a source")


__all__ = ["JSON_METADATA_KEY", "DuckDBReader", "SQLAlchemyReader", "arrow_batches", "open_reader"]
