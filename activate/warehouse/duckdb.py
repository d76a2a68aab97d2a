"""DuckDB access: opening a warehouse file (shared by the source reader) and the `DuckDBSession`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activate.errors import SourceError
from activate.warehouse.session import WarehouseSession, strip_query

if TYPE_CHECKING:
    import duckdb

    from activate.sources.config import DuckDBConnection


MEMORY_LIMIT_ENV = "ACTIVATE_DIFF_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "512MB"


def duckdb_memory_limit() -> str:
    """The memory limit of every DuckDB database activate opens (diff workspace, warehouse reader, native diff):
    `ACTIVATE_DIFF_MEMORY_LIMIT` or 512 MB. Past it DuckDB spills to disk, so a plan stays within about 1 GB."""
    return os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT


def duckdb_path(connection: DuckDBConnection, project_root: Path) -> str:
    """The connection's database path (relative paths are relative to the project directory)."""
    path = connection.path
    if path != ":memory:" and not Path(path).is_absolute():
        path = str(project_root / path)
    return path


def connect_duckdb(connection: DuckDBConnection, project_root: Path) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (read-only when the connection says so); a failure is a one-line `SourceError`."""
    import duckdb

    path = duckdb_path(connection, project_root)
    try:
        con = duckdb.connect(path, read_only=connection.read_only)
        # a SET, not connect(config=): another connection of this process to the same file keeps working
        con.execute(f"SET memory_limit = '{duckdb_memory_limit()}'")
    except duckdb.Error as exc:
        raise SourceError(f"cannot open DuckDB warehouse {path}: {exc}") from exc
    return con


class DuckDBSession(WarehouseSession):
    """A DuckDB warehouse file, through the native driver."""

    dialect = "duckdb"
    timestamp_type = "TIMESTAMPTZ"

    def __init__(self, connection: DuckDBConnection, project_root: Path) -> None:
        self.read_only = connection.read_only
        self.con = connect_duckdb(connection, project_root)
        self.con.execute("SET TimeZone = 'UTC'")
        # DuckDB runs in this process: the temporary snapshot (key, hash, texts of every row, about 280 bytes a
        # row) spills past the memory limit `connect_duckdb` sets, to `<file>.tmp` (2.8 GB in memory at 10M rows
        # without it)

    def _run(self, sql: str) -> Any:
        import duckdb

        try:
            return self.con.execute(sql)
        except duckdb.Error as exc:
            raise SourceError(str(exc).strip()) from exc

    def arrow_schema(self, query: str) -> Any:
        """The query's result schema as Arrow (what the local diff's canonical rules read)."""
        import duckdb

        try:
            return self.con.sql(f"SELECT * FROM ({strip_query(query)}) activate_q LIMIT 0").to_arrow_table().schema
        except duckdb.Error as exc:
            raise SourceError(str(exc).strip()) from exc

    def result_columns(self, query: str) -> list[tuple[str, Any]]:
        return [(field.name, field) for field in self.arrow_schema(query)]

    def execute(self, sql: str) -> None:
        self._run(sql)

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        row = self._run(sql).fetchone()
        return tuple(row) if row is not None else ()

    def stream(self, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        # on this connection, not a cursor: a DuckDB cursor is another connection and cannot see temporary tables
        result = self._run(sql)
        while rows := result.fetchmany(chunk):
            yield rows

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        import pyarrow as pa

        data = pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)})
        self.con.register("activate_rows", data)
        try:
            self._run(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM activate_rows")
        finally:
            self.con.unregister("activate_rows")

    def close(self) -> None:
        self.con.close()
