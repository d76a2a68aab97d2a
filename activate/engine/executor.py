"""The executor: sends a Plan's rows to the destination, in batches, concurrently, and hands each result to the
recorder as soon as its batch returns.

Invariants:
- at most `max_concurrency` batches are in flight; each is recorded when it returns (a crash loses at most the
  batches in flight and the recorder's last second, re-sent idempotently next run);
- a non-idempotent write is preceded by a recorded intent, and rows with an intent from an interrupted run are
  looked up in the destination before being sent again (never created twice);
- rows that cannot be rendered are rejected here, never sent;
- it stops submitting batches when the run must stop (`stop` set, lock lost, quota spent, a run-level failure),
  lets the batches in flight finish and records them;
- a destination that cannot be reached (every row of a batch failed and the toolkit noted `Unreachable`) is a
  run-level failure: those rows are not recorded as failed (they were never attempted in any useful sense) and
  stay pending; the run fails with kind `connection` and the cause.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from activate import tracing
from activate.associations import AssociationPhase, has_unsettled
from activate.destinations.base import AssociationWriter, Destination, RowOp, WriteBatch
from activate.engine.outcome import FailureKind, failure_kind_of
from activate.fieldstate import FieldRules, deleted_row, parse_fields, plan_fields
from activate.http.errors import QuotaExhausted, TerminalError
from activate.logs import log_event
from activate.plan.mapping import RenderError, RowMapping, parse_payload
from activate.plan.plan import MODE_OPERATIONS, Plan
from activate.rows import Operation, RowResult, RowStatus
from activate.state.changes import WrittenRow

if TYPE_CHECKING:
    from collections.abc import Callable

    from activate.config import LoadedSync
    from activate.diff.native import PlannedDiff
    from activate.diff.workspace import PlannedRow
    from activate.engine.recorder import Recorder
    from activate.http.stats import RunStats
    from activate.state.store import StateStore

KINDS = ("added", "changed", "removed")
UNCHANGED_FIELDS = "changed in the source, but no field this sync updates changed: nothing to send"


@dataclass(frozen=True)
class _Pending:
    """A batch in flight and what its rows leave should they succeed."""

    batch: WriteBatch
    hashes: dict[str, str]
    written: dict[str, WrittenRow]


@dataclass(frozen=True)
class Stopped:
    """Why the executor stopped before sending every row (None on `Executor.stopped` when it did not)."""

    kind: FailureKind
    message: str


class Executor:
    """Writes one run's planned rows. The run's main thread drives it; writer threads only call `write`."""

    def __init__(
        self,
        sync: LoadedSync,
        store: StateStore,
        run_id: str,
        recorder: Recorder,
        stats: RunStats,
        *,
        mask: Callable[[str], str],
        stop: threading.Event,
        lock_lost: threading.Event,
        on_progress: Callable[[int, int], None],
    ) -> None:
        self.sync = sync
        self.spec = sync.spec
        self.store = store
        self.run_id = run_id
        self.recorder = recorder
        self.stats = stats
        self.mask = mask
        self.stop = stop
        self.lock_lost = lock_lost
        self.on_progress = on_progress
        self.mapping = RowMapping(self.spec.destination)
        self.rules = FieldRules.of(self.mapping, partial=False)
        self.stopped: Stopped | None = None  # a quota, a run-level failure, or an unreachable destination
        self._sent = 0

    # -- the plan ---------------------------------------------------------------------------------------------------

    def execute(self, plan: Plan, workspace: PlannedDiff, open_destination: Callable[[], Destination]) -> None:
        """Settle what needs no API call, then send added, changed and removed rows, in that order."""
        self.rules = FieldRules.of(self.mapping, partial=plan.partial_updates, force=plan.full_resync)
        ops = MODE_OPERATIONS[self.spec.destination.mode]
        self._record_invalid(workspace, ops["added"] or Operation.UPSERT)
        self._settle_without_calls(workspace, ops)
        linking = bool(self.spec.destination.associations)
        if plan.rows_to_send == 0 and not (linking and has_unsettled(self.store, self.sync)):
            return
        destination = open_destination()
        try:
            totals = {"added": plan.counts.added, "changed": plan.counts.changed, "removed": plan.counts.removed}
            for kind in KINDS:
                op = ops[kind]
                if op is not None and totals[kind] and not self.should_stop():
                    self._write_kind(destination, workspace, kind, op, totals[kind], plan.rows_to_send)
            if linking and destination.capabilities.associations and not self.should_stop():
                self._associate(workspace, cast(AssociationWriter, destination))
        finally:
            destination.close()

    def _associate(self, workspace: PlannedDiff, destination: AssociationWriter) -> None:
        """The association step (`activate.associations`), once every record write is recorded: links are made
        from the state the writes left. Successful links are audited but not counted as rows; failed ones are."""
        self.recorder.drain()  # the links are made from the state the writes left: it must be written first
        phase = AssociationPhase(
            self.sync,
            self.store,
            self.run_id,
            lambda results: self.recorder.record(results, {}, count_successes=False),
            self.mask,
        )
        try:
            counts = phase.run(workspace, destination)
        except QuotaExhausted as exc:
            self._stop_with(FailureKind.QUOTA, self.mask(exc.message) + "; unmade links stay pending")
            return
        except TerminalError as exc:
            self._stop_with(failure_kind_of(exc), self.mask(f"{exc.code}: {exc.message}"))
            return
        self.recorder.flush()
        log_event(
            "associations.done",
            f"associations: {counts.created} created, {counts.removed} removed, {counts.waiting} waiting for their "
            f"target, {counts.failed + counts.rejected} rows with failed links",
            run_id=self.run_id,
            sync=self.spec.name,
        )

    def should_stop(self) -> bool:
        return bool(self.stopped or self.stop.is_set() or self.lock_lost.is_set())

    def _record_invalid(self, workspace: PlannedDiff, op: Operation) -> None:
        for chunk in workspace.invalid_rows():
            results = [RowResult(r.row_key, RowStatus.REJECTED, None, r.code, r.reason, 0, op) for r in chunk]
            self.recorder.record(results, {})

    def _settle_without_calls(self, workspace: PlannedDiff, ops: dict[str, Operation | None]) -> None:
        """Removed rows of a non-mirror sync are forgotten; changed rows of an insert sync are skipped."""
        mode = self.spec.destination.mode
        if ops["removed"] is None:
            for chunk in workspace.planned(["removed"]):
                message = f"removed from the source; mode {mode} leaves the destination record in place"
                results = [RowResult.skipped(r.row_key, Operation.DELETE, r.destination_id, message) for r in chunk]
                self.recorder.record(results, {}, forget=[r.row_key for r in chunk])
        if ops["changed"] is None:
            for chunk in workspace.planned(["changed"]):
                message = "changed in the source; mode insert never updates a record it created"
                results = [RowResult.skipped(r.row_key, Operation.INSERT, r.destination_id, message) for r in chunk]
                self.recorder.record(results, {r.row_key: r.row_hash or "" for r in chunk}, advance_skipped=True)

    # -- batches ----------------------------------------------------------------------------------------------------

    def _write_kind(
        self, destination: Destination, workspace: PlannedDiff, kind: str, op: Operation, total: int, grand: int
    ) -> None:
        size = max(1, destination.batch_size(op, total))
        concurrency = max(1, destination.capabilities.max_concurrency)
        run_context = tracing.current_context()
        in_flight: dict[Future[list[RowResult]], _Pending] = {}
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"write-{self.spec.name}") as pool:
            for pending in self._batches(destination, workspace, kind, op, size):
                if self.should_stop():
                    break
                while len(in_flight) >= concurrency:
                    self._collect(in_flight, grand)
                if self.should_stop():
                    break
                self._guard_with_intents(destination, pending.batch, pending.hashes)
                in_flight[pool.submit(self._traced_write, destination, pending.batch, run_context)] = pending
            while in_flight:
                self._collect(in_flight, grand)

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

    def _collect(self, in_flight: dict[Future[list[RowResult]], _Pending], grand: int) -> None:
        done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
        for future in done:
            pending = in_flight.pop(future)
            self._record_write(pending, future)
            self._sent += len(pending.batch)
            self.on_progress(self._sent, grand)

    def _record_write(self, pending: _Pending, future: Future[list[RowResult]]) -> None:
        batch, hashes = pending.batch, pending.hashes
        op = batch.operation
        try:
            results = future.result()
        except QuotaExhausted as exc:
            self._stop_with(FailureKind.QUOTA, self.mask(exc.message) + "; unsent rows stay pending for the next run")
            results = exc.results
        except TerminalError as exc:
            self._stop_with(failure_kind_of(exc), self.mask(f"{exc.code}: {exc.message}"))
            results = []
        except Exception as exc:  # the batch's fate is unknown: failed rows are retried next run
            message = self.mask(f"{type(exc).__name__}: {exc}")
            results = [
                RowResult.failed(r.key, getattr(exc, "code", None) or "WRITE_ERROR", message) for r in batch.rows
            ]
        by_key = {r.key: r for r in results}
        if self._unreachable(by_key.values(), len(batch.rows)):
            return  # not recorded: the rows stay pending, the run fails with the cause
        rows = [self._audited(r, op) for r in by_key.values() if r.key in hashes]
        if len(by_key) < len(batch.rows) and not self.stopped:
            # a destination must answer for every row; a missing answer is a failure, never a silent drop
            for row in batch.rows:
                if row.key not in by_key:
                    missing = RowResult.failed(row.key, "NO_RESULT", "the destination returned no result")
                    rows.append(missing.with_operation(op))
        self.recorder.record(rows, hashes, written=pending.written)

    def _unreachable(self, results: Any, expected: int) -> bool:
        """True when this batch shows the destination cannot be reached: every row failed, and the toolkit gave
        up on an `Unreachable` error. Decided from the error's type (noted in `RunStats`), never its text."""
        error = self.stats.unreachable
        if error is None:
            return False
        verdicts = list(results)
        if len(verdicts) < expected or any(r.status is not RowStatus.FAILED for r in verdicts):
            return False
        if self.stopped is None or self.stopped.kind is not FailureKind.CONNECTION:
            self._stop_with(FailureKind.CONNECTION, self.mask(error.cause))
        return True

    def _stop_with(self, kind: FailureKind, message: str) -> None:
        if self.stopped is None:
            self.stopped = Stopped(kind, message)

    def _audited(self, result: RowResult, op: Operation) -> RowResult:
        """The result as recorded: stamped with its operation, its message masked (a vendor may echo a secret)."""
        masked = self.mask(result.error_message) if result.error_message else None
        if masked != result.error_message:
            result = replace(result, error_message=masked)
        return result.with_operation(op)

    def _batches(
        self, destination: Destination, workspace: PlannedDiff, kind: str, op: Operation, size: int
    ) -> Iterator[_Pending]:
        """Render planned rows into batches of the fields each row sends (`activate.fieldstate`); rows that cannot
        render are rejected here, never sent; changed rows with no field to send are settled without a call."""
        match = self.spec.destination.match
        rows: list[RowOp] = []
        hashes: dict[str, str] = {}
        written: dict[str, WrittenRow] = {}
        for chunk in workspace.planned([kind]):
            reconciled = self._reconcile(destination, chunk, op)
            self._guard_mirror_adds(chunk, op, reconciled)
            settled: list[RowResult] = []
            settled_hashes: dict[str, str] = {}
            settled_rows: dict[str, WrittenRow] = {}
            for planned in chunk:
                if planned.row_key in reconciled:
                    continue
                fields = None
                if op is Operation.DELETE:
                    written[planned.row_key] = deleted_row(planned.previous_fields, planned.previous_hash)
                else:
                    try:
                        rendered = self._rendered(planned)
                    except RenderError as exc:
                        failure = RowResult(planned.row_key, RowStatus.REJECTED, None, "RENDER_ERROR", str(exc), 0, op)
                        self.recorder.record([failure], {planned.row_key: planned.row_hash or ""})
                        continue
                    creates = op is Operation.INSERT or (op is Operation.UPSERT and planned.previous_hash is None)
                    rules = self.rules if planned.restore is None else self._restore_rules()
                    previous = planned.previous_fields
                    write = plan_fields(rules, rendered, previous, planned.previous_hash, creates=creates)
                    if write.send is None:
                        settled.append(RowResult.skipped(planned.row_key, op, planned.destination_id, UNCHANGED_FIELDS))
                        settled_hashes[planned.row_key] = planned.row_hash or ""
                        settled_rows[planned.row_key] = write.written
                        continue
                    fields = write.send
                    written[planned.row_key] = write.written
                match_value = fields.get(match) if (fields is not None and match) else None
                rows.append(
                    RowOp(planned.row_key, op, fields, planned.destination_id, match_value, planned.previous_run)
                )
                hashes[planned.row_key] = planned.row_hash or ""
                if len(rows) >= size:
                    yield _Pending(WriteBatch(op, rows), hashes, written)
                    rows, hashes, written = [], {}, {}
            if settled:
                self.recorder.record(settled, settled_hashes, advance_skipped=True, written=settled_rows)
        if rows:
            yield _Pending(WriteBatch(op, rows), hashes, written)

    def _rendered(self, planned: PlannedRow) -> dict[str, Any]:
        """The row's destination fields: rendered from its source payload, or, for a row `activate revert` puts
        back, its confirmed (still mapped) values with the restored ones over them."""
        if planned.restore is None:
            return self.mapping.render_payload(planned.payload)
        mapped = self.rules.mapped
        confirmed = parse_fields(planned.previous_fields) if planned.previous_fields else {}
        restored = parse_fields(planned.restore)
        return {name: value for name, value in {**confirmed, **restored}.items() if name in mapped}

    def _restore_rules(self) -> FieldRules:
        """A revert puts back exactly what was there: a previous null is restored even on a `nulls: skip` field
        (that rule guards against a source's nulls, not against undoing a run)."""
        return replace(self.rules, skip_nulls=frozenset())

    # -- non-idempotent writes --------------------------------------------------------------------------------------

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
        self.recorder.record_intents(new)

    def _guard_with_intents(self, destination: Destination, batch: WriteBatch, hashes: dict[str, str]) -> None:
        self.recorder.record_intents([(r.key, hashes[r.key]) for r in batch.rows if self._needs_intent(destination, r)])

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
        self.recorder.record(results, hashes)
        return set(found)
