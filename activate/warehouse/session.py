"""`WarehouseSession`: one open connection to a warehouse, with the few operations activate runs on it.

The warehouse-native diff and the warehouse-native state both work through a session: execute SQL, fetch one row,
stream a result in chunks, bulk-load rows into a (temporary) table, run a transaction, and describe a query's
result columns without reading rows. One small subclass per dialect (`duckdb`, `postgres`, `snowflake`) translates
its driver's errors into `SourceError`. What a column's canonical text is belongs to the diff
(`activate.diff.dialects`), not here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from activate.errors import SourceError


def strip_query(query: str) -> str:
    """A query usable as a subquery (no trailing semicolon)."""
    return query.strip().rstrip(";")


class WarehouseSession:
    """A connection to a warehouse. Subclasses fill in the dialect."""

    dialect = ""
    timestamp_type = "TIMESTAMP"

    def literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def result_columns(self, query: str) -> list[tuple[str, Any]]:
        """(name, driver type) of each result column, in result order, without reading rows.

        The type is the driver's: an Arrow field for DuckDB, a type OID for Postgres, a type code for Snowflake.
        """
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        raise NotImplementedError

    def stream(self, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        """A result in chunks of rows, never all of it at once."""
        raise NotImplementedError

    def fetchall(self, sql: str) -> list[tuple[Any, ...]]:
        """A small result (a plan's samples)."""
        return [row for rows in self.stream(sql, 1_000) for row in rows]

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Load rows into a (temporary) table in bulk: one statement or one COPY, never one per row."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def table_exists(self, table: str) -> bool:
        try:
            self.fetchone(f"SELECT 1 FROM {table} WHERE 1 = 0")
        except SourceError:
            return False
        return True

    def close(self) -> None:
        raise NotImplementedError
