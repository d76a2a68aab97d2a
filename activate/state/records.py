"""Typed records the read-only `StateReader` returns: one frozen dataclass per state table row.

Callers read attributes (`run.status`, `result.row_key`); `Rejection` and `Intent` are named tuples. `to_dict()`
gives the row as the table has it (the CLI's `--json` output), and `record["column"]` still works for code
written against the dict rows of earlier versions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "HoldRecord",
    "Intent",
    "LockRecord",
    "Rejection",
    "RejectionRecord",
    "RowHistoryRecord",
    "RowResultRecord",
    "RunChange",
    "RunRecord",
    "StateRow",
    "SyncedRowRecord",
    "record_from_row",
]

R = TypeVar("R")


class _Record:
    """Mapping-style access on a record dataclass (kept for callers that index rows by column name)."""

    def __getitem__(self, name: str) -> Any:
        if name not in self._columns():
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name) if name in self._columns() else default

    def keys(self) -> list[str]:
        return list(self._columns())

    @classmethod
    def _columns(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload,no-any-return]


@dataclass(frozen=True)
class StateRow(_Record):
    """A synced row as the state store remembers it."""

    row_key: str
    row_hash: str
    config_hash: str
    destination_id: str | None


class Rejection(NamedTuple):
    """A row whose last attempt was rejected, with the data and config hashes it was rejected with.

    A named tuple (not a dataclass) because the diff loads these column-wise (`zip(*rejections)`).
    """

    row_key: str
    row_hash: str
    config_hash: str


class Intent(NamedTuple):
    """A non-idempotent write that was sent but whose result was never recorded (reconciled on the next run)."""

    row_key: str
    row_hash: str
    run_id: str


@dataclass(frozen=True)
class RunRecord(_Record):
    """One row of `activate_runs`.

    `status` and `failure_kind` are the stored text of `activate.engine.outcome.RunStatus` / `FailureKind`
    (`failure_kind` is None for runs that did not fail, and for runs recorded before schema version 4).
    """

    run_id: str
    sync_name: str
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None = None
    rows_read: int = 0
    rows_added: int = 0
    rows_changed: int = 0
    rows_removed: int = 0
    rows_unchanged: int = 0
    rows_succeeded: int = 0
    rows_failed: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0
    rows_invalid: int = 0
    api_calls: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    config_hash: str | None = None
    error: str | None = None
    failure_kind: str | None = None
    approved_deletes: int | None = None  # a person let this run delete up to this many rows past max_deletes
    approved_by: str | None = None
    approval_reason: str | None = None
    target: str | None = None  # the `targets:` entry the run used
    reverted_run_id: str | None = None  # a `revert` run: the run whose changes it undid


@dataclass(frozen=True)
class RowResultRecord(_Record):
    """One row of `activate_row_results`: a `RowResult` as recorded, with its run and time."""

    run_id: str
    sync_name: str
    row_key: str
    operation: str
    status: str
    destination_id: str | None
    error_code: str | None
    error_message: str | None
    attempts: int
    recorded_at: datetime
    changed_fields: str | None = None  # JSON {field: {"old": v, "new": v}}; see `activate.fieldstate`
    previous_hash: str | None = None  # the row's state hash before the run; None: first synced by it

    def changes(self) -> dict[str, dict[str, Any]]:
        """`changed_fields` as data ({} when nothing is known field by field)."""
        from activate.fieldstate import parse_fields

        return parse_fields(self.changed_fields) if self.changed_fields else {}


@dataclass(frozen=True)
class SyncedRowRecord(_Record):
    """One row of `activate_state`: what the destination last confirmed for a row, and when."""

    sync_name: str
    row_key: str
    row_hash: str
    config_hash: str
    destination_id: str | None
    last_run_id: str
    synced_at: datetime
    fields: str | None = None  # JSON {field: value} last confirmed in the destination


@dataclass(frozen=True)
class RejectionRecord(_Record):
    """One row of `activate_rejections`: the data a row was refused with; it is held back until that changes."""

    sync_name: str
    row_key: str
    row_hash: str
    config_hash: str
    run_id: str
    error_code: str | None
    rejected_at: datetime


@dataclass(frozen=True)
class RowHistoryRecord(_Record):
    """A row's result in one run, with that run's start, trigger and status (`StateReader.row_history`)."""

    run_id: str
    operation: str
    status: str
    destination_id: str | None
    error_code: str | None
    error_message: str | None
    attempts: int
    recorded_at: datetime
    started_at: datetime
    trigger: str
    run_status: str


@dataclass(frozen=True)
class LockRecord(_Record):
    """The run holding a sync's lock, and until when its lease runs."""

    sync_name: str
    run_id: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


class RunChange(NamedTuple):
    """A row a run wrote and the destination confirmed, with what it changed and the row's state now
    (`StateReader.run_changes`, what `activate revert` plans from). The state columns are None when the row is no
    longer synced."""

    row_key: str
    operation: str
    changed_fields: str | None  # JSON {field: {"old": v, "new": v}}
    previous_hash: str | None  # the row's hash before the run; None: first synced by it
    row_hash: str | None  # the state now
    destination_id: str | None
    fields: str | None
    last_run_id: str | None

    def changes(self) -> dict[str, dict[str, Any]]:
        from activate.fieldstate import parse_fields

        return parse_fields(self.changed_fields) if self.changed_fields else {}


@dataclass(frozen=True)
class HoldRecord(_Record):
    """One row of `activate_holds`: a sync paused by `activate revert RUN --hold` until `activate resume SYNC`."""

    sync_name: str
    held_at: datetime
    held_by: str
    run_id: str  # the revert run that placed the hold
    reverted_run_id: str

    def describe(self) -> str:
        """One line: why the sync does not run, and how to release it."""
        from activate.program import command

        held_at = self.held_at if self.held_at.tzinfo is not None else self.held_at.replace(tzinfo=UTC)
        return (
            f"sync '{self.sync_name}' is held since the revert of run {self.reverted_run_id} at "
            f"{held_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC by {self.held_by}; release it with: "
            f"{command('resume ' + self.sync_name)}"
        )


def record_from_row(cls: type[R], mapping: Any) -> R:
    """A record from a result row's mapping; columns the record does not know (added by a newer schema) are left
    out, so a reader keeps working against a state store migrated by a newer activate."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in mapping.items() if k in names})
