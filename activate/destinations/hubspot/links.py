"""HubSpot associations through the CRM v4 batch endpoints, one verdict per link.

    associate, type given      POST /crm/v4/associations/{from}/{to}/batch/create            100 pairs a call
    associate, no type         POST /crm/v4/associations/{from}/{to}/batch/associate/default  (unlabeled type)
    dissociate                 POST /crm/v4/associations/{from}/{to}/batch/archive           100 from-records a call

Every call goes through the writer's `_call` (the connection's ApiCaller: the same limiter, retry policy and daily
budget as the record writes, so records and links together stay within HubSpot's window). A 207 names refused
inputs by `context.fromObjectId` / `toObjectId`; those links are rejected (or failed, for transient categories),
the rest of the batch succeeds. A link HubSpot's answer does not mention is `failed` (retried next run).
Archive answers 204 for pairs whether or not they were linked: every link of the call is then absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from activate.destinations.base import LinkOp, LinkResult
from activate.destinations.hubspot.client import HubSpotApi, Reply
from activate.http.errors import RateLimited, TransientError
from activate.rows import RowStatus

T = TypeVar("T")
MAX_INPUTS = 100
_TRANSIENT = frozenset({"RATE_LIMITS", "LOCKED", "INTERNAL_ERROR", "TIMEOUT", "SERVICE_UNAVAILABLE"})


class HubSpotLinks:
    """Associations from records of one object type, sent through `call` (one request per `send`)."""

    def __init__(self, api: HubSpotApi, call: Callable[[Callable[[], Reply]], Reply], from_type: str) -> None:
        self.api = api
        self.call = call
        self.from_type = from_type

    def associate(self, links: Sequence[LinkOp]) -> list[LinkResult]:
        results: list[LinkResult] = []
        groups: dict[tuple[str, int | None, str], list[LinkOp]] = {}
        for link in links:
            groups.setdefault((link.to_object, link.type_id, link.category), []).append(link)
        for (to_object, type_id, category), group in groups.items():
            kind = "create" if type_id is not None else "associate/default"
            spec = (category, type_id) if type_id is not None else None
            for chunk in _chunks(group, MAX_INPUTS):
                pairs = [(link.from_id, [link.to_id]) for link in chunk]
                send = partial(self.api.associations, kind, self.from_type, to_object, pairs, spec)
                try:
                    reply = self.call(send)
                except (TransientError, RateLimited) as exc:
                    results += [_failed(link, exc.code or "TRANSIENT", exc.message) for link in chunk]
                    continue
                results += _verdicts(reply.body, chunk)
        return results

    def dissociate(self, links: Sequence[LinkOp]) -> list[LinkResult]:
        results: list[LinkResult] = []
        by_target: dict[str, dict[str, list[LinkOp]]] = {}
        for link in links:
            by_target.setdefault(link.to_object, {}).setdefault(link.from_id, []).append(link)
        for to_object, by_from in by_target.items():
            for chunk in _chunks(list(by_from.items()), MAX_INPUTS):
                pairs = [(from_id, [link.to_id for link in group]) for from_id, group in chunk]
                sent = [link for _, group in chunk for link in group]
                try:
                    self.call(partial(self.api.associations, "archive", self.from_type, to_object, pairs, None))
                except (TransientError, RateLimited) as exc:
                    results += [_failed(link, exc.code or "TRANSIENT", exc.message) for link in sent]
                    continue
                results += [LinkResult(link, RowStatus.SUCCEEDED) for link in sent]
        return results


def _verdicts(body: Any, links: Sequence[LinkOp]) -> list[LinkResult]:
    """One verdict per link from a create (`fromObjectId`/`toObjectId`) or default (`from.id`/`to.id`) answer."""
    payload: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    by_pair = {(link.from_id, link.to_id): link for link in links}
    verdicts: dict[tuple[str, str], LinkResult] = {}
    for error in payload.get("errors") or []:
        if not isinstance(error, Mapping):
            continue
        raw_context = error.get("context")
        context: Mapping[str, Any] = raw_context if isinstance(raw_context, Mapping) else {}
        from_ids = {str(i) for i in context.get("fromObjectId") or []}
        to_ids = {str(i) for i in context.get("toObjectId") or []}
        category = str(error.get("category") or "")
        status = RowStatus.FAILED if category in _TRANSIENT else RowStatus.REJECTED
        code = str(error.get("subCategory") or category or "HUBSPOT_ERROR").rsplit(".", 1)[-1]
        message = str(error.get("message") or category)
        for pair, link in by_pair.items():
            if (pair[0] in from_ids or not from_ids) and (pair[1] in to_ids or not to_ids) and (from_ids or to_ids):
                verdicts.setdefault(pair, LinkResult(link, status, code, message))
    for result in payload.get("results") or []:
        if not isinstance(result, Mapping):
            continue
        if "fromObjectId" in result:
            pair = (str(result.get("fromObjectId")), str(result.get("toObjectId")))
        else:
            pair = (str((result.get("from") or {}).get("id")), str((result.get("to") or {}).get("id")))
        if pair in by_pair:
            verdicts.setdefault(pair, LinkResult(by_pair[pair], RowStatus.SUCCEEDED))
    return [
        verdicts.get(pair) or _failed(link, "NO_RESULT", "HubSpot's answer did not mention this association")
        for pair, link in by_pair.items()
    ]


def _failed(link: LinkOp, code: str, message: str) -> LinkResult:
    return LinkResult(link, RowStatus.FAILED, code, message)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
