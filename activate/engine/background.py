"""`BackgroundRecorder`: a run's recorded batches written to the state store on a thread of their own (the
`Recorder`'s writer).

Why: on a fast destination, saving results was 67% of the run's main thread (a DuckDB state file costs a connect,
a transaction and a checkpoint per flush, ~0.15-0.6 s), and while the main thread saved, no batch was rendered or
handed to the sending threads. Here the main thread hands over each flush (about one second of results) and goes
on; the recorder thread writes them in order.

Each flush stays its own state-store transaction on a fresh connection: one connection held across flushes would
shut other processes (`activate runs`, a second run finding the lock held) out of a DuckDB state file for the
whole write phase (tried: a reader then waited out the whole run).

Invariants: flushes are written in the order they were handed over; at most `MAX_QUEUED` wait (the main thread
blocks beyond that, so memory stays bounded and a crash loses at most a couple of seconds of results, which the
next run re-sends idempotently); a failure to record is raised on the main thread at the next `submit` or at
`drain`, never swallowed, and nothing handed over after it is written (order is kept); `drain` returns once
everything handed over is written.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_QUEUED = 2


class BackgroundRecorder(Generic[T]):
    """Calls `write(items)` for each submitted list, in order, on one background thread."""

    def __init__(self, write: Callable[[Sequence[T]], None], *, name: str = "recorder") -> None:
        self._write = write
        self._queue: queue.Queue[list[T] | None] = queue.Queue(maxsize=MAX_QUEUED)
        self._error: BaseException | None = None
        self._failed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, items: list[T]) -> None:
        """Hand over one flush (blocks while `MAX_QUEUED` are waiting); raises an earlier recording failure."""
        self._raise()
        if items:
            self._queue.put(items)

    def drain(self) -> None:
        """Wait until every handed-over flush is written; raises a recording failure."""
        self._queue.join()
        self._raise()

    def close(self) -> None:
        """Write what is queued, then stop the thread (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _loop(self) -> None:
        while True:
            items = self._queue.get()
            try:
                if items is None:
                    return
                if not self._failed:
                    self._write(items)
            except BaseException as exc:  # handed to the main thread, which decides the run's fate
                self._failed = True
                self._error = exc
            finally:
                self._queue.task_done()
