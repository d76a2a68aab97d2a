"""The recorder: a run's row results into the state store, in bulk, at most about a second behind.

Results are kept in memory and flushed when `FLUSH_ROWS` are pending or `FLUSH_SECONDS` have passed (and at the
end of the run). A flush is handed to a `BackgroundRecorder` thread, which writes it as one transaction: the
results appended in bulk, the state advanced by set-based SQL (`activate.state.changes`). The main thread goes on
rendering and sending meanwhile, so a fast destination never waits on the state store. A crash loses at most the
flushes not yet written (about two seconds of results), whose rows are re-sent idempotently by the next run.

Each flush is a transaction on a fresh connection, deliberately not one connection held for the run: a held
connection would shut other processes (`activate runs`, a second run that must find the lock held) out of a DuckDB
state file for the whole write phase. On Postgres the engine's pool hands the same connection back each time.

It also keeps the run's row counts (`RunSummary.rows_*`) and logs one `batch.recorded` event per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from activate.engine.background import BackgroundRecorder
from activate.logs import log_event
from activate.rows import RowResult, RowStatus
from activate.state.changes import RecordedBatch, WrittenRow

if TYPE_CHECKING:
    from activate.clock import Clock
    from activate.engine.outcome import RunSummary
    from activate.state.store import StateStore

# A flush costs a connection, a transaction and a checkpoint of a DuckDB file (~0.1-0.3 s) whatever its size, so
# flushes are paced by time; the row count only bounds memory (a destination taking 20k rows/s still flushes once
# a second, not four times).
FLUSH_ROWS = 20_000
FLUSH_SECONDS = 1.0


class Recorder:
    """Records one run's results; only the run's main thread calls it."""

    def __init__(self, store: StateStore, summary: RunSummary, config_hash: str, clock: Clock) -> None:
        self.store = store
        self.summary = summary
        self.sync_name = summary.sync_name
        self.run_id = summary.run_id
        self.config_hash = config_hash
        self.clock = clock
        self.batches = 0
        self._pending: list[RecordedBatch] = []
        self._pending_rows = 0
        self._flushed_at = clock.monotonic()
        self._writer: BackgroundRecorder[RecordedBatch] = BackgroundRecorder(
            store.record_batches, name=f"recorder-{self.run_id}"
        )

    def record(
        self,
        results: Sequence[RowResult],
        hashes: dict[str, str],
        *,
        forget: Sequence[str] = (),
        advance_skipped: bool = False,
        count_successes: bool = True,
        written: Mapping[str, WrittenRow] | None = None,
    ) -> None:
        """Queue results (each stamped with its operation) and the data hashes their rows were sent with, and what
        each row's write leaves field by field (`written`, see `activate.fieldstate`).

        `count_successes=False` audits successes without counting them as rows (association links)."""
        if not results and not forget:
            return
        batch = RecordedBatch(
            self.sync_name,
            self.run_id,
            self.config_hash,
            self.clock.now(),
            results,
            hashes,
            forget,
            advance_skipped,
            written or {},
        )
        self._pending.append(batch)
        self._pending_rows += len(results) + len(forget)
        if self._pending_rows >= FLUSH_ROWS or self.clock.monotonic() - self._flushed_at >= FLUSH_SECONDS:
            self.flush()
        counts = _status_counts(results)
        s = self.summary
        s.rows_succeeded += counts.get(RowStatus.SUCCEEDED, 0) if count_successes else 0
        s.rows_failed += counts.get(RowStatus.FAILED, 0)
        s.rows_rejected += counts.get(RowStatus.REJECTED, 0)
        s.rows_skipped += counts.get(RowStatus.SKIPPED, 0)
        self.batches += 1
        log_event(
            "batch.recorded",
            f"batch {self.batches} recorded ({len(results)} rows)",
            run_id=self.run_id,
            sync=self.sync_name,
            batch=self.batches,
            counts=counts,
        )

    def record_intents(self, rows: Sequence[tuple[str, str]]) -> None:
        """Before a non-idempotent write: (row_key, row_hash) pairs, recorded at once (not batched: the write that
        follows must find them after a crash)."""
        if rows:
            self.store.record_intents(self.sync_name, self.run_id, rows, self.clock.now())

    def flush(self) -> None:
        """Hand every pending batch to the writer thread (one transaction); raises an earlier recording failure."""
        if self._pending:
            self._writer.submit(self._pending)
            self._pending = []
            self._pending_rows = 0
        self._flushed_at = self.clock.monotonic()

    def drain(self) -> None:
        """Flush, and wait until everything recorded so far is in the state store."""
        self.flush()
        self._writer.drain()

    def close(self) -> None:
        """Write what is queued and stop the writer thread (idempotent)."""
        self._writer.close()


def _status_counts(results: Sequence[RowResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    return counts
