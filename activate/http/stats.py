"""`RunStats`: the counters a run accumulates across every API call of every writer thread.

It lives in the toolkit because the toolkit's `ApiCaller` is what counts; the engine reads it into the run summary
and destinations receive it in their `WriteContext`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from activate.http.errors import Unreachable

__all__ = ["RunStats"]


@dataclass
class RunStats:
    """Counters a run accumulates across every API call (thread-safe).

    `unreachable` is the last `Unreachable` error a call gave up with: the engine reads it to tell a destination
    that cannot be reached (the run fails, rows stay pending) from rows that failed.
    """

    api_calls: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    unreachable: Unreachable | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, api_calls: int = 0, retries: int = 0, throttled_seconds: float = 0.0) -> None:
        with self._lock:
            self.api_calls += api_calls
            self.retries += retries
            self.throttled_seconds += throttled_seconds

    def note_unreachable(self, error: Unreachable) -> None:
        with self._lock:
            self.unreachable = error
