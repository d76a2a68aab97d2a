"""Warehouse readers: DuckDB natively (Arrow straight from the engine), Postgres and SQLite through SQLAlchemy.

Postgres uses a server-side cursor (`stream_results`), so a 10M-row query streams in `batch_size` chunks.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from activate.errors import SourceError
from activate.sources.config import DuckDBConnection, PostgresConnection, SQLiteConnection

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa


JSON_METADATA_KEY = b"activate.type"


def _limit_zero(query: str) -> str:
    return f"select * from ({query.strip().rstrip(';')}) as activate_q limit 0"


def arrow_batches(con: duckdb.DuckDBPyConnection, query: str, batch_size: int) -> Iterator[pa.RecordBatch]:
    """A DuckDB query as streamed Arrow batches (`to_arrow_reader` in DuckDB 2, `fetch_arrow_reader` in 1.x)."""
    relation = con.sql(query)
    to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
    yield from to_reader(batch_size)


class DuckDBReader:
    """Reads a DuckDB file (or memory) with the native driver: results come out as Arrow with no row loop."""

    def __init__(self, connection: DuckDBConnection, project_root: Path) -> None:
        import duckdb

        path = connection.path
        if path != ":memory:" and not Path(path).is_absolute():
            path = str(project_root / path)
        if path != ":memory:" and not Path(path).exists():
            raise SourceError(f"DuckDB warehouse file {path} does not exist (check the connection's path:)")
        try:
            self._con: duckdb.DuckDBPyConnection = duckdb.connect(path, read_only=connection.read_only)
        except duckdb.Error as exc:
            raise SourceError(f"cannot open DuckDB warehouse {path}: {exc}") from exc

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
    """Reads any SQLAlchemy database; used for Postgres (server-side cursor) and SQLite."""

    def __init__(self, url: str, *, batch_size: int = 50_000) -> None:
        self._engine = sa.create_engine(url)
        self._batch_size = batch_size

    def columns(self, query: str) -> list[str]:
        try:
            with self._engine.connect() as conn:
                return list(conn.execute(sa.text(_limit_zero(query))).keys())
        except sa.exc.DBAPIError as exc:
            raise SourceError(_db_message(exc)) from exc

    def batches(self, query: str, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        size = min(batch_size, self._batch_size)
        try:
            with self._engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=size).execute(sa.text(query))
                names = list(result.keys())
                for partition in result.partitions(size):
                    yield _to_arrow(names, partition)
        except sa.exc.DBAPIError as exc:
            raise SourceError(_db_message(exc)) from exc

    def close(self) -> None:
        self._engine.dispose()


def _db_message(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)


def _to_arrow(names: list[str], rows: Any) -> pa.RecordBatch:
    """Column-wise conversion (pyarrow does the per-value work in C); UUIDs and JSON documents become text."""
    import pyarrow as pa

    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = []
    fields = []
    for name, values in zip(names, columns, strict=True):
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, uuid.UUID):
            values = tuple(None if v is None else str(v) for v in values)
        elif isinstance(sample, (dict, list)):
            # JSON documents travel as text tagged `json`, so the hash treats them as nested JSON, not strings
            array = pa.array([None if v is None else json.dumps(v, sort_keys=True) for v in values], pa.string())
            arrays.append(array)
            fields.append(pa.field(name, pa.string(), metadata={JSON_METADATA_KEY: b"json"}))
            continue
        array = pa.array(values)
        arrays.append(array)
        fields.append(pa.field(name, array.type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def open_reader(connection: Any, project_root: Path) -> Any:
    """The reader for a source connection model."""
    if isinstance(connection, DuckDBConnection):
        return DuckDBReader(connection, project_root)
    if isinstance(connection, PostgresConnection):
        return SQLAlchemyReader(connection.url.get_secret_value(), batch_size=connection.batch_size)
    if isinstance(connection, SQLiteConnection):
        path = connection.path if Path(connection.path).is_absolute() else str(project_root / connection.path)
        return SQLAlchemyReader(f"sqlite:///{path}")
    if getattr(connection, "type", None) == "snowflake":
        from activate.sources.snowflake import SnowflakeReader  # type: ignore[import-not-found,unused-ignore]

        return SnowflakeReader(connection, project_root)
    raise SourceError(f"connection type '{getattr(connection, 'type', '?')}' cannot be used as a source")
