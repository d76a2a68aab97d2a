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
    """Where confirmed field values are read by key (a `StateReader`): row key -> (fields JSON, last run id)."""

    def state_fields(self, sync_name: str, keys: Sequence[str]) -> dict[str, tuple[str | None, str]]: ...


def stage_previous(
    con: duckdb.DuckDBPyConnection,
    table: str,
    wanted: str,
    view: str | None,
    reader: tuple[FieldValues, str] | None,
) -> None:
    """Create `table` (row_key, fields, last_run_id) for the rows `wanted` (a query of row keys) selects: from
    `view` (the same columns) when the state is attached, else from `reader` = (state reader, sync name).
    `last_run_id` (the run that last confirmed the row) is the row's version (`RowOp.version`)."""
    if view is not None:
        con.execute(
            f"CREATE TABLE {table} AS SELECT f.row_key, f.fields, f.last_run_id FROM {view} f "
            f"WHERE f.row_key IN ({wanted})"
        )
        return
    import pyarrow as pa

    con.execute(f"CREATE TABLE {table} (row_key VARCHAR, fields VARCHAR, last_run_id VARCHAR)")
    if reader is None:
        return
    state, sync_name = reader
    cursor = con.cursor()
    try:
        cursor.execute(wanted)
        while keys := [r[0] for r in cursor.fetchmany(CHUNK)]:
            found = state.state_fields(sync_name, keys)
            if found:
                names = list(found)
                data = {
                    "row_key": names,
                    "fields": pa.array([found[k][0] for k in names], pa.string()),
                    "last_run_id": [found[k][1] for k in names],
                }
                con.register("activate_previous_in", pa.table(data))
                try:
                    con.execute(f"INSERT INTO {table} SELECT * FROM activate_previous_in")
                finally:
                    con.unregister("activate_previous_in")
    finally:
        cursor.close()
