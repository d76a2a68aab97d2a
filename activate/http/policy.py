"""How long to wait between attempts: exponential backoff with full jitter, and the throttle fallback for a 429."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import tenacity


def _attempt_state(attempt: int) -> tenacity.RetryCallState:
    # tenacity's wait strategies read only `attempt_number`; building the state by hand lets us reuse its tested
    # full-jitter arithmetic without running our loop inside tenacity.Retrying, whose single stop rule cannot
    # express "a 429 does not spend the retry budget" or "refresh once on 401".
    state = tenacity.RetryCallState(cast(Any, None), None, (), {})
    state.attempt_number = attempt
    return state


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to retry a failed API call.

    - `TransientError`: up to `max_attempts` attempts in all, waiting a full-jitter exponential backoff
      (uniform in [0, min(cap, initial * 2**(n-1))]) between them;
    - `RateLimited`: retried without spending attempts; waits the server's Retry-After, else an exponential
      (un-jittered, so the connection-wide pause is predictable) `throttle_initial * 2**(n-1)` capped at
      `throttle_cap`; gives up once one call would wait over `max_throttled_seconds` in all, or after
      `max_throttles` answers 429 in a row (a server answering `Retry-After: 0` forever).
    """

    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_cap: float = 30.0
    throttle_initial: float = 1.0
    throttle_cap: float = 60.0
    max_throttled_seconds: float = 900.0
    max_throttles: int = 200
    _jitter: tenacity.wait_random_exponential = field(init=False, repr=False, compare=False)
    _throttle: tenacity.wait_exponential = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        object.__setattr__(
            self, "_jitter", tenacity.wait_random_exponential(multiplier=self.backoff_initial, max=self.backoff_cap)
        )
        object.__setattr__(
            self, "_throttle", tenacity.wait_exponential(multiplier=self.throttle_initial, max=self.throttle_cap)
        )

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th transient failure of one call (1-based)."""
        return float(self._jitter(_attempt_state(failures)))

    def throttle_wait(self, retry_after: float | None, consecutive: int) -> float:
        """Seconds to pause after the `consecutive`-th 429 in a row (1-based): Retry-After when given."""
        if retry_after is not None:
            return retry_after
        return float(self._throttle(_attempt_state(consecutive)))


DEFAULT_POLICY = RetryPolicy()
