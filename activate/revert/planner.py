"""Plan the revert of one run from what it recorded (`activate_row_results.changed_fields`, `previous_hash`) and
what is confirmed now (`activate_state`), read through a StateReader (a dry run writes nothing by construction).

For each row the run wrote and the destination confirmed (its last succeeded result in the run):
- a changed row: each changed field whose confirmed value is still what the run wrote is put back to its "old"
  value; a field a later run changed is kept and listed; the row's hash goes back to the one it had before the
  run, so the next normal run re-applies what the source still says (and sends nothing where the field-level
  values already match);
- a record first synced by the run (no state before it): deleted in a mirror sync, listed in any other mode
  (never deleted); kept and listed when a later run wrote it since;
- a record the run deleted (mirror): re-created with its confirmed values from before the run, unless it was
  synced again since;
- a row whose changes carry no "old" (its state predates field-level state) is listed: previous values unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from activate.destinations.registry import destination_plugin
from activate.diff.outcome import PlannedRow
from activate.fieldstate import encode_fields, parse_fields, same_value
from activate.plan.mapping import RowMapping
from activate.plan.plan import MODE_OPERATIONS, expected_api_calls
from activate.revert.plan import SAMPLE_ROWS, ListedRow, RevertPlan, RevertRows
from activate.rows import Operation

if TYPE_CHECKING:
    from activate.config import LoadedSync, Project
    from activate.plan.plan import Plan
    from activate.state.reader import StateReader
    from activate.state.records import RunChange, RunRecord

__all__ = ["RevertPlanner", "plan_revert"]


def plan_revert(project: Project, sync: LoadedSync, reader: StateReader, run: RunRecord) -> RevertPlan:
    """The revert of `run` (a finished run of `sync`, checked by `activate.revert.revertible_run`)."""
    destination = sync.spec.destination
    plan = RevertPlan(sync.name, destination.mode, run.run_id, run.started_at, reader.state_count(sync.name))
    planner = _RowPlanner(plan, run.run_id, {f.field for f in RowMapping(destination).fields})
    for change in reader.run_changes(run.run_id, sync.name):
        planner.add(change)
    plan.partial_updates, note = _partial_updates(project, sync)
    if note:
        plan.notes.append(note)
    plan.api_calls = expected_api_calls(plan.as_plan(), _batch_size(project, sync))
    return plan


class _RowPlanner:
    """Sorts each confirmed result of the reverted run into the plan's restores, deletes, re-creates or list."""

    def __init__(self, plan: RevertPlan, run_id: str, mapped: set[str]) -> None:
        self.plan = plan
        self.run_id = run_id
        self.mapped = mapped
        self.ops = MODE_OPERATIONS[plan.mode]

    def add(self, change: RunChange) -> None:
        """`change.row_hash` is None when the row has no state now (deleted or forgotten since)."""
        if change.operation == Operation.DELETE.value:
            self._recreate(change)
        elif change.previous_hash is None:
            self._created(change)
        else:
            self._restore(change)

    def _list(self, key: str, reason: str, fields: tuple[str, ...] = (), later: str | None = None) -> None:
        self.plan.listed.append(ListedRow(key, reason, fields, later))

    def _sample(self, kind: str, item: dict[str, Any]) -> None:
        items = self.plan.samples.setdefault(kind, [])
        if len(items) < SAMPLE_ROWS:
            items.append(item)

    def _restore(self, result: RunChange) -> None:
        key, changes = result.row_key, result.changes()
        if not changes:
            return  # sent, but no field's confirmed value changed (a full resync of an up-to-date row)
        if result.row_hash is None:
            self._list(key, "not_synced", tuple(changes))
            return
        if any("old" not in change for change in changes.values()) or not result.fields:
            self._list(key, "unknown", tuple(changes))
            return
        if self.ops["changed"] is None:
            self._list(key, "mode", tuple(changes))
            return
        current = parse_fields(result.fields)
        restore: dict[str, Any] = {}
        since: list[str] = []
        unmapped: list[str] = []
        for name, change in changes.items():
            if name not in self.mapped:
                unmapped.append(name)
            elif name not in current or not same_value(current[name], change.get("new")):
                since.append(name)
            else:
                restore[name] = change["old"]
        if since:
            self._list(key, "changed_since", tuple(since), result.last_run_id)
        if unmapped:
            self._list(key, "unmapped", tuple(unmapped))
        if not restore:
            return
        self.plan.restore.append(
            PlannedRow(
                key,
                "changed",
                result.previous_hash,  # the hash before the run: the next run re-applies what the source says
                None,
                result.destination_id,
                False,
                None,
                previous_hash=result.row_hash,
                previous_fields=result.fields,
                previous_run=result.last_run_id,
                restore=encode_fields(restore),
            )
        )
        self.plan.restored_fields.update(list(restore))
        operation = self.ops["changed"]
        assert operation is not None
        changed = {name: {"old": current.get(name), "new": value} for name, value in restore.items()}
        self._sample("restore", {"key": key, "operation": operation.value, "changes": changed})

    def _created(self, result: RunChange) -> None:
        key = result.row_key
        if result.row_hash is None:
            self._list(key, "not_synced")
        elif result.last_run_id != self.run_id:
            self._list(key, "changed_since", (), result.last_run_id)
        elif self.ops["removed"] is Operation.DELETE:
            self.plan.delete.append(
                PlannedRow(
                    key,
                    "removed",
                    None,
                    None,
                    result.destination_id,
                    False,
                    None,
                    previous_hash=result.row_hash,
                    previous_fields=result.fields,
                    previous_run=result.last_run_id,
                )
            )
            self._sample("delete", {"key": key, "operation": "delete", "destination_id": result.destination_id})
        else:
            self._list(key, "created")

    def _recreate(self, result: RunChange) -> None:
        key, changes = result.row_key, result.changes()
        operation = self.ops["added"]
        if result.row_hash is not None:
            self._list(key, "resynced", (), result.last_run_id)
        elif not changes or any("old" not in change for change in changes.values()):
            self._list(key, "unknown")
        elif operation not in (Operation.UPSERT, Operation.INSERT):
            self._list(key, "mode")
        else:
            values = {name: change["old"] for name, change in changes.items() if name in self.mapped}
            self.plan.recreate.append(
                # version: the deleting run, so the re-create is never taken for a replay of the original create
                PlannedRow(
                    key,
                    "added",
                    result.previous_hash,
                    None,
                    None,
                    False,
                    None,
                    previous_run=self.run_id,
                    restore=encode_fields(values),
                )
            )
            assert operation is not None
            self._sample("recreate", {"key": key, "operation": operation.value, "fields": values})


