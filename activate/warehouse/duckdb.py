"""DuckDB access: opening a warehouse file (shared by the source reader) and the `DuckDBSession`."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from activate.clock import SYSTEM_CLOCK, Clock
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


T = TypeVar("T")
_LOCK_HELD = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")
_OTHER_CONFIGURATION = "different configuration"


def connect_duckdb(
    connection: DuckDBConnection, project_root: Path, *, read_only: bool | None = None, clock: Clock = SYSTEM_CLOCK
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file; a failure is a one-line `SourceError`.

    `read_only` (default: the connection's setting) is what a source asks for: any number of processes may read a
    file at once. Within one process DuckDB shares one instance per file and refuses a second configuration, so a
    read-only open of a file this process already has open for writing uses that instance instead.
    """
    import duckdb

    path = duckdb_path(connection, project_root)
    wanted = [connection.read_only if read_only is None else read_only]

    def connect() -> duckdb.DuckDBPyConnection:
        try:
            con = duckdb.connect(path, read_only=wanted[0])
        except duckdb.Error as exc:
            if not (wanted[0] and _OTHER_CONFIGURATION in str(exc)):
                raise
            wanted[0] = False
            con = duckdb.connect(path, read_only=False)
        # a SET, not connect(config=): another connection of this process to the same file keeps working
        con.execute(f"SET memory_limit = '{duckdb_memory_limit()}'")
        # a long query would draw DuckDB's progress bar on stdout, inside `plan --json` output
        con.execute("SET enable_progress_bar = false")
        return con

    return wait_for_lock(path, connect, connection.lock_timeout, clock)


def wait_for_lock(path: str, open_file: Callable[[], T], timeout: float, clock: Clock = SYSTEM_CLOCK) -> T:
    """`open_file()`, retried with backoff for up to `timeout` seconds while another process holds a conflicting
    lock on the DuckDB file `path` (a writer such as `dbt build` holds it exclusively), then a one-line
    `SourceError` naming the file and the holder's pid. Any other failure is a `SourceError` at once."""
    import duckdb

    deadline = clock.monotonic() + timeout
    pause = 0.05
    while True:
        try:
            return open_file()
        except duckdb.Error as exc:
            held = _LOCK_HELD.search(str(exc))
            if held is None:
                raise SourceError(f"cannot open DuckDB warehouse {path}: {str(exc).strip()}") from exc
            if clock.monotonic() >= deadline:
                raise SourceError(
                    f"DuckDB warehouse {path} is locked by another process (PID {held.group(2)}, "
                    f"{held.group(1)}); waited {timeout:g} s (the connection's lock_timeout): run syncs after the "
                    "process writing it, or raise lock_timeout"
                ) from None
        clock.sleep(min(pause, max(0.0, deadline - clock.monotonic())))
        pause = min(pause * 2, 1.0)


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
