"""One run of one sync: lock -> plan -> guardrails -> execute -> record -> finish (DESIGN §3).

The engine is the only layer that ties config, source, diff, plan, destination and state together; this module
drives one run through its parts: the `Lease` (lock and heartbeat), a `PlanSource` (the `PlanBuilder`, which builds
the same Plan `activate plan` renders, or `activate revert`'s planner, which plans from a run's recorded changes),
the `Executor` (batches, concurrency) and its `Recorder` (results into state), and the outcome (`RunSummary` with a
typed `RunStatus` and `FailureKind`, recorded in `activate_runs`).

Invariants:
- state advances only for rows the destination confirmed, in the same transaction as their row results;
- a tripped guardrail, an invalid mapping or a failed query ends the run before any write;
- a sync held by `revert --hold` does not run (checked holding its lock, so a revert and a run never cross);
- a graceful stop (`stop` set: SIGTERM, Ctrl-C, the scheduler shutting down) lets the batches in flight finish
  and records them; the run ends `aborted` with kind `interrupted` and unsent rows stay pending.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from activate import tracing
from activate.clock import SYSTEM_CLOCK, Clock
from activate.destinations.base import Destination, WriteContext
from activate.destinations.registry import destination_plugin
from activate.engine.executor import Executor
from activate.engine.lease import Lease
from activate.engine.outcome import FailureKind, RunStatus, RunSummary, failure_kind_of
from activate.engine.recorder import Recorder
from activate.errors import ActivateError, ConfigError, GuardrailError, SyncHeldError, UsageError
from activate.http.stats import RunStats
from activate.logs import log_event, remember_secrets
from activate.plan.builder import PlanBuilder, PlanOptions
from activate.plan.plan import Plan
from activate.secrets.connections import new_session
from activate.secrets.session import secret_scope
from activate.state.open import open_state_store

if TYPE_CHECKING:
    from activate.config import LoadedSync, Project
    from activate.diff.native import PlannedDiff
    from activate.state.store import StateStore

REVERT_TRIGGER = "revert"


@dataclass(frozen=True)
class RunOptions:
    """How `activate run` was asked to run."""

    full_resync: bool = False
    retry_rejected: bool = False
    wait: bool = False
    wait_timeout: float = 3600.0
    trigger: str = "manual"
    approve_deletes: int | None = None  # a person let this one run delete up to N rows past max_deletes
    approved_by: str | None = None  # who (the OS user of `activate run`)
    approval_reason: str | None = None  # why (`--reason`)
    reverted_run_id: str | None = None  # `activate revert`: the run being undone (recorded on this run's row)
    hold_by: str | None = None  # `revert --hold`: hold the sync afterwards, placed by this person


class PlanSource(Protocol):
    """Where a run's Plan and its planned rows come from: the `PlanBuilder` (snapshot and diff) for a normal run,
    `activate.revert.RevertPlanner` (a run's recorded changes) for a revert. `workspace` is set by `build`."""

    @property
    def workspace(self) -> PlannedDiff | None: ...

    def build(self) -> Plan: ...

    def close(self) -> None: ...


PlanSourceFactory = Callable[["StateStore", str], PlanSource]  # (the run's store, its run id) -> its plan source


class RunObserver(Protocol):
    """What the CLI shows while a run goes (the engine never prints)."""

    def on_plan(self, plan: Plan) -> None: ...

    def on_progress(self, done: int, total: int) -> None: ...


class _NoObserver:
    def on_plan(self, plan: Plan) -> None:
        return None

    def on_progress(self, done: int, total: int) -> None:
        return None


def new_run_id(clock: Clock) -> str:
    """Sortable and unique: `20260101T101500-3f2a9c1b`."""
    return f"{clock.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def run_sync(
    project: Project,
    sync_name: str,
    options: RunOptions = RunOptions(),
    *,
    clock: Clock = SYSTEM_CLOCK,
    observer: RunObserver | None = None,
    stop: threading.Event | None = None,
    plan_source: PlanSourceFactory | None = None,
) -> RunSummary:
    """Run one sync once and return its summary (also recorded in `activate_runs`).

    Raises ConfigError/UsageError for invalid config (exit 2), LockHeldError when the sync is running elsewhere and
    SyncHeldError when `revert --hold` holds it. Every other failure is recorded on the run and returned as status
    `failed`. `stop`, when set, ends the run after the batches in flight (a graceful shutdown): status `aborted`,
    rows not sent stay pending. `plan_source`: where the plan comes from (default: snapshot and diff).
    """
    from activate.plan.state_location import remember_state

    sync = project.sync(sync_name)
    # One secret session per run: each provider secret is fetched once, when the first connection needing it opens.
    with secret_scope(new_session(project)):
        store = open_state_store(project, sync)
        try:
            run = _Run(
                project, sync, store, options, clock, observer or _NoObserver(), stop or threading.Event(), plan_source
            )
            summary = run.execute()
            if summary.status is not RunStatus.FAILED:
                remember_state(project, sync, store.state_count(sync.name))
            return summary
        finally:
            store.dispose()


