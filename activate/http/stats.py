"""`RunStats`: the counters a run accumulates across every API call of every writer thread.

It lives in the toolkit because the toolkit's `ApiCaller` is what counts; the engine reads it into the run summary
and destinations receive it in their `WriteContext`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["RunStats"]


@dataclass
class RunStats:
    """Counters a run accumulates across every API call (thread-safe)."""

    api_calls: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, api_calls: int = 0, retries: int = 0, throttled_seconds: float = 0.0) -> None:
        with self._lock:
            self.api_calls += api_calls
            self.retries += retries
            self.throttled_seconds += throttled_seconds
