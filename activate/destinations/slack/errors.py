"""Slack answers as `activate.http.errors` types.

Slack reports most failures as HTTP 200 `{"ok": false, "error": code}`; only rate limits (429 + `Retry-After`)
and outages (5xx) use the status. The code decides who is at fault:

    429 / `ratelimited` / `rate_limited`        RateLimited (Retry-After honoured, else the toolkit's backoff);
                                                `rate_limited` comes as HTTP 200 ok:false (chat.postMessage,
                                                chat.update: "posted too many messages"), never the row's fault
    5xx / `internal_error`, `fatal_error`, ...  TransientError
    `invalid_auth`, `token_revoked`, ...        AuthFailed: the run fails, no row is to blame
    `missing_scope`, `not_allowed_token_type`   SlackRunError (TerminalError): the app's setup, the run fails
    anything else (`channel_not_found`, ...)    SlackRowError (TerminalError): this row is rejected with the code
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from activate.http.classify import classify_response, parse_retry_after
from activate.http.errors import AuthFailed, RateLimited, TerminalError, TransientError, WriterError

AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "org_login_required"}
)
RATE_LIMIT_ERRORS = frozenset({"ratelimited", "rate_limited"})
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
RUN_ERRORS = frozenset(
    {
        "missing_scope",
        "not_allowed_token_type",
        "no_permission",
        "access_denied",
        "team_access_not_granted",
        "two_factor_setup_required",
        "ekm_access_denied",
        "enterprise_is_restricted",
        "unknown_method",
        "method_deprecated",
        "deprecated_endpoint",
        "invalid_arg_name",
        "invalid_charset",
        "invalid_form_data",
        "invalid_post_type",
        "missing_post_type",
    }
)


class SlackRowError(TerminalError):
    """Slack refused this row's message (`code` is Slack's error): the row is rejected, the run goes on."""


class SlackRunError(TerminalError):
    """Slack refused the app itself (scopes, token type): every row would fail the same way, so the run fails."""


def classify_slack(method: str, status: int, headers: Mapping[str, Any], data: Any, *, now: datetime) -> WriterError:
    """The error one failed Slack call stands for (`data` is the decoded body)."""
    code = data.get("error") if isinstance(data, Mapping) else None
    code = code if isinstance(code, str) and code else None
    detail = _detail(method, code, data)
    if status == 429 or code in RATE_LIMIT_ERRORS:
        retry_after = parse_retry_after(_header(headers, "Retry-After"), now=now)
        return RateLimited(
            f"{method} rate limited ({code or 'HTTP 429'})", retry_after=retry_after, code=code or "ratelimited"
        )
    if status >= 400 and status != 404:
        error = classify_response(status, {str(k): str(v) for k, v in headers.items()}, None, now=now)
        if error is not None:
            return error
    if code in AUTH_ERRORS:
        return AuthFailed(f"Slack refused the token: {detail}", code=code)
    if code in TRANSIENT_ERRORS:
        return TransientError(detail, code=code, status=status)
    if code is None:
        return TransientError(f"{method}: unexpected answer (HTTP {status}): {str(data)[:200]}", status=status)
    if code in RUN_ERRORS or status == 404:
        return SlackRunError(detail, code=code, status=status)
    return SlackRowError(detail, code=code, status=status)


def _detail(method: str, code: str | None, data: Any) -> str:
    text = f"{method}: {code}"
    if isinstance(data, Mapping):
        needed = data.get("needed")
        if needed:
            text += f" (needs scope {needed})"
        messages = (data.get("response_metadata") or {}).get("messages")
        if messages:
            text += " - " + "; ".join(str(m) for m in messages)
    return text


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            return str(value[0] if isinstance(value, list) and value else value)
    return None
