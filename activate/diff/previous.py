"""The confirmed field values of the rows a diff planned (`activate_state.fields`, see `activate.fieldstate`).

Only changed and removed rows need them (the fields a changed row sends, what a delete takes away), so they are
read for those rows alone after the diff: a semi join on a state file attached to the workspace, or keyed reads
of any other state store in chunks; a plan never carries every synced row's values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import duckdb

CHUNK = 5_000


class FieldValues(Protocol):
    """Where confirmed field values are read by key (a `StateReader`)."""

    def state_fields(self, sync_name: str, keys: Sequence[str]) -> dict[str, str]: ...


def stage_previous(
    con: duckdb.DuckDBPyConnection,
    table: str,
    wanted: str,
    view: str | None,
    reader: tuple[FieldValues, str] | None,
) -> None:
    """Create `table` (row_key, fields) with the values of the rows `wanted` (a query of row keys) selects: from
    `view` (row_key, fields) when the state is attached, else from `reader` = (state reader, sync name)."""
    if view is not None:
        con.execute(
            f"CREATE TABLE {table} AS SELECT f.row_key, f.fields FROM {view} f "
            f"WHERE f.fields IS NOT NULL AND f.row_key IN ({wanted})"
        )
        return
    import pyarrow as pa

    con.execute(f"CREATE TABLE {table} (row_key VARCHAR, fields VARCHAR)")
    if reader is None:
        return
    state, sync_name = reader
    cursor = con.cursor()
    try:
        cursor.execute(wanted)
        while keys := [r[0] for r in cursor.fetchmany(CHUNK)]:
            found = state.state_fields(sync_name, keys)
            if found:
                names, values = zip(*found.items(), strict=True)
                con.register("activate_previous_in", pa.table({"row_key": names, "fields": values}))
                try:
                    con.execute(f"INSERT INTO {table} SELECT * FROM activate_previous_in")
                finally:
                    con.unregister("activate_previous_in")
    finally:
        cursor.close()
