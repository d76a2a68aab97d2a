"""Status and exception -> `WriterError` tables shared by every destination.

Retry decisions are made from the returned type (see `activate.http.errors`), never from message strings:

    status            error
    2xx, 3xx          None
    429               RateLimited (Retry-After parsed, seconds or HTTP date, clamped)
    401               AuthExpired
    408, 423, 425     TransientError (request timeout, HubSpot "locked", too early)
    5xx               TransientError
    other 4xx         TerminalError

Exceptions: a destination that cannot be reached or does not answer -> `Unreachable` (a `TransientError`): TLS
verification failures (never retried), refused connections, unresolved names and connect timeouts (sent=False,
the request never left), read timeouts (sent=True). Resets and protocol errors -> TransientError(sent=True),
because the server may have acted. Decided from the exception types in the cause chain, never from messages.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any

from activate.clock import SYSTEM_CLOCK
from activate.http.errors import (
    AuthExpired,
    AuthFailed,
    RateLimited,
    TerminalError,
    TransientError,
    Unreachable,
    WriterError,
)

MAX_RETRY_AFTER_SECONDS = 300.0
_TRANSIENT_4XX = frozenset({408, 423, 425})
_Types = tuple[type[BaseException], ...]


def parse_retry_after(
    value: str | None, *, now: datetime, max_seconds: float = MAX_RETRY_AFTER_SECONDS
) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date, clamped to [0, max_seconds].

    None when absent or unparseable (the caller then falls back to its backoff policy).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), max_seconds)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def body_message(body: bytes | str | Any | None, limit: int = 500) -> str:
    """A short human message from an error body: its `message`/`error` field when JSON, else the text."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    parsed: Any = body
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return body.strip()[:limit]
    if isinstance(parsed, dict):
        for field in ("message", "error_description", "error", "detail"):
            value = parsed.get(field)
            if isinstance(value, str) and value:
                return value[:limit]
    return json.dumps(parsed, default=str)[:limit]


def classify_response(
    status: int, headers: Mapping[str, str], body: bytes | str | None = None, *, now: datetime | None = None
) -> WriterError | None:
    """The error a response stands for, or None when it succeeded (2xx/3xx)."""
    if status < 400:
        return None
    detail = body_message(body)
    message = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429:
        retry_after = parse_retry_after(_header(headers, "Retry-After"), now=now or SYSTEM_CLOCK.now())
        return RateLimited(message, retry_after=retry_after)
    if status == 401:
        return AuthExpired(message)
    if status == 403:
        # the credentials are valid but lack a permission (a scope, an IP allow list): no row can fix that
        return AuthFailed(message, code="HTTP_403", status=403)
    if status >= 500 or status in _TRANSIENT_4XX:
        return TransientError(message, status=status, code=f"HTTP_{status}")
    return TerminalError(message, status=status, code=f"HTTP_{status}")


@cache
def _exception_kinds() -> tuple[_Types, _Types, _Types]:
    """(surely-not-sent, maybe-sent) exception classes of the HTTP stacks the SDKs use, when installed."""
    not_sent: list[type[BaseException]] = [ConnectionRefusedError, socket.gaierror]
    maybe_sent: list[type[BaseException]] = [TimeoutError, ConnectionError]
    timeouts: list[type[BaseException]] = [TimeoutError]
    try:
        import httpx

        not_sent += [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout]
        maybe_sent += [httpx.TransportError]
        timeouts += [httpx.TimeoutException]
    except ImportError:
        pass
    try:
        import requests

        not_sent += [requests.exceptions.ConnectTimeout]
        maybe_sent += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
        timeouts += [requests.exceptions.Timeout]
    except ImportError:
        pass
    try:
        import urllib3.exceptions as u3

        not_sent += [u3.ConnectTimeoutError, u3.NewConnectionError]
        maybe_sent += [u3.HTTPError]
        timeouts += [u3.TimeoutError]
    except ImportError:
        pass
    return tuple(not_sent), tuple(maybe_sent), tuple(timeouts)


def _surely_not_sent(exc: BaseException, not_sent: tuple[type[BaseException], ...]) -> bool:
    # requests wraps urllib3's NewConnectionError in ConnectionError(MaxRetryError(reason=...)): walk the chain.
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, not_sent):
            return True
        reason = getattr(current, "reason", None)
        wrapped = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = reason if isinstance(reason, BaseException) else wrapped or current.__cause__ or current.__context__
    return False


def transport_error(exc: BaseException) -> TransientError | None:
    """A network-level failure (connect error, timeout, reset, protocol error) as a `TransientError`; None for
    anything else, which the caller should let propagate (it is a bug, not an outage)."""
    not_sent, maybe_sent, timeouts = _exception_kinds()
    if not isinstance(exc, maybe_sent + not_sent):
        return None
    name = type(exc).__name__
    message = f"{name}: {exc}" if str(exc) else name
    target = _target_of(exc)
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = f"certificate verify failed: {cause.verify_message or cause.reason or cause}"
            return Unreachable(message, target=target, reason=reason, code="TLS_ERROR", retryable=False)
        if isinstance(cause, ssl.SSLError):
            reason = f"TLS handshake failed: {cause.reason or cause}"
            return Unreachable(message, target=target, reason=reason, code="TLS_ERROR")
    if _surely_not_sent(exc, not_sent):
        reason = _unreachable_reason(exc, timeouts)
        return Unreachable(message, target=target, reason=reason, code="CONNECT_ERROR", sent=False)
    if isinstance(exc, timeouts):
        return Unreachable(message, target=target, reason="no answer within the timeout", code="TIMEOUT", sent=True)
    return TransientError(message, code="CONNECTION_ERROR", sent=True)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (`__cause__`, `__context__`, urllib3's `reason`, requests' first arg)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        reason = getattr(current, "reason", None)
        wrapped = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = reason if isinstance(reason, BaseException) else wrapped or current.__cause__ or current.__context__
    return seen


def _unreachable_reason(exc: BaseException, timeouts: tuple[type[BaseException], ...]) -> str:
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"name not resolved ({cause.strerror or cause})"
    if isinstance(exc, timeouts):
        return "no connection within the timeout"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _target_of(exc: BaseException) -> str:
    """The URL a failed request was for (httpx and requests keep it on the exception), without its query."""
    try:
        request = getattr(exc, "request", None)  # httpx raises RuntimeError when the request is not set
    except RuntimeError:
        request = None
    url = getattr(request, "url", None) or getattr(exc, "url", None)
    if url is None:
        return ""
    return str(url).split("?", 1)[0]


def classify_exception(exc: BaseException) -> WriterError:
    """A failure raised while calling an API, as a `WriterError`: a `WriterError` unchanged, a transport failure
    as `TransientError` (`sent=False` only when the request surely never left), anything else as `TerminalError`."""
    if isinstance(exc, WriterError):
        return exc
    error = transport_error(exc)
    if error is not None:
        return error
    return TerminalError(f"unexpected error calling the API: {type(exc).__name__}: {exc}", code="UNEXPECTED")
