"""The one seam every warehouse reader sits behind: a query in, Arrow record batches out.

Arrow is the interchange because the snapshot is hashed in bulk by DuckDB straight from Arrow memory: no Python
work per row between the warehouse and the diff.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa


class SourceReader(Protocol):
    """Reads a sync's query from a warehouse."""

    def columns(self, query: str) -> list[str]:
        """The query's result columns, without reading its rows (used to check mappings before any write)."""
        ...

    def batches(self, query: str, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The query's rows as Arrow record batches, streamed: never all rows in memory."""
        ...

    def close(self) -> None: ...
