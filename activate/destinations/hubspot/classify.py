"""HubSpot's answers as `activate.http.errors` types: the only place that reads HubSpot error bodies.

    status / body                                  error
    429 policyName DAILY                           QuotaExhausted            stop the run cleanly, rows pending
    429 policyName TEN_SECONDLY_ROLLING, other     RateLimited               wait (Retry-After if sent), retry
    401 INVALID_ / EXPIRED_AUTHENTICATION          AuthExpired               refresh the OAuth token once
    423 locked, 477 migration, 5xx                 TransientError            back off and retry
    400 VALIDATION_ERROR with property errors,     BatchRefused              the batch's data was refused: split it
    409 CONFLICT                                                             to isolate the bad rows
    any other 4xx (unknown object type,            TerminalError             the run fails with HubSpot's message
    non-unique idProperty, 403 missing scopes)

`BatchRefused` is a `TerminalError` (retrying the same request cannot help), so code that does not split batches
treats it as any other refusal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from activate.http.classify import parse_retry_after
from activate.http.errors import AuthExpired, QuotaExhausted, RateLimited, TerminalError, TransientError, WriterError

_TRANSIENT_STATUSES = frozenset({408, 423, 477})
# A 400 that HubSpot raises for the values of some inputs (as opposed to the request as a whole). HubSpot's batch
# endpoints refuse the whole batch for one bad input unless it can report the input per record (207).
_ROW_DATA_PREFIX = "Property values were not valid"


class BatchRefused(TerminalError):
    """HubSpot refused a whole batch because of the data of some of its inputs; `codes` are HubSpot's error codes
    (`INVALID_EMAIL`, `PROPERTY_DOESNT_EXIST`, `CONFLICT`, ...) in the order reported."""

    def __init__(self, message: str, *, codes: list[str], status: int) -> None:
        super().__init__(message, code=codes[0] if codes else "VALIDATION_ERROR", status=status)
        self.codes = codes


def parse_body(body: bytes | str | None) -> Any:
    """An answer's JSON body, or None when there is none or it is not JSON."""
    if body is None:
        return None
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def error_codes(error: Mapping[str, Any]) -> list[str]:
    """The codes of one HubSpot error object: its `errors[].code`, else its `subCategory`, else its `category`."""
    codes = [d["code"] for d in error.get("errors") or [] if isinstance(d, Mapping) and d.get("code")]
    if codes:
        return [str(c) for c in codes]
    sub = error.get("subCategory")
    if isinstance(sub, str) and sub:
        return [sub]
    category = error.get("category")
    return [str(category)] if category else []


def classify_hubspot(
    status: int, headers: Mapping[str, str] | None, body: bytes | str | None, *, now: datetime
) -> WriterError:
    """The error a non-2xx HubSpot answer stands for."""
    parsed = parse_body(body)
    fields: Mapping[str, Any] = parsed if isinstance(parsed, Mapping) else {}
    text = str(fields.get("message") or (body.decode(errors="replace") if isinstance(body, bytes) else body) or "")
    category = str(fields.get("category") or "")
    message = f"HubSpot {status}{' ' + category if category else ''}: {text[:500]}".rstrip(": ")
    if status == 429:
        policy = str(fields.get("policyName") or "")
        if policy == "DAILY":
            return QuotaExhausted(f"HubSpot's daily API limit is spent: {text}", code="DAILY")
        retry_after = parse_retry_after(_header(headers, "Retry-After"), now=now)
        return RateLimited(message, retry_after=retry_after, code=policy or "RATE_LIMITED")
    if status == 401:
        return AuthExpired(message, code=category or "INVALID_AUTHENTICATION")
    if status >= 500 or status in _TRANSIENT_STATUSES:
        return TransientError(message, status=status, code=category or f"HTTP_{status}")
    if status == 409 or (status == 400 and text.startswith(_ROW_DATA_PREFIX)):
        return BatchRefused(message, codes=error_codes(fields) or [category or "VALIDATION_ERROR"], status=status)
    return TerminalError(message, status=status, code=category or f"HTTP_{status}")


def quota_figures(headers: Mapping[str, str] | None) -> tuple[int | None, int | None]:
    """(daily limit, daily remaining) from `X-HubSpot-RateLimit-Daily` / `-Daily-Remaining`, when present."""

    def number(name: str) -> int | None:
        value = _header(headers, name)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    return number("X-HubSpot-RateLimit-Daily"), number("X-HubSpot-RateLimit-Daily-Remaining")
