"""One run of one sync: lock -> snapshot -> diff -> guardrails -> write -> record -> finish (DESIGN §3).

Only this module ties config, source, diff, plan, destination and state together. Invariants:
- state advances only for rows the destination confirmed, in the same transaction as their row results;
- a tripped guardrail, an invalid mapping or a failed query ends the run before any write;
- at most `max_concurrency` batches are in flight, and each is recorded as soon as it returns (a crash loses at
  most the batches in flight; re-sending them is safe because writes are idempotent upserts by external id, and
  non-idempotent ones are guarded by an intent recorded before sending and reconciled on the next run).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from activate import tracing
from activate.associations import AssociationPhase, has_unsettled
from activate.clock import SYSTEM_CLOCK, Clock
from activate.destinations.base import AssociationWriter, Destination, RowOp, WriteBatch, WriteContext
from activate.destinations.registry import destination_plugin
from activate.errors import ActivateError, ConfigError, GuardrailError, LockHeldError, UsageError
from activate.http.errors import QuotaExhausted, TerminalError
from activate.http.stats import RunStats
from activate.logs import log_event, remember_secrets
from activate.plan.builder import PlanBuilder, PlanOptions
from activate.plan.mapping import RenderError, RowMapping, parse_payload
from activate.plan.plan import MODE_OPERATIONS, Plan
from activate.recording import BackgroundRecorder
from activate.rows import Operation, RowResult, RowStatus
from activate.secrets.connections import new_session
from activate.secrets.session import secret_scope
from activate.state.open import open_state_store
from activate.state.store import RecordedBatch, StateStore, lock_holder_name

if TYPE_CHECKING:
    from activate.config import LoadedSync, Project
    from activate.diff.native import PlannedDiff
    from activate.diff.workspace import PlannedRow

LEASE = timedelta(seconds=60)
HEARTBEAT_SECONDS = 15.0
FLUSH_ROWS = 5_000
FLUSH_SECONDS = 1.0

EXIT_CODES = {"succeeded": 0, "failed": 1, "aborted": 1, "partial": 3}


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


@dataclass
class RunSummary:
    """What a run did; also the `--json` output and the Python API's return value."""

    run_id: str
    sync_name: str
    status: str = "running"
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
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exit_code"] = self.exit_code
        return data


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
) -> RunSummary:
    """Run one sync once and return its summary (also recorded in `activate_runs`).

    Raises ConfigError/UsageError for invalid config (exit 2) and LockHeldError when the sync is running elsewhere.
    Every other failure is recorded on the run and returned as status `failed`. `stop`, when set, ends the run
    after the batches in flight (a graceful shutdown): status `aborted`, rows not sent stay pending.
    """
    from activate.plan.state_location import moved_state, remember_state

    sync = project.sync(sync_name)
    # One secret session per run: each provider secret is fetched once, when the first connection needing it opens.
    with secret_scope(new_session(project)):
        store = open_state_store(project, sync)
        try:
            moved = moved_state(project, sync, store.state_count(sync.name))
            if moved is not None and sync.spec.destination.mode == "mirror" and not options.full_resync:
                raise GuardrailError(f"refusing to run: {moved}")
            run = _Run(project, sync, store, options, clock, observer or _NoObserver(), stop or threading.Event())
            summary = run.execute()
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
    def __init__(
        self,
        project: Project,
        sync: LoadedSync,
        store: StateStore,
        options: RunOptions,
        clock: Clock,
        observer: RunObserver,
        stop: threading.Event,
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
        self.config_hash = sync.config_hash
        self.mapping = RowMapping(sync.spec.destination)
        self._heartbeat_stop = threading.Event()
        self._lock_lost = threading.Event()
        self._quota_message: str | None = None
        self._fatal: str | None = None
        self._sent = 0
        self._batches_recorded = 0
        self._pending: list[RecordedBatch] = []
        self._pending_rows = 0
        self._flushed_at = clock.monotonic()
        self._recorder = BackgroundRecorder(store.record_batches, name=f"recorder-{self.run_id}")

    # -- lifecycle --------------------------------------------------------------------------------------------------

    def execute(self) -> RunSummary:
        self._acquire_lock()
        heartbeat = threading.Thread(target=self._heartbeat, name=f"heartbeat-{self.run_id}", daemon=True)
        try:
            self.store.start_run(self.run_id, self.spec.name, self.options.trigger, self.clock.now(), self.config_hash)
            self._record_context()
            remember_secrets(self.project.secrets)
            log_event("run.started", f"run started ({self.options.trigger})", run_id=self.run_id, sync=self.spec.name)
            heartbeat.start()
            try:
                with tracing.span(
                    "activate.run", sync=self.spec.name, run_id=self.run_id, trigger=self.options.trigger
                ) as run_span:
                    self._execute()
                    s = self.summary
                    tracing.set_attributes(
                        run_span,
                        status=s.status,
                        rows_succeeded=s.rows_succeeded,
                        rows_failed=s.rows_failed,
                        rows_rejected=s.rows_rejected,
                        api_calls=self.stats.api_calls,
                    )
            except (ConfigError, UsageError) as exc:
                self._finish("failed", str(exc))
                raise
            except KeyboardInterrupt:
                self._finish("aborted", "interrupted")
                raise
            except ActivateError as exc:
                self._finish("failed", self.project.secrets.mask(str(exc)))
            except Exception as exc:  # a bug or an unexpected driver error: recorded, never lost
                self._finish("failed", self.project.secrets.mask(f"{type(exc).__name__}: {exc}"))
            return self.summary
        finally:
            self._heartbeat_stop.set()
            if heartbeat.is_alive():
                heartbeat.join(timeout=5)
            self._recorder.close()
            self.store.release_lock(self.spec.name, self.run_id)
            self._prune()

    def _record_context(self) -> None:
        """The target the run uses and a person's guardrail approval, on the run's row (an audit of who let a
        run pass a guardrail, how far and why)."""
        options = self.options
        values: dict[str, Any] = {}
        if self.project.target is not None:
            values["target"] = self.project.target
        if options.approve_deletes is not None:
            values.update(
                approved_deletes=options.approve_deletes,
                approved_by=options.approved_by,
                approval_reason=self.project.secrets.mask(options.approval_reason or ""),
            )
        if values:
            self.store.update_run(self.run_id, **values)

    def _acquire_lock(self) -> None:
        deadline = self.clock.monotonic() + self.options.wait_timeout
        while True:
            try:
                self.store.acquire_lock(self.spec.name, self.run_id, lock_holder_name(), self.clock.now(), LEASE)
                return
            except LockHeldError:
                if not self.options.wait or self.clock.monotonic() > deadline:
                    raise
                self.clock.sleep(1.0)

    def _heartbeat(self) -> None:
        while not self._heartbeat_stop.wait(HEARTBEAT_SECONDS):
            try:
                if not self.store.heartbeat(self.spec.name, self.run_id, self.clock.now(), LEASE):
                    self._lock_lost.set()
                    return
            except Exception:  # a transient state-store hiccup: the lease covers several beats
                continue

    def _prune(self) -> None:
        days = self.project.spec.state.row_results_retention_days
        if days:
            try:
                self.store.prune_row_results(self.clock.now() - timedelta(days=days))
            except Exception:  # retention is housekeeping; never fail a finished run on it
                return

    def _finish(self, status: str, error: str | None = None) -> None:
        self._flush()
        self._recorder.drain()  # every result is in the state store before the run's row says it finished
        s = self.summary
        s.status = status
        s.error = error
        s.api_calls = self.stats.api_calls
        s.retries = self.stats.retries
        s.throttled_seconds = round(self.stats.throttled_seconds, 3)
        values = {k: v for k, v in s.to_dict().items() if k.startswith("rows_")}
        self.store.update_run(
            self.run_id,
            status=status,
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
            counts={**values, "api_calls": s.api_calls},
        )

    # -- the run ----------------------------------------------------------------------------------------------------

    def _execute(self) -> None:
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
            self._write(plan, builder.workspace)
        finally:
            builder.close()
        self._conclude()

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
        s = self.summary
        if self._fatal:
            self._finish("failed", self._fatal)
            return
        if self.stop.is_set():
            self._finish("aborted", "stopped before every row was sent (shutdown); unsent rows stay pending")
            return
        if self._lock_lost.is_set():
            self._finish(
                "failed",
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
                    "failed",
                    f"max_error_rate: {rate:.1%} of {attempted} rows failed or were rejected, over {limit:.0%}",
                )
                return
        if self._quota_message:
            self._finish("partial", self._quota_message)
        elif s.rows_failed or s.rows_rejected:
            self._finish("partial", f"{s.rows_failed} rows failed and {s.rows_rejected} were rejected")
        else:
            self._finish("succeeded")

    # -- writing ----------------------------------------------------------------------------------------------------

    def _destination(self) -> Destination:
        name = self.spec.destination.connection
        connection = self.project.connection(name)
        plugin = destination_plugin(connection.type)
        if plugin is None:
            raise UsageError(f"connection '{name}' has type '{connection.type}', which no destination provides")
        context = WriteContext(self.spec.name, self.run_id, self.spec.destination, self.stats, self.clock)
        return plugin.create(connection, context)

    def _write(self, plan: Plan, workspace: PlannedDiff) -> None:
        mode = self.spec.destination.mode
        ops = MODE_OPERATIONS[mode]
        self._record_invalid(workspace, ops["added"] or Operation.UPSERT)
        self._settle_without_calls(workspace, ops)
        linking = bool(self.spec.destination.associations)
        if plan.rows_to_send == 0 and not (linking and has_unsettled(self.store, self.sync)):
            return
        destination = self._destination()
        try:
            for kind in ("added", "changed", "removed"):
                op = ops[kind]
                if op is None or self._should_stop():
                    continue
                total = {"added": plan.counts.added, "changed": plan.counts.changed, "removed": plan.counts.removed}[
                    kind
                ]
                if total:
                    self._write_kind(destination, workspace, kind, op, total, plan.rows_to_send)
            if linking and destination.capabilities.associations and not self._should_stop():
                self._associate(workspace, cast(AssociationWriter, destination))
        finally:
            destination.close()

    def _associate(self, workspace: PlannedDiff, destination: AssociationWriter) -> None:
        """The association step (`activate.associations`), once every record write is recorded: links are made
        from the state the writes left. Successful links are audited but not counted as rows; failed ones are."""
        self._flush()
        self._recorder.drain()  # the phase reads the state the writes advanced: every result must be in it
        phase = AssociationPhase(
            self.sync,
            self.store,
            self.run_id,
            lambda results: self._record(results, {}, count_successes=False),
            self.project.secrets.mask,
        )
        try:
            counts = phase.run(workspace, destination)
        except QuotaExhausted as exc:
            self._quota_message = self.project.secrets.mask(exc.message) + "; unmade links stay pending"
            return
        except TerminalError as exc:
            self._fatal = self.project.secrets.mask(f"{exc.code}: {exc.message}")
            return
        self._flush()
        log_event(
            "associations.done",
            f"associations: {counts.created} created, {counts.removed} removed, {counts.waiting} waiting for their "
            f"target, {counts.failed + counts.rejected} rows with failed links",
            run_id=self.run_id,
            sync=self.spec.name,
        )

    def _should_stop(self) -> bool:
        return bool(self._quota_message or self._fatal or self.stop.is_set() or self._lock_lost.is_set())

    def _record_invalid(self, workspace: PlannedDiff, op: Operation) -> None:
        for chunk in workspace.invalid_rows():
            results = [RowResult(r.row_key, RowStatus.REJECTED, None, r.code, r.reason, 0, op) for r in chunk]
            self._record(results, {})

    def _settle_without_calls(self, workspace: PlannedDiff, ops: dict[str, Operation | None]) -> None:
        """Removed rows of a non-mirror sync are forgotten; changed rows of an insert sync are skipped."""
        mode = self.spec.destination.mode
        if ops["removed"] is None:
            for chunk in workspace.planned(["removed"]):
                message = f"removed from the source; mode {mode} leaves the destination record in place"
                results = [RowResult.skipped(r.row_key, Operation.DELETE, r.destination_id, message) for r in chunk]
                self._record(results, {}, forget=[r.row_key for r in chunk])
        if ops["changed"] is None:
            for chunk in workspace.planned(["changed"]):
                message = "changed in the source; mode insert never updates a record it created"
                results = [RowResult.skipped(r.row_key, Operation.INSERT, r.destination_id, message) for r in chunk]
                self._record(results, {r.row_key: r.row_hash or "" for r in chunk}, advance_skipped=True)

    def _write_kind(
        self, destination: Destination, workspace: PlannedDiff, kind: str, op: Operation, total: int, grand: int
    ) -> None:
        size = max(1, destination.batch_size(op, total))
        concurrency = max(1, destination.capabilities.max_concurrency)
        run_context = tracing.current_context()
        in_flight: dict[Future[list[RowResult]], tuple[WriteBatch, dict[str, str]]] = {}
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"write-{self.spec.name}") as pool:
            for batch, hashes in self._batches(destination, workspace, kind, op, size):
                if self._should_stop():
                    break
                while len(in_flight) >= concurrency:
                    self._collect(in_flight, grand, FIRST_COMPLETED)
                if self._should_stop():
                    break
                self._guard_with_intents(destination, batch, hashes)
                in_flight[pool.submit(self._traced_write, destination, batch, run_context)] = (batch, hashes)
            while in_flight:
                self._collect(in_flight, grand, FIRST_COMPLETED)

    def _traced_write(self, destination: Destination, batch: WriteBatch, run_context: Any) -> list[RowResult]:
        """`destination.write` inside an `activate.batch` span parented to the run's (worker threads start bare)."""
        with tracing.span(
            "activate.batch",
            parent=run_context,
            sync=self.spec.name,
            run_id=self.run_id,
            operation=batch.operation.value,
            rows=len(batch),
        ) as batch_span:
            results = destination.write(batch)
            tracing.set_attributes(batch_span, succeeded=sum(1 for r in results if r.status is RowStatus.SUCCEEDED))
            return results

    def _collect(
        self,
        in_flight: dict[Future[list[RowResult]], tuple[WriteBatch, dict[str, str]]],
        grand: int,
        when: str,
    ) -> None:
        done, _ = wait(list(in_flight), return_when=when)
        for future in done:
            batch, hashes = in_flight.pop(future)
            self._record_write(batch, hashes, future)
            self._sent += len(batch)
            self.observer.on_progress(self._sent, grand)

    def _record_write(self, batch: WriteBatch, hashes: dict[str, str], future: Future[list[RowResult]]) -> None:
        op = batch.operation
        try:
            results = future.result()
        except QuotaExhausted as exc:
            self._quota_message = self.project.secrets.mask(exc.message) + "; unsent rows stay pending for the next run"
            results = exc.results
        except TerminalError as exc:
            self._fatal = self.project.secrets.mask(f"{exc.code}: {exc.message}")
            results = []
        except Exception as exc:  # the batch's fate is unknown: failed rows are retried next run
            message = self.project.secrets.mask(f"{type(exc).__name__}: {exc}")
            results = [
                RowResult.failed(r.key, getattr(exc, "code", None) or "WRITE_ERROR", message) for r in batch.rows
            ]
        by_key = {r.key: r for r in results}
        rows = [self._audited(r, op) for r in by_key.values() if r.key in hashes]
        if len(by_key) < len(batch.rows) and not (self._quota_message or self._fatal):
            # a destination must answer for every row; a missing answer is a failure, never a silent drop
            for row in batch.rows:
                if row.key not in by_key:
                    missing = RowResult.failed(row.key, "NO_RESULT", "the destination returned no result")
                    rows.append(missing.with_operation(op))
        self._record(rows, hashes)

    def _audited(self, result: RowResult, op: Operation) -> RowResult:
        """The result as recorded: stamped with its operation, its message masked (a vendor may echo a secret)."""
        masked = self.project.secrets.mask(result.error_message) if result.error_message else None
        if masked != result.error_message:
            result = replace(result, error_message=masked)
        return result.with_operation(op)

    def _record(
        self,
        results: Sequence[RowResult],
        hashes: dict[str, str],
        *,
        forget: list[str] | None = None,
        advance_skipped: bool = False,
        count_successes: bool = True,
    ) -> None:
        if not results and not forget:
            return
        self._pending.append(
            RecordedBatch(
                self.spec.name,
                self.run_id,
                self.config_hash,
                self.clock.now(),
                results,
                hashes,
                forget or (),
                advance_skipped,
            )
        )
        self._pending_rows += len(results) + len(forget or ())
        if self._pending_rows >= FLUSH_ROWS or self.clock.monotonic() - self._flushed_at >= FLUSH_SECONDS:
            self._flush()
        s = self.summary
        for result in results:
            status = result.status
            if status == RowStatus.SUCCEEDED:
                s.rows_succeeded += 1 if count_successes else 0
            elif status == RowStatus.FAILED:
                s.rows_failed += 1
            elif status == RowStatus.REJECTED:
                s.rows_rejected += 1
            elif status == RowStatus.SKIPPED:
                s.rows_skipped += 1
        self._batches_recorded += 1
        log_event(
            "batch.recorded",
            f"batch {self._batches_recorded} recorded ({len(results)} rows)",
            run_id=self.run_id,
            sync=self.spec.name,
            batch=self._batches_recorded,
            counts=_status_counts(results),
        )

    def _flush(self) -> None:
        """Hand pending batches to the recorder thread, written in one transaction (a DuckDB state file costs
        ~65 ms or more per transaction, so batches returning within the same second share one; a crash loses at
        most the flushes not yet written, re-sent idempotently). The main thread goes on rendering and sending."""
        if self._pending:
            self._recorder.submit(self._pending)
            self._pending = []
            self._pending_rows = 0
        self._flushed_at = self.clock.monotonic()

    def _batches(
        self, destination: Destination, workspace: PlannedDiff, kind: str, op: Operation, size: int
    ) -> Iterator[tuple[WriteBatch, dict[str, str]]]:
        """Render planned rows into batches; rows that cannot render are rejected here, never sent."""
        match = self.spec.destination.match
        rows: list[RowOp] = []
        hashes: dict[str, str] = {}
        for chunk in workspace.planned([kind]):
            reconciled = self._reconcile(destination, chunk, op)
            self._guard_mirror_adds(chunk, op, reconciled)
            for planned in chunk:
                if planned.row_key in reconciled:
                    continue
                fields = None
                if op is not Operation.DELETE:
                    try:
                        fields = self.mapping.render(parse_payload(planned.payload or "{}"))
                    except RenderError as exc:
                        failure = RowResult(planned.row_key, RowStatus.REJECTED, None, "RENDER_ERROR", str(exc), 0, op)
                        self._record([failure], {planned.row_key: planned.row_hash or ""})
                        continue
                rows.append(
                    RowOp(
                        planned.row_key,
                        op,
                        fields,
                        planned.destination_id,
                        fields.get(match) if (fields is not None and match) else None,
                    )
                )
                hashes[planned.row_key] = planned.row_hash or ""
                if len(rows) >= size:
                    yield WriteBatch(op, rows), hashes
                    rows, hashes = [], {}
        if rows:
            yield WriteBatch(op, rows), hashes

    def _needs_intent(self, destination: Destination, row: RowOp) -> bool:
        caps = destination.capabilities
        if row.operation is Operation.INSERT:
            return not caps.idempotent_insert
        return row.operation is Operation.UPSERT and row.destination_id is None and not caps.idempotent_upsert

    def _guard_mirror_adds(self, chunk: list[PlannedRow], op: Operation, reconciled: set[str]) -> None:
        """A mirror guards new rows' first upserts too, however idempotent, one transaction per planned chunk: should
        the run die after the destination applied them and the source drop them before the next run, the intents
        are what let that run delete the records instead of leaving orphans no state row knows of."""
        if self.spec.destination.mode != "mirror" or op is not Operation.UPSERT:
            return
        new = [(r.row_key, r.row_hash or "") for r in chunk if r.destination_id is None and r.row_key not in reconciled]
        if new:
            self._record_intents(new)

    def _guard_with_intents(self, destination: Destination, batch: WriteBatch, hashes: dict[str, str]) -> None:
        guarded = [(r.key, hashes[r.key]) for r in batch.rows if self._needs_intent(destination, r)]
        if guarded:
            self._record_intents(guarded)

    def _record_intents(self, rows: list[tuple[str, str]]) -> None:
        # the recorder thread's flushes and intents both load Arrow rows into the DuckDB state file; two connections
        # of one process doing that at once fail in DuckDB ("python_arrow_scan does not exist"), so the recorder is
        # drained first (a mirror's first adds and non-idempotent writes take this path, once per chunk or batch)
        self._recorder.drain()
        self.store.record_intents(self.spec.name, self.run_id, rows, self.clock.now())

    def _reconcile(self, destination: Destination, chunk: list[PlannedRow], op: Operation) -> set[str]:
        """Rows an interrupted run may already have created: found ones are recorded, never created twice."""
        suspects = [r for r in chunk if r.has_intent]
        if not suspects or op is Operation.DELETE:
            return set()
        match = self.spec.destination.match
        probes = []
        for r in suspects:
            try:
                fields = self.mapping.render(parse_payload(r.payload or "{}"))
            except RenderError:
                continue
            probes.append(RowOp(r.row_key, op, fields, r.destination_id, fields.get(match) if match else None))
        found = destination.reconcile(probes) if probes else {}
        if not found:
            return set()
        message = "found in the destination: created by an interrupted run"
        results = [RowResult(key, RowStatus.SUCCEEDED, dest_id, None, message, 0, op) for key, dest_id in found.items()]
        # advance to the hash the interrupted run sent: if the row changed since, the next run updates it
        hashes = {r.row_key: (r.intent_hash or r.row_hash or "") for r in suspects if r.row_key in found}
        self._record(results, hashes)
        return set(found)


def _status_counts(results: Sequence[RowResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    return counts
