"""`ApiCaller`: the one way a destination sends an API request (limiter + retry policy + quota budget)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from activate.clock import SYSTEM_CLOCK, Clock
from activate.http.budget import QuotaBudget
from activate.http.classify import transport_error
from activate.http.errors import (
    AuthExpired,
    AuthFailed,
    QuotaExhausted,
    RateLimited,
    TransientError,
    Unreachable,
    WriterError,
)
from activate.http.limiter import RateLimiter, WindowLimiter
from activate.http.limits import RateLimits
from activate.http.policy import DEFAULT_POLICY, RetryPolicy
from activate.http.stats import RunStats

T = TypeVar("T")


class ApiCaller:
    """One per connection per process: limiter + retry policy + quota budget. Thread-safe.

    `call(send)` runs `send` (exactly ONE API request, raising `activate.http.errors` types on failure) until it
    succeeds or the policy gives up:

    - before each attempt the limiter is acquired (window, concurrency, pause) and the daily budget charged;
    - `RateLimited`: the whole connection pauses for Retry-After (or the throttle backoff) and backs its rate
      off; retried without spending attempts, until one call has waited `max_throttled_seconds`;
    - `TransientError`: full-jitter backoff, up to `max_attempts`; never re-sent when the call is not idempotent
      and the request may have reached the server (`sent=True`); `Unreachable`: two attempts at most (one for a
      TLS verification failure), then noted in `stats.unreachable` for the engine;
    - `AuthExpired`: `refresh()` once, then retry; a second one (or no `refresh`) raises `AuthFailed`;
    - `QuotaExhausted`, `TerminalError`: raised at once (a vendor quota error also closes the budget for the day).

    Exceptions that are neither `WriterError` nor transport failures (bugs) propagate unchanged.
    """

    def __init__(
        self,
        key: str,
        limits: RateLimits,
        *,
        clock: Clock = SYSTEM_CLOCK,
        policy: RetryPolicy = DEFAULT_POLICY,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.key = key
        self.limits = limits
        self.clock = clock
        self.policy = policy
        self.max_concurrency = limits.max_concurrency
        self.limiter: RateLimiter = limiter or _build_limiter(key, limits, clock)
        self.budget = QuotaBudget(limits.daily_budget, clock)

    def observe_quota(self, *, used: int | None = None, limit: int | None = None, remaining: int | None = None) -> None:
        """Feed daily-quota figures read from response headers (HubSpot `X-HubSpot-RateLimit-Daily-Remaining`,
        Salesforce `Sforce-Limit-Info: api-usage=N/M`) into the budget."""
        self.budget.observe(used=used, limit=limit, remaining=remaining)

    def call(
        self,
        send: Callable[[], T],
        *,
        stats: RunStats,
        idempotent: bool = True,
        refresh: Callable[[], None] | None = None,
        cost: int = 1,
    ) -> T:
        """Run `send` under the limiter and budget, retrying per policy; return its value or raise the final
        `WriterError`."""
        failures = 0
        throttles = 0
        throttled = 0.0
        refreshed = False
        attempt = 0
        while True:
            permit = self.limiter.acquire()
            stats.add(throttled_seconds=permit.waited)
            try:
                self.budget.spend(cost)
            except QuotaExhausted:
                self.limiter.release(permit, sent=False)
                raise
            attempt += 1
            stats.add(api_calls=1, retries=1 if attempt > 1 else 0)
            try:
                result = send()
            except BaseException as exc:
                error = exc if isinstance(exc, WriterError) else transport_error(exc)
                self.limiter.release(permit, sent=not (isinstance(error, TransientError) and not error.sent))
                if error is None:
                    raise
                if isinstance(error, RateLimited):
                    throttles += 1
                    pause = self.policy.throttle_wait(error.retry_after, throttles)
                    throttled += pause
                    if throttled > self.policy.max_throttled_seconds or throttles > self.policy.max_throttles:
                        raise RateLimited(
                            f"still rate limited after {throttles} answers 429 and {throttled - pause:.0f}s of "
                            f"waiting: {error.message}",
                            retry_after=error.retry_after,
                            code=error.code,
                        ) from exc
                    self.limiter.throttle(pause)
                    continue
                throttles = 0
                if isinstance(error, AuthExpired):
                    if refresh is None or refreshed:
                        why = "after a refresh" if refreshed else "and the connection cannot refresh them"
                        raise AuthFailed(f"credentials refused {why}: {error.message}") from exc
                    refresh()
                    refreshed = True
                    continue
                if isinstance(error, TransientError):
                    failures += 1
                    if failures >= self._attempts_for(error) or (error.sent and not idempotent):
                        if isinstance(error, Unreachable):
                            stats.note_unreachable(error)
                        if error is exc:
                            raise
                        raise error from exc
                    self.clock.sleep(self.policy.backoff(failures))
                    continue
                if isinstance(error, QuotaExhausted):
                    self.budget.exhaust()
                if error is exc:
                    raise
                raise error from exc
            self.limiter.release(permit)
            self.limiter.recover()
            return result

    def _attempts_for(self, error: TransientError) -> int:
        """How many attempts a transient failure gets: an unreachable destination two at most (one when trying
        again cannot help), so a run against a dead endpoint fails in two attempts' time, not five."""
        if isinstance(error, Unreachable):
            return min(self.policy.max_attempts, 2 if error.retryable else 1)
        return self.policy.max_attempts


def _build_limiter(key: str, limits: RateLimits, clock: Clock) -> RateLimiter:
    if limits.backend == "redis":
        from activate.http.redis_limiter import RedisWindowLimiter

        assert limits.redis_url is not None  # RateLimits validates this
        return RedisWindowLimiter(key, limits, clock)
    return WindowLimiter(limits.requests, limits.per_seconds, limits.max_concurrency, clock)


_CALLERS: dict[str, ApiCaller] = {}
_CALLERS_LOCK = threading.Lock()


def caller_for(key: str, limits: RateLimits, *, clock: Clock = SYSTEM_CLOCK) -> ApiCaller:
    """Process-wide: every sync using the same connection key shares one caller (one limiter, one budget).

    A caller is rebuilt when the limits or the clock for its key change (a reloaded config, a test's FakeClock).
    """
    with _CALLERS_LOCK:
        caller = _CALLERS.get(key)
        if caller is None or caller.limits != limits or caller.clock is not clock:
            caller = ApiCaller(key, limits, clock=clock)
            _CALLERS[key] = caller
        return caller


def forget_callers() -> None:
    """Drop every shared caller (tests; a long-lived process after reloading its config)."""
    with _CALLERS_LOCK:
        _CALLERS.clear()
