"""`plan --key K`: what a run would do with chosen rows, found among the rows the diff planned.

The diff already knows every row it will write; a chosen key is looked up by one pass over those planned rows
(never the whole snapshot), so `--key` costs what the run's own write phase reads. A key the diff did not plan is
unchanged (it has state), held back (its rejection stands), cannot be sent (invalid), or is not in the source;
that is read from the row's stored state and the diff's invalid rows, a handful of lookups.

Keys are the canonical text `activate explain` and the state tables show: a one-column key as its text, a
composite key as the JSON array of its values (`[1,"eu"]`; spacing in what the user typed does not matter).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from activate.explain import composite_key_values

if TYPE_CHECKING:
    from activate.diff.native import PlannedDiff
    from activate.diff.outcome import PlannedRow
    from activate.state.records import RejectionRecord, SyncedRowRecord

__all__ = ["RowStateLookup", "canonical_keys", "find_planned", "invalid_keys", "unplanned_row"]


class RowStateLookup(Protocol):
    """One row's stored state and rejection (the project's `StateReader`, or the warehouse for `state: warehouse`)."""

    def synced_row(self, sync_name: str, row_key: str) -> SyncedRowRecord | None: ...

    def rejection(self, sync_name: str, row_key: str) -> RejectionRecord | None: ...


def canonical_keys(keys: Sequence[str], key_columns: Sequence[str], sync_name: str) -> list[str]:
    """The keys as the state tables spell them, in the order given, each once; a composite key that is not a
    JSON array of one value per key column is a usage error showing the expected shape."""
    found: list[str] = []
    for key in keys:
        text = key if len(key_columns) == 1 else _composite(key, key_columns, sync_name)
        if text not in found:
            found.append(text)
    return found


def _composite(key: str, key_columns: Sequence[str], sync_name: str) -> str:
    values = composite_key_values(key, key_columns, sync_name, label=f"--key {key!r}: ")
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def find_planned(workspace: PlannedDiff, keys: Sequence[str]) -> dict[str, PlannedRow]:
    """The planned rows (added, changed or removed) carrying one of `keys`: one pass over the planned rows, which
    stops as soon as every key is found."""
    wanted = set(keys)
    found: dict[str, PlannedRow] = {}
    chunks = workspace.planned(["added", "changed", "removed"])
    try:
        for chunk in chunks:
            found.update((row.row_key, row) for row in chunk if row.row_key in wanted)
            if len(found) == len(wanted):
                break
    finally:
        # closed now when left early: a warehouse session runs nothing else while it streams
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return found


def invalid_keys(workspace: PlannedDiff, keys: Sequence[str]) -> dict[str, str]:
    """Of `keys`, those of rows that cannot be sent, with the reason."""
    wanted = set(keys)
    return {r.row_key: r.reason for chunk in workspace.invalid_rows() for r in chunk if r.row_key in wanted}


def unplanned_row(key: str, sync_name: str, state: RowStateLookup, invalid: dict[str, str]) -> dict[str, Any]:
    """What a run does with a key the diff did not plan, and why: nothing in every case."""
    if key in invalid:
        return {"key": key, "kind": "invalid", "note": f"cannot be sent: {invalid[key]} (rejected as INVALID_ROW)"}
    synced = state.synced_row(sync_name, key)
    rejection = state.rejection(sync_name, key)
    if rejection is not None:
        code = f" {rejection.error_code}" if rejection.error_code else ""
        return {
            "key": key,
            "kind": "held_back",
            "note": f"held back: rejected{code} in run {rejection.run_id} with this same data (--retry-rejected "
            "sends it)",
        }
    if synced is not None:
        return {"key": key, "kind": "unchanged", "note": f"unchanged since run {synced.last_run_id}: nothing to send"}
    return {"key": key, "kind": "not_in_source", "note": "not in the source and never synced: nothing to send"}
