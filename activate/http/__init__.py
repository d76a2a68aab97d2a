"""The writer toolkit every destination sends its API calls through.

- `RateLimits` (`limits`): a connection's vendor default limits, overridden by the user's `rate_limit:` block;
- `ApiCaller` / `caller_for` (`caller`): limiter + retry policy + daily budget, one per connection per process;
- `classify_response` / `classify_exception` / `parse_retry_after` (`classify`): status and exception tables;
- the error tree in `errors`, from which every retry decision is made;
- `RunStats` (`stats`): the API-call counters a run accumulates.
"""

from __future__ import annotations

from activate.http.budget import QuotaBudget
from activate.http.caller import ApiCaller, caller_for, forget_callers
from activate.http.classify import classify_exception, classify_response, parse_retry_after, transport_error
from activate.http.errors import (
    AuthExpired,
    AuthFailed,
    QuotaExhausted,
    RateLimited,
    TerminalError,
    TransientError,
    Unreachable,
    WriterError,
)
from activate.http.limiter import Permit, RateLimiter, WindowLimiter
from activate.http.limits import RateLimits
from activate.http.policy import RetryPolicy
from activate.http.stats import RunStats

__all__ = [
    "ApiCaller",
    "AuthExpired",
    "AuthFailed",
    "Permit",
    "QuotaBudget",
    "QuotaExhausted",
    "RateLimited",
    "RateLimiter",
    "RateLimits",
    "RetryPolicy",
    "RunStats",
    "TerminalError",
    "TransientError",
    "Unreachable",
    "WindowLimiter",
    "WriterError",
    "caller_for",
    "classify_exception",
    "classify_response",
    "forget_callers",
    "parse_retry_after",
    "transport_error",
]