def check_destination(project: Project, sync_name: str, *, clock: Clock = SYSTEM_CLOCK) -> list[str]:
    """Log in to a sync's destination and check its object and mapped fields; one message per problem."""
    sync = project.sync(sync_name)
    name = sync.spec.destination.connection
    try:
        connection = project.connection(name)
    except ActivateError as exc:  # a provider secret that cannot be read is this connection's problem
        return [project.secrets.mask(str(exc))]
    plugin = destination_plugin(connection.type)
    if plugin is None:
        return [f"connection '{name}' has type '{connection.type}', which no destination provides"]
    context = WriteContext(sync.spec.name, "check", sync.spec.destination, RunStats(), clock)
    destination = plugin.create(connection, context)
    fields = list(sync.spec.destination.mapping)
    try:
        return [project.secrets.mask(problem) for problem in destination.check(fields)]
    except ActivateError as exc:
        return [project.secrets.mask(str(exc))]
    finally:
        destination.close()


class _Run:
    """One run's lifecycle; the parts that do the work are the lease, the executor and the recorder."""

    def __init__(
        self,
        project: Project,
        sync: LoadedSync,
        store: StateStore,
        options: RunOptions,
        clock: Clock,
        observer: RunObserver,
        stop: threading.Event,
        plan_source: PlanSourceFactory | None = None,  # None: the PlanBuilder's snapshot and diff
    ) -> None:
        self.project = project
        self.sync = sync
        self.spec = sync.spec
        self.store = store
        self.options = options
        self.clock = clock
        self.observer = observer
        self.stop = stop
        self.run_id = new_run_id(clock)
        self.summary = RunSummary(self.run_id, self.spec.name)
        self.stats = RunStats()
        self.lease = Lease(store, self.spec.name, self.run_id, clock)
        self.recorder = Recorder(store, self.summary, sync.config_hash, clock)
        self.executor = Executor(
            sync,
            store,
            self.run_id,
            self.recorder,
            self.stats,
            mask=project.secrets.mask,
            stop=stop,
            lock_lost=self.lease.lost,
            on_progress=observer.on_progress,
        )
        self.plan_source = plan_source

    def execute(self) -> RunSummary:
        self.lease.acquire(wait=self.options.wait, wait_timeout=self.options.wait_timeout)
        try:
            self._check_hold()
            self.store.start_run(
                self.run_id, self.spec.name, self.options.trigger, self.clock.now(), self.sync.config_hash
            )
            self._record_context()
            self._hold()
            remember_secrets(self.project.secrets)
            log_event("run.started", f"run started ({self.options.trigger})", run_id=self.run_id, sync=self.spec.name)
            self.lease.start_heartbeat()
            try:
                with tracing.span(
                    "activate.run", sync=self.spec.name, run_id=self.run_id, trigger=self.options.trigger
                ) as run_span:
                    self._execute()
                    s = self.summary
                    tracing.set_attributes(
                        run_span,
                        status=s.status.value,
                        rows_succeeded=s.rows_succeeded,
                        rows_failed=s.rows_failed,
                        rows_rejected=s.rows_rejected,
                        api_calls=self.stats.api_calls,
                    )
            except (ConfigError, UsageError) as exc:
                self._finish(RunStatus.FAILED, FailureKind.CONFIG, str(exc))
                raise
            except KeyboardInterrupt:
                self._finish(RunStatus.ABORTED, FailureKind.INTERRUPTED, "interrupted")
                raise
            except ActivateError as exc:
                self._finish(RunStatus.FAILED, failure_kind_of(exc), self.project.secrets.mask(str(exc)))
            except Exception as exc:  # a bug or an unexpected driver error: recorded, never lost
                message = self.project.secrets.mask(f"{type(exc).__name__}: {exc}")
                self._finish(RunStatus.FAILED, FailureKind.INTERNAL, message)
            return self.summary
        finally:
            self.recorder.close()
            self.lease.release()
            self._prune()

    def _check_hold(self) -> None:
        """A held sync does not run (only a revert may: it is how a held sync is repaired)."""
        if self.options.trigger == REVERT_TRIGGER:
            return
        hold = self.store.hold(self.spec.name)
        if hold is not None:
            raise SyncHeldError(hold.describe())

    def _hold(self) -> None:
        """`revert --hold`: placed as the revert starts, under its lock, so no run slips in between the revert
        and the hold to re-apply what it undoes."""
        if self.options.hold_by is not None and self.options.reverted_run_id is not None:
            self.store.hold_sync(
                self.spec.name, self.run_id, self.options.reverted_run_id, self.options.hold_by, self.clock.now()
            )

    def _record_context(self) -> None:
        """The target the run uses and a person's guardrail approval, on the run's row (an audit of who let a
        run pass a guardrail, how far and why)."""
        options = self.options
        values: dict[str, Any] = {}
        if self.project.target is not None:
            values["target"] = self.project.target
        if options.reverted_run_id is not None:
            values["reverted_run_id"] = options.reverted_run_id
        if options.approve_deletes is not None:
            values.update(
                approved_deletes=options.approve_deletes,
                approved_by=options.approved_by,
                approval_reason=self.project.secrets.mask(options.approval_reason or ""),
            )
        if values:
            self.store.update_run(self.run_id, **values)

    def _execute(self) -> None:
        """Build the Plan (the same one `activate plan` or `activate revert` renders), check its guardrails, hand it
        to the executor."""
        self._check_state_location()
        builder: PlanSource
        if self.plan_source is not None:
            builder = self.plan_source(self.store, self.run_id)
        else:
            builder = PlanBuilder(
                self.project,
                self.sync,
                self.store,
                PlanOptions(
                    full_resync=self.options.full_resync,
                    retry_rejected=self.options.retry_rejected,
                    approved_deletes=self.options.approve_deletes,
                ),
                self.run_id,
            )
        try:
            plan = builder.build()
            self._count_plan(plan)
            self.observer.on_plan(plan)
            self.summary.notes = list(plan.notes)
            if plan.tripped:
                raise GuardrailError("; ".join(f"{v.name}: {v.message}" for v in plan.tripped))
            assert builder.workspace is not None
            self.executor.execute(plan, builder.workspace, self._destination)
        finally:
            builder.close()
        self._conclude()

    def _check_state_location(self) -> None:
        """A mirror whose store lost the state its last run left (replaced, emptied, another URL) would never delete
        what was removed meanwhile: refused until `--full-resync` acknowledges it. Inside the run, so the refusal
        (or a warehouse refusing the state session's login) is a recorded, alerted run."""
        from activate.plan.state_location import moved_state

        moved = moved_state(self.project, self.sync, self.store.state_count(self.spec.name))
        if moved is not None and self.spec.destination.mode == "mirror" and not self.options.full_resync:
            raise GuardrailError(f"refusing to run: {moved}")

    def _destination(self) -> Destination:
        name = self.spec.destination.connection
        connection = self.project.connection(name)
        plugin = destination_plugin(connection.type)
        if plugin is None:
            raise UsageError(f"connection '{name}' has type '{connection.type}', which no destination provides")
        context = WriteContext(self.spec.name, self.run_id, self.spec.destination, self.stats, self.clock)
        return plugin.create(connection, context)

    def _count_plan(self, plan: Plan) -> None:
        c = plan.counts
        s = self.summary
        s.rows_read, s.rows_added, s.rows_changed = c.rows_read, c.added, c.changed
        s.rows_removed, s.rows_unchanged, s.rows_invalid = c.removed, c.unchanged, c.invalid
        self.store.update_run(
            self.run_id,
            rows_read=c.rows_read,
            rows_added=c.added,
            rows_changed=c.changed,
            rows_removed=c.removed,
            rows_unchanged=c.unchanged,
            rows_invalid=c.invalid,
        )

    def _conclude(self) -> None:
        """The run's outcome, from what the executor saw (types, never text)."""
        s = self.summary
        stopped = self.executor.stopped
        if stopped is not None and stopped.kind is not FailureKind.QUOTA:
            succeeded_some = s.rows_succeeded > 0
            status = (
                RunStatus.PARTIAL if succeeded_some and stopped.kind is FailureKind.CONNECTION else RunStatus.FAILED
            )
            self._finish(status, stopped.kind, stopped.message)
            return
        if self.stop.is_set():
            self._finish(
                RunStatus.ABORTED,
                FailureKind.INTERRUPTED,
                "stopped before every row was sent (shutdown); unsent rows stay pending",
            )
            return
        if self.lease.lost.is_set():
            self._finish(
                RunStatus.FAILED,
                FailureKind.LOCK_LOST,
                "the sync's lock lease expired and another run took it over; this run stopped writing "
                "(unsent rows stay pending). Check for a stalled state store or a paused process.",
            )
            return
        attempted = s.rows_succeeded + s.rows_failed + s.rows_rejected
        limit = self.spec.guardrails.max_error_rate
        if limit is not None and attempted:
            rate = (s.rows_failed + s.rows_rejected) / attempted
            if rate > limit:
                self._finish(
                    RunStatus.FAILED,
                    FailureKind.ERROR_RATE,
                    f"max_error_rate: {rate:.1%} of {attempted} rows failed or were rejected, over {limit:.0%}",
                )
                return
        if stopped is not None:  # the daily quota: what was sent is kept, the rest waits for tomorrow
            self._finish(RunStatus.PARTIAL, FailureKind.QUOTA, stopped.message)
        elif s.rows_failed or s.rows_rejected:
            self._finish(RunStatus.PARTIAL, None, f"{s.rows_failed} rows failed and {s.rows_rejected} were rejected")
        else:
            self._finish(RunStatus.SUCCEEDED, None)

    def _finish(self, status: RunStatus, kind: FailureKind | None, error: str | None = None) -> None:
        self.recorder.drain()  # every result is in the state store before the run's row says it finished
        s = self.summary
        s.status = status
        s.failure_kind = kind
        s.error = error
        s.api_calls = self.stats.api_calls
        s.retries = self.stats.retries
        s.throttled_seconds = round(self.stats.throttled_seconds, 3)
        values = {k: v for k, v in s.to_dict().items() if k.startswith("rows_")}
        self.store.update_run(
            self.run_id,
            status=status.value,
            failure_kind=kind.value if kind else None,
            finished_at=self.clock.now(),
            error=error,
            api_calls=s.api_calls,
            retries=s.retries,
            throttled_seconds=s.throttled_seconds,
            **values,
        )
        log_event(
            "run.finished",
            f"run {status}" + (f": {error}" if error else ""),
            run_id=self.run_id,
            sync=self.spec.name,
            status=status.value,
            failure_kind=kind.value if kind else None,
            counts={**values, "api_calls": s.api_calls},
        )

    def _prune(self) -> None:
        days = self.project.spec.state.row_results_retention_days
        if days:
            try:
                self.store.prune_row_results(self.clock.now() - timedelta(days=days))
            except Exception:  # retention is housekeeping; never fail a finished run on it
                return
