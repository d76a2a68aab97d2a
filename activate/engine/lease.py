"""The sync's lock, held by lease: acquired (or waited for), kept alive by a heartbeat thread, released.

One run per sync at a time across processes and machines: the lock row lives in the state store. A crashed
holder's lock expires after `LEASE`; while a run goes, a heartbeat extends it every `HEARTBEAT_SECONDS`. When a
beat finds the lock taken over (this process stalled past its lease), `lost` is set and the run stops writing.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from activate.errors import LockHeldError
from activate.state.store import lock_holder_name

if TYPE_CHECKING:
    from activate.clock import Clock
    from activate.state.store import StateStore

LEASE = timedelta(seconds=60)
HEARTBEAT_SECONDS = 15.0


class Lease:
    """A run's hold on its sync's lock."""

    def __init__(self, store: StateStore, sync_name: str, run_id: str, clock: Clock) -> None:
        self.store = store
        self.sync_name = sync_name
        self.run_id = run_id
        self.clock = clock
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, *, wait: bool = False, wait_timeout: float = 3600.0) -> None:
        """Take the lock, or raise LockHeldError; with `wait`, retry every second until `wait_timeout`."""
        deadline = self.clock.monotonic() + wait_timeout
        while True:
            try:
                self.store.acquire_lock(self.sync_name, self.run_id, lock_holder_name(), self.clock.now(), LEASE)
                return
            except LockHeldError:
                if not wait or self.clock.monotonic() > deadline:
                    raise
                self.clock.sleep(1.0)

    def start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self.run_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                if not self.store.heartbeat(self.sync_name, self.run_id, self.clock.now(), LEASE):
                    self.lost.set()
                    return
            except Exception:  # a transient state-store hiccup: the lease covers several beats
                continue

    def release(self) -> None:
        """Stop the heartbeat and give the lock back (only if this run still holds it)."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)
        self.store.release_lock(self.sync_name, self.run_id)
