"""How a failed API call is classified; every retry decision is made from these types, never from strings.

    ActivateError
     └─ WriterError                 a destination call failed
         ├─ RateLimited             429, Slack `ratelimited`, HubSpot TEN_SECONDLY_ROLLING: wait, then retry
         │                          (waiting never spends the row's retry budget)
         ├─ TransientError          5xx, timeouts, resets, HubSpot 423, Salesforce UNABLE_TO_LOCK_ROW:
         │   │                      back off with jitter and retry; `sent=False` when the request surely never
         │   │                      reached the server (connect error), which makes even a non-idempotent call
         │   │                      safe to retry
         │   └─ Unreachable         not about any row: DNS, connection refused, TLS verification, connect or read
         │                          timeout. Retried once at most (TLS verification never); the caller notes it
         │                          in `RunStats`, and a run whose batches all end this way fails (kind
         │                          `connection`) with the cause, its rows left pending
         ├─ AuthExpired             401, INVALID_SESSION_ID: refresh credentials once, then retry
         ├─ QuotaExhausted          HubSpot DAILY, Salesforce REQUEST_LIMIT_EXCEEDED, our own daily budget:
         │                          stop the run cleanly (status partial), unsent rows stay pending
         └─ TerminalError           any other 4xx: not retried
             └─ AuthFailed          credentials refused after a refresh (or not refreshable): the run fails

Destinations translate their SDK's exceptions into these (see each destination's `classify`), and
`activate.http.caller.ApiCaller` acts on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from activate.errors import ActivateError

if TYPE_CHECKING:
    from activate.rows import RowResult


class WriterError(ActivateError):
    """A destination API call failed. `code` is the vendor's error code when there is one."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class RateLimited(WriterError):
    """The API asked us to slow down. `retry_after` is in seconds when the API said how long."""

    def __init__(
        self, message: str = "rate limited", *, retry_after: float | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code or "RATE_LIMITED", status=429)
        self.retry_after = retry_after


class TransientError(WriterError):
    """A failure that may pass: server error, timeout, lock contention.

    `sent` says whether the request may have reached the server: a non-idempotent call is only retried when it
    surely did not.
    """

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, sent: bool = True) -> None:
        super().__init__(message, code=code or "TRANSIENT", status=status)
        self.sent = sent


class Unreachable(TransientError):
    """The destination cannot be reached or does not answer; nothing about the rows.

    `message` is the transport exception as it was raised ("ConnectError: ..."); `target` is the URL that was
    tried and `reason` the cause in a few words ("certificate verify failed: self-signed certificate", "connection
    refused", "no answer within the timeout"); `cause` puts them in the one line a failed run reports.
    `retryable=False` when trying again cannot help (a certificate the client does not trust).
    """

    def __init__(
        self,
        message: str,
        *,
        target: str,
        reason: str,
        code: str = "CONNECT_ERROR",
        sent: bool = False,
        retryable: bool = True,
    ) -> None:
        super().__init__(message, code=code, sent=sent)
        self.target = target
        self.reason = reason
        self.retryable = retryable

    @property
    def cause(self) -> str:
        """`cannot reach https://host/path: certificate verify failed: ...`"""
        return (
            f"cannot reach {self.target}: {self.reason}"
            if self.target
            else f"cannot reach the destination: {self.reason}"
        )


class AuthExpired(WriterError):
    """The credentials expired; one refresh may fix it."""

    def __init__(self, message: str = "authentication expired", *, code: str | None = None) -> None:
        super().__init__(message, code=code or "AUTH_EXPIRED", status=401)


class QuotaExhausted(WriterError):
    """The daily API quota (the vendor's or our `daily_budget`) is spent: stop cleanly, keep rows pending.

    `results` holds the verdicts of rows the destination already confirmed before the quota ran out.
    """

    def __init__(self, message: str, *, code: str | None = None, results: Sequence[RowResult] = ()) -> None:
        super().__init__(message, code=code or "QUOTA_EXHAUSTED", status=429)
        self.results = list(results)


class TerminalError(WriterError):
    """A refusal that retrying cannot fix."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code or "TERMINAL", status=status)


class AuthFailed(TerminalError):
    """Credentials were refused and refreshing did not (or cannot) help: the run fails."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = 401) -> None:
        super().__init__(message, code=code or "AUTH_FAILED", status=status)
