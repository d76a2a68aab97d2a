"""The revert plan as data: what `activate revert RUN_ID` would restore, delete, re-create, and only list.

`activate revert` renders it (text or `--json`); `--yes` hands it to the engine as a `Plan` whose planned rows
(`RevertRows`) carry the destination values to put back (`PlannedRow.restore`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from activate.config.models import SyncMode
from activate.diff.outcome import DiffCounts, InvalidRow, PlannedRow
from activate.plan.plan import Plan

__all__ = ["LISTED_REASONS", "ListedRow", "RevertPlan", "RevertRows"]

SAMPLE_ROWS = 3

# why a row the run wrote is listed rather than reverted (the code is what `--json` gives)
LISTED_REASONS = {
    "created": "first synced by the run; only a mirror sync deletes records, so these stay (delete them by hand "
    "if they should go)",
    "changed_since": "changed since by a later run: the later value is kept",
    "unknown": "previous values unknown (synced before field-level state)",
    "not_synced": "no longer synced (deleted or forgotten since the run)",
    "resynced": "deleted by the run and synced again since by a later run",
    "unmapped": "the field is no longer mapped by the sync",
    "mode": "the sync's mode cannot make this write",
}


@dataclass(frozen=True)
class ListedRow:
    """A row the revert does not write (or writes only in part), and why."""

    row_key: str
    reason: str  # a key of LISTED_REASONS
    fields: tuple[str, ...] = ()  # the fields concerned, when only some of the row's are
    later_run_id: str | None = None  # `changed_since` / `resynced`: the run that last wrote the row

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.row_key, "reason": self.reason}
        if self.fields:
            out["fields"] = list(self.fields)
        if self.later_run_id:
            out["later_run_id"] = self.later_run_id
        return out


@dataclass
class RevertPlan:
    """What reverting one run does, row by row (`activate.revert.planner` builds it from the run's results)."""

    sync_name: str
    mode: SyncMode
    run_id: str  # the run being reverted
    run_started_at: datetime
    state_rows: int
    restore: list[PlannedRow] = field(default_factory=list)  # kind "changed": fields put back
    delete: list[PlannedRow] = field(default_factory=list)  # kind "removed": records the run created (mirror)
    recreate: list[PlannedRow] = field(default_factory=list)  # kind "added": records the run deleted (mirror)
    listed: list[ListedRow] = field(default_factory=list)
    restored_fields: Counter[str] = field(default_factory=Counter)  # field -> rows it is restored on
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    api_calls: int = 0
    partial_updates: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.restore) + len(self.delete) + len(self.recreate)

    def listed_by_reason(self) -> dict[str, int]:
        return dict(Counter(row.reason for row in self.listed))

    def as_plan(self) -> Plan:
        """The engine's view: restored rows are `changed`, deleted ones `removed`, re-created ones `added`."""
        counts = DiffCounts(
            rows_read=0,
            added=len(self.recreate),
            changed=len(self.restore),
            removed=len(self.delete),
            unchanged=0,
            invalid=0,
            held_back=0,
            config_changed=0,
            state_rows=self.state_rows,
        )
        plan = Plan(self.sync_name, self.mode, counts, full_resync=False)
        plan.api_calls = self.api_calls
        plan.partial_updates = self.partial_updates
        plan.notes = [f"revert of run {self.run_id}", *self.notes]
        return plan

    def to_dict(self) -> dict[str, Any]:
        return {
            "sync": self.sync_name,
            "mode": self.mode,
            "reverts": self.run_id,
            "run_started_at": self.run_started_at,
            "restore": {"rows": len(self.restore), "fields": dict(sorted(self.restored_fields.items()))},
            "delete": len(self.delete),
            "recreate": len(self.recreate),
            "listed": {"rows": len(self.listed), "reasons": self.listed_by_reason()},
            "listed_rows": [row.to_dict() for row in self.listed],
            "api_calls": self.api_calls,
            "partial_updates": self.partial_updates,
            "samples": self.samples,
            "notes": self.notes,
        }


class RevertRows:
    """The revert plan's rows in the shape the executor reads a diff (`activate.diff.native.PlannedDiff`)."""

    def __init__(self, plan: RevertPlan) -> None:
        self._rows = {
            "changed": sorted(plan.restore, key=lambda r: r.row_key),
            "removed": sorted(plan.delete, key=lambda r: r.row_key),
            "added": sorted(plan.recreate, key=lambda r: r.row_key),
        }

    def planned(self, kinds: Sequence[str], chunk: int = 5_000) -> Iterator[list[PlannedRow]]:
        rows = [row for kind in kinds for row in self._rows.get(kind, [])]
        for start in range(0, len(rows), chunk):
            yield rows[start : start + chunk]

    def sample(self, kind: str, limit: int) -> list[PlannedRow]:
        return self._rows.get(kind, [])[:limit]

    def invalid_rows(self, chunk: int = 5_000) -> Iterator[list[InvalidRow]]:
        return iter(())

    def close(self) -> None:
        self._rows = {}
