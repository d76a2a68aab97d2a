"""Rows to HubSpot inputs and HubSpot answers back to one `RowResult` per row.

Results are joined to rows by identity, never by position: first the `objectWriteTraceId` (the row key, sent with
every input and echoed in `results[]` and in `errors[].context.objectWriteTraceId`), then the id HubSpot names
(`results[].properties[idProperty]`, `errors[].context.ids`: the idProperty value, or the record id for writes by
id). A row HubSpot's answer does not mention is `failed` (retried next run), never assumed written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from activate.destinations.base import RowOp, RowResult, RowStatus
from activate.destinations.encoding import plain_number
from activate.destinations.hubspot.classify import error_codes

# Error categories of a 207 that may pass on their own: the row is `failed` (retried next run), not `rejected`.
_TRANSIENT_CATEGORIES = frozenset({"RATE_LIMITS", "LOCKED", "INTERNAL_ERROR", "TIMEOUT", "SERVICE_UNAVAILABLE"})


def render_value(value: Any) -> str:
    """A warehouse value as the string HubSpot stores: '' clears a property, booleans are `true`/`false`,
    datetimes ISO 8601 in UTC, multi-select lists `;`-separated."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return plain_number(value)
    if isinstance(value, list | tuple | set):
        return ";".join(render_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def render_properties(fields: Mapping[str, Any] | None) -> dict[str, str]:
    return {name: render_value(value) for name, value in (fields or {}).items()}


def id_key(property_name: str | None, value: Any) -> str:
    """How HubSpot compares values of a unique property: emails case-insensitively, anything else as text."""
    text = render_value(value).strip()
    return text.lower() if property_name == "email" else text


def map_batch_reply(
    body: Any,
    rows: Sequence[RowOp],
    *,
    id_property: str | None,
    ids: Mapping[str, str],
    attempts: int = 1,
) -> list[RowResult]:
    """One result per row from a 200/201/207 batch answer.

    `ids` maps each row key to the id it was sent with (idProperty value, or record id when `id_property` is None);
    it lets results and errors that carry no `objectWriteTraceId` still find their row.
    """
    by_key = {row.key: row for row in rows}
    by_id: dict[str, list[str]] = {}
    for key, sent_id in ids.items():
        by_id.setdefault(id_key(id_property, sent_id), []).append(key)
    verdicts: dict[str, RowResult] = {}
    payload: Mapping[str, Any] = body if isinstance(body, Mapping) else {}

    for error in payload.get("errors") or []:
        if not isinstance(error, Mapping):
            continue
        codes = error_codes(error) or ["HUBSPOT_ERROR"]
        category = str(error.get("category") or "")
        message = str(error.get("message") or category or "HubSpot refused this record")
        status = RowStatus.FAILED if category in _TRANSIENT_CATEGORIES else RowStatus.REJECTED
        for key in _error_keys(error, by_key, by_id, id_property):
            verdicts.setdefault(key, RowResult(key, status, None, codes[0], message, attempts))

    for result in payload.get("results") or []:
        if not isinstance(result, Mapping) or result.get("id") is None:
            continue
        for key in _result_keys(result, by_key, by_id, id_property):
            verdicts.setdefault(key, RowResult.ok(key, str(result["id"]), attempts=attempts))

    return [
        verdicts.get(row.key)
        or RowResult.failed(row.key, "NO_RESULT", "HubSpot's answer did not mention this row", attempts)
        for row in rows
    ]


def _error_keys(
    error: Mapping[str, Any], by_key: Mapping[str, RowOp], by_id: Mapping[str, list[str]], id_property: str | None
) -> list[str]:
    context = error.get("context")
    if not isinstance(context, Mapping):
        return []
    traced = [str(t) for t in context.get("objectWriteTraceId") or [] if str(t) in by_key]
    if traced:
        return traced
    return [key for sent in context.get("ids") or [] for key in by_id.get(id_key(id_property, sent), [])]


def _result_keys(
    result: Mapping[str, Any], by_key: Mapping[str, RowOp], by_id: Mapping[str, list[str]], id_property: str | None
) -> list[str]:
    trace = result.get("objectWriteTraceId")
    if trace is not None and str(trace) in by_key:
        return [str(trace)]
    properties = result.get("properties")
    if id_property is not None and isinstance(properties, Mapping) and properties.get(id_property) is not None:
        return by_id.get(id_key(id_property, properties[id_property]), [])
    if id_property is None:
        return by_id.get(id_key(None, result.get("id")), [])
    return []
