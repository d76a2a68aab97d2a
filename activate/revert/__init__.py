"""`activate revert RUN_ID`: undo what one run changed in the destination, as a plan first and then as a run.

- `preview_revert`: the revert plan (`RevertPlan`), read through a StateReader: nothing is written;
- `execute_revert`: the same plan, rebuilt under the sync's lock, executed as a normal run of the sync (lease,
  rate limits, retries, audit) with trigger `revert`; the run's row in `activate_runs` names the run it undid
  (`reverted_run_id`), and its row results record each field put back (old -> new), so a revert can be reverted;
- `--hold` (`hold_by`): the sync is held from the revert on, so no run re-applies what the revert undid until
  `resume_sync` (`activate resume SYNC`) releases it.

A run can be reverted when it finished, its sync is still in the project, and its row results are still kept
(`state.row_results_retention_days`); a run recorded before field-level state has no previous values to restore.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from activate.errors import UsageError
from activate.program import command
from activate.revert.plan import LISTED_REASONS, ListedRow, RevertPlan
from activate.revert.planner import RevertPlanner, plan_revert

if TYPE_CHECKING:
    from activate.config import LoadedSync, Project
    from activate.engine.outcome import RunSummary
    from activate.engine.run import RunObserver
    from activate.state.reader import StateReader
    from activate.state.records import RunRecord
    from activate.state.store import StateStore

__all__ = [
    "LISTED_REASONS",
    "ListedRow",
    "RevertPlan",
    "RevertPlanner",
    "execute_revert",
    "plan_revert",
    "preview_revert",
    "resume_sync",
    "revertible_run",
]

FIELD_STATE_VERSION = 5  # the schema version from which row results record previous field values


def revertible_run(project: Project, reader: StateReader, run_id: str) -> tuple[RunRecord, LoadedSync]:
    """The run `run_id` names (in full or by a unique prefix) and its sync; a one-line `UsageError` with the fix
    when it cannot be reverted (unknown, still running, sync gone, state in the warehouse, pruned, too old)."""
    run = reader.run(run_id)
    if run is None:
        raise UsageError(f"no run '{run_id}' in the state store; list runs with: {command('runs')}")
    if run.status == "running":
        raise UsageError(
            f"run {run.run_id} of '{run.sync_name}' is still running (started {_utc(run.started_at)}); "
            "revert it once it has finished"
        )
    if run.sync_name not in project.syncs:
        raise UsageError(
            f"run {run.run_id} belongs to sync '{run.sync_name}', which is not in this project; "
            "restore its sync file to revert it"
        )
    sync = project.sync(run.sync_name)
    if sync.spec.state == "warehouse":
        raise UsageError(
            f"sync '{sync.name}' keeps its per-row state in the warehouse (state: warehouse); revert reads the "
            "state store's per-row state and does not support it yet"
        )
    _check_history(project, reader, run)
    return run, sync


def _check_history(project: Project, reader: StateReader, run: RunRecord) -> None:
    """The run's row results must still be there, and recorded with field-level state."""
    since = reader.schema_applied_at(FIELD_STATE_VERSION)
    if since is not None and _aware(run.started_at) < _aware(since):
        raise UsageError(
            f"run {run.run_id} ran before field-level state was recorded (state store upgraded "
            f"{_utc(since)}): its previous values are unknown, so it cannot be reverted; fix the source and run the "
            "sync again instead"
        )
    recorded = reader.row_result_count(run.run_id, ["succeeded"], links=False)
    if recorded < run.rows_succeeded:
        days = project.spec.state.row_results_retention_days
        kept = f"the state store keeps {days} days of row results" if days else "they were deleted"
        raise UsageError(
            f"run {run.run_id} (started {_utc(run.started_at)}) is older than the kept history: its row results "
            f"were pruned ({kept}); it cannot be reverted. Raise state.row_results_retention_days in activate.yml "
            "to keep more"
        )


def preview_revert(project: Project, run_id: str) -> RevertPlan:
    """The revert plan of `run_id`, from a read-only StateReader: a dry run writes nothing."""
    from activate.secrets.connections import new_session
    from activate.secrets.session import secret_scope
    from activate.state.reader import StateReader

    reader = StateReader(project.spec.state.url, project_root=project.root)
    try:
        run, sync = revertible_run(project, reader, run_id)
        with secret_scope(new_session(project)):
            return plan_revert(project, sync, reader, run)
    finally:
        reader.dispose()


def execute_revert(
    project: Project,
    run_id: str,
    *,
    hold_by: str | None = None,
    on_plan: Callable[[RevertPlan], None] | None = None,
    observer: RunObserver | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Revert `run_id` as a run of its sync (trigger `revert`); `hold_by`: hold the sync afterwards (`--hold`).
    `on_plan` sees the revert plan, built under the sync's lock, before anything is written."""
    from activate.engine.run import REVERT_TRIGGER, RunOptions, run_sync
    from activate.state.reader import StateReader

    reader = StateReader(project.spec.state.url, project_root=project.root)
    try:
        run, sync = revertible_run(project, reader, run_id)
    finally:
        reader.dispose()

    def planner(store: StateStore, _run_id: str) -> RevertPlanner:
        return RevertPlanner(project, sync, store, run, on_plan)

    options = RunOptions(trigger=REVERT_TRIGGER, reverted_run_id=run.run_id, hold_by=hold_by)
    return run_sync(project, sync.name, options, observer=observer, stop=stop, plan_source=planner)


def resume_sync(project: Project, sync_name: str) -> bool:
    """Release a sync held by `revert --hold`; False when it was not held."""
    from activate.state.open import open_state_store

    sync = project.sync(sync_name)
    store = open_state_store(project, sync)
    try:
        return store.release_hold(sync.name)
    finally:
        store.dispose()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _utc(value: datetime) -> str:
    return f"{_aware(value).astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
