"""The per-connection rate limiter: a window, a concurrency cap, pacing, and a connection-wide pause on 429.

Hand-written rather than pyrate-limiter (not installed here, and its buckets count a request when it *starts*):
this limiter counts a request in the window from the moment its response *arrives* (in-flight requests count as
occupying the window), which is what guarantees the server never sees more than `requests` arrivals in any
`per_seconds`, whatever the network jitter. It also needs to pause every thread of the connection on a 429 and
to wait through the injected `Clock`, which no library offers.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from activate.clock import Clock

_EPSILON = 1e-6


@dataclass(frozen=True)
class Permit:
    """Leave to send one request; hand it back to `release`. `waited` is how long acquiring it took."""

    waited: float
    token: str = ""


class RateLimiter(Protocol):
    """What `ApiCaller` needs from a limiter (in-memory or Redis-backed)."""

    def acquire(self) -> Permit:
        """Block (through the clock) until one more request may be sent."""
        ...

    def release(self, permit: Permit, *, sent: bool = True) -> None:
        """The request finished (its response arrived or it failed); `sent=False` when it never went out."""
        ...

    def throttle(self, seconds: float) -> None:
        """The API said slow down: pause every caller of this connection for `seconds` and back the rate off."""
        ...

    def recover(self) -> None:
        """A call succeeded: let a backed-off rate grow back towards the configured one."""
        ...


class WindowLimiter:
    """In-process limiter shared by every thread that calls one connection.

    Invariants, for any instant t:
    - in-flight requests <= `max_concurrency`;
    - in-flight requests + requests completed in (t - per_seconds, t] <= current limit <= `requests`;
    - no request starts before the pause set by the last `throttle` ends.
    Requests are also paced one every `per_seconds / limit` (after a burst of `burst`), so a window's allowance is
    spread out instead of spent in the first instant and then idle. On `throttle` the limit halves (down to 1);
    each `recover` adds back a tenth of the configured rate (additive increase, multiplicative decrease).
    """

    def __init__(
        self, requests: int, per_seconds: float, max_concurrency: int, clock: Clock, *, burst: int | None = None
    ) -> None:
        self.requests = requests
        self.per_seconds = per_seconds
        self.max_concurrency = max_concurrency
        self.burst = burst if burst is not None else max_concurrency
        self._clock = clock
        self._cond = threading.Condition()
        self._completed: deque[float] = deque()
        self._in_flight = 0
        self._limit = float(requests)
        self._next_start = -math.inf
        self._paused_until = -math.inf

    @property
    def current_limit(self) -> float:
        """The (possibly backed-off) requests per window in force now."""
        with self._cond:
            return self._limit

    def acquire(self) -> Permit:
        started = self._clock.monotonic()
        with self._cond:
            while True:
                wait = self._wait_needed()
                if wait is None:
                    self._in_flight += 1
                    interval = self.per_seconds / self._limit
                    now = self._clock.monotonic()
                    self._next_start = max(self._next_start, now - (self.burst - 1) * interval) + interval
                    return Permit(waited=max(0.0, self._clock.monotonic() - started))
                if wait == math.inf:
                    # Blocked on in-flight requests only: a release will wake us (no time needs to pass).
                    self._cond.wait()
                    continue
                self._cond.release()
                try:
                    self._clock.sleep(wait)
                finally:
                    self._cond.acquire()

    def _wait_needed(self) -> float | None:
        """Seconds to wait before a request may start, inf to wait for a release, None to go now."""
        now = self._clock.monotonic()
        # Deadlines are compared with a tolerance: after sleeping exactly the computed wait, float rounding must
        # not leave the deadline a hair in the future (an endless loop of zero-length sleeps).
        if self._paused_until > now + _EPSILON:
            return self._paused_until - now
        # The window is never shortened by the tolerance (a vendor counting strictly would answer 429 a hair early):
        # the wait for it is lengthened by the tolerance instead, so the re-check after the sleep always passes.
        while self._completed and self._completed[0] + self.per_seconds <= now:
            self._completed.popleft()
        if self._in_flight >= self.max_concurrency:
            return math.inf
        if self._in_flight + len(self._completed) >= max(1, math.floor(self._limit)):
            return self._completed[0] + self.per_seconds - now + _EPSILON if self._completed else math.inf
        if self._next_start > now + _EPSILON:
            return self._next_start - now
        return None

    def release(self, permit: Permit, *, sent: bool = True) -> None:
        with self._cond:
            self._in_flight -= 1
            if sent:
                self._completed.append(self._clock.monotonic())
            self._cond.notify_all()

    def throttle(self, seconds: float) -> None:
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)
            self._limit = max(1.0, self._limit / 2)
            self._cond.notify_all()

    def recover(self) -> None:
        with self._cond:
            if self._limit < self.requests:
                self._limit = min(float(self.requests), self._limit + self.requests / 10)