def _partial_updates(project: Project, sync: LoadedSync) -> tuple[bool, str | None]:
    """`update: changed_fields`: whether restored rows may carry only the restored fields (plus the match field)."""
    destination = sync.spec.destination
    if destination.update != "changed_fields":
        return False, None
    plugin = destination_plugin(project.connection(destination.connection).type)
    reason = plugin.partial_updates(destination) if plugin is not None else "unknown destination type"
    if reason is None:
        return True, "update: changed_fields: restored rows send only the restored fields"
    return False, f"update: changed_fields: the full row is sent: {reason}"


def _batch_size(project: Project, sync: LoadedSync) -> int:
    """Rows per write call, as `PlanBuilder` counts them (the sync's, capped by the connection's or destination's)."""
    destination = sync.spec.destination
    connection = project.connection(destination.connection)
    plugin = destination_plugin(connection.type)
    cap = getattr(connection, "batch_size", None) or (plugin.capabilities().batch_size if plugin else 1)
    return int(min(destination.batch_size or cap, cap))


class RevertPlanner:
    """The engine's `PlanSource` for a revert run: the revert plan, built under the sync's lock from the state the
    run finds, and its rows for the executor. `on_plan` sees the revert plan before anything is written."""

    def __init__(
        self,
        project: Project,
        sync: LoadedSync,
        reader: StateReader,
        run: RunRecord,
        on_plan: Callable[[RevertPlan], None] | None = None,
    ) -> None:
        self.project = project
        self.sync = sync
        self.reader = reader
        self.run = run
        self.on_plan = on_plan
        self.revert: RevertPlan | None = None
        self._rows: RevertRows | None = None

    @property
    def workspace(self) -> RevertRows | None:
        return self._rows

    def build(self) -> Plan:
        self.revert = plan_revert(self.project, self.sync, self.reader, self.run)
        self._rows = RevertRows(self.revert)
        if self.on_plan is not None:
            self.on_plan(self.revert)
        return self.revert.as_plan()

    def close(self) -> None:
        if self._rows is not None:
            self._rows.close()
            self._rows = None
