"""What a diff hands on, local (`DiffWorkspace`) or warehouse-native (`NativeDiff`): its counts, the rows it
planned, and the rows that cannot be sent."""

from __future__ import annotations

from dataclasses import dataclass

from activate.diff.classify import DUPLICATE_KEY

__all__ = ["DiffCounts", "InvalidRow", "MatchField", "PlannedRow"]


@dataclass(frozen=True)
class DiffCounts:
    """What the diff found."""

    rows_read: int
    added: int
    changed: int
    removed: int
    unchanged: int
    invalid: int
    held_back: int  # rejected earlier with the same data: not re-sent until the data changes
    config_changed: int  # rows synced under another configuration (re-checked once, field by field)
    state_rows: int
    duplicate_match: int = 0  # rows (among `invalid`) sharing their match value with a row of smaller key


@dataclass(frozen=True)
class PlannedRow:
    """A row the diff selected, with the hash and payload of the data that will be sent."""

    row_key: str
    kind: str  # added | changed | removed
    row_hash: str | None
    payload: str | None
    destination_id: str | None
    has_intent: bool
    intent_hash: str | None
    previous_hash: str | None = None  # the stored state's hash (None: no state, the write creates the record)
    previous_fields: str | None = None  # JSON of the values last confirmed in the destination (`activate.fieldstate`)
    previous_run: str | None = None  # the run that last confirmed the row: its version (`RowOp.version`)
    # `activate revert`: JSON of destination field values to put back (the row renders nothing from the source)
    restore: str | None = None


@dataclass(frozen=True)
class InvalidRow:
    """A snapshot row that cannot be sent: null key, duplicate key or match value, NaN, bytes."""

    row_key: str
    reason: str
    code: str = DUPLICATE_KEY


MatchField = tuple[str, str]  # (source column the match field reads, destination field name)
