"""Salesforce's failures as activate's error types: request-level (`classify`) and per record (`record_verdict`).

Request level (simple-salesforce raises one exception per status):

    401 INVALID_SESSION_ID              AuthExpired (credential methods log in again once)
                                        AuthFailed with a clear message for `session` auth (cannot log in)
    403 REQUEST_LIMIT_EXCEEDED          QuotaExhausted: "TotalRequests Limit exceeded" is the org's daily allocation
        (ConcurrentPerOrgLongTxn...)    RateLimited: too many concurrent long-running requests, wait and retry
    403 other                           TerminalError (permissions, API disabled)
    429                                 RateLimited (Retry-After honoured)
    5xx                                 TransientError
    400/404 and other 4xx               TerminalError (code from the body)

Per record (`errors[].statusCode` of a collections result, the code in a Bulk `sf__Error` cell):

    UNABLE_TO_LOCK_ROW                  retried with backoff by the writer, then `failed`
    UNKNOWN_EXCEPTION, SERVER_UNAVAILABLE, REQUEST_RUNNING_TOO_LONG ...   `failed` (transient, next run)
    anything else (DUPLICATE_VALUE, INVALID_FIELD, REQUIRED_FIELD_MISSING, FIELD_CUSTOM_VALIDATION_EXCEPTION,
    STRING_TOO_LONG, DUPLICATES_DETECTED, ...)   `rejected` with code and message
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from activate.destinations.base import RowResult, RowStatus
from activate.http.classify import transport_error
from activate.http.errors import (
    AuthExpired,
    AuthFailed,
    QuotaExhausted,
    RateLimited,
    TerminalError,
    TransientError,
    WriterError,
)

LOCK_ERROR = "UNABLE_TO_LOCK_ROW"
TRANSIENT_RECORD_ERRORS = frozenset(
    {LOCK_ERROR, "UNKNOWN_EXCEPTION", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"}
)


def _first_error(content: Any) -> tuple[str | None, str]:
    """(errorCode, message) from a REST error body: `[{"errorCode": ..., "message": ...}]`."""
    if isinstance(content, bytes | str):
        try:
            content = json.loads(content)
        except ValueError:
            text = content.decode(errors="replace") if isinstance(content, bytes) else content
            return None, text.strip()[:500]
    if isinstance(content, list) and content and isinstance(content[0], dict):
        content = content[0]
    if isinstance(content, dict):
        code = content.get("errorCode") or content.get("error")
        message = content.get("message") or content.get("error_description") or ""
        return (str(code) if code else None), str(message)
    return None, str(content)[:500]


def classify(
    exc: BaseException,
    *,
    refreshable: bool,
    usage: Callable[[], str],
    retry_after: float | None = None,
    session_expired: str,
) -> WriterError | None:
    """The `WriterError` a simple-salesforce or transport exception stands for; None for a bug (let it raise).

    `usage` describes the org's API usage for quota messages; `retry_after` is what the failed response's
    Retry-After header said (the SDK's exceptions do not carry headers).
    """
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError, SalesforceOperationError

    if isinstance(exc, WriterError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        return AuthFailed(str(exc), code=str(exc.code or "AUTH_FAILED"))
    if isinstance(exc, SalesforceOperationError):
        return TerminalError(f"Salesforce Bulk API: {exc}", code="BULK_ERROR")
    if not isinstance(exc, SalesforceError):
        return transport_error(exc)
    code, message = _first_error(exc.content)
    status = exc.status
    detail = f"{code}: {message}" if code else message
    if status == 401:
        if not refreshable:
            return AuthFailed(session_expired, code=code or "INVALID_SESSION_ID")
        return AuthExpired(f"Salesforce session expired ({detail})", code=code or "INVALID_SESSION_ID")
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        if "concurrent" in message.lower():
            return RateLimited(f"Salesforce concurrency limit: {detail}", retry_after=retry_after, code=code)
        return QuotaExhausted(
            f"Salesforce refused the request, the org's daily API allocation is spent ({detail}); {usage()}",
            code=code,
        )
    if status == 429:
        return RateLimited(f"Salesforce rate limit: {detail}", retry_after=retry_after, code=code)
    if status >= 500:
        return TransientError(
            f"Salesforce server error {status}: {detail}", status=status, code=code or f"HTTP_{status}"
        )
    return TerminalError(f"Salesforce refused the request ({status}): {detail}", status=status, code=code)


def record_verdict(key: str, result: dict[str, Any], attempts: int) -> RowResult:
    """One collections result (`{"id", "success", "errors": [{"statusCode", "message", "fields"}]}`) as a RowResult.

    A lock error comes back `failed` with code UNABLE_TO_LOCK_ROW: the writer retries those rows.
    """
    if result.get("success"):
        return RowResult.ok(key, result.get("id"), attempts=attempts)
    errors = result.get("errors") or [{"statusCode": "UNKNOWN_ERROR", "message": "Salesforce gave no reason"}]
    code = str(errors[0].get("statusCode") or "UNKNOWN_ERROR")
    message = "; ".join(_describe(e) for e in errors)
    return verdict(key, code, message, attempts)


def bulk_verdict(key: str, error_cell: str, attempts: int) -> RowResult:
    """A Bulk API `sf__Error` cell (`CODE:message:fields --`) as a RowResult."""
    text = error_cell.strip().removesuffix("--").strip()
    code, _, rest = text.partition(":")
    message = rest.rsplit(":", 1)[0] if rest.count(":") >= 1 and not rest.endswith(":") else rest.rstrip(":")
    return verdict(key, code or "UNKNOWN_ERROR", message.strip() or text, attempts)


def verdict(key: str, code: str, message: str, attempts: int) -> RowResult:
    status = RowStatus.FAILED if code in TRANSIENT_RECORD_ERRORS else RowStatus.REJECTED
    return RowResult(key, status, None, code, message, attempts)


def _describe(error: dict[str, Any]) -> str:
    message = f"{error.get('statusCode')}: {error.get('message')}"
    fields = error.get("fields") or []
    return f"{message} (fields: {', '.join(fields)})" if fields else message
