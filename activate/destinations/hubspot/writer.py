"""`HubSpotDestination`: rows to HubSpot's CRM v3 batch endpoints, one verdict per row.

    mode     operation  endpoint                      matched by
    upsert   upsert     batch/upsert (100 inputs)     idProperty = destination.match
    update   update     batch/update                  idProperty (record id when the row has no match value)
    insert   insert     batch/create                  objectWriteTraceId = row key; reconcile() by match value
    mirror   delete     batch/archive                 the stored record id (destination_id)

Every request goes through the connection's `ApiCaller` (rate limit, retries, daily budget, one OAuth refresh; a
private-app token from a secret provider is re-read once instead, and a refusal after that fails the run).
A batch HubSpot refuses as a whole for its data (`BatchRefused`) is split in halves until the bad rows stand
alone and are rejected with HubSpot's code; the good rows are written. Safe to call `write` from several threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from activate.destinations.base import (
    Capabilities,
    LinkOp,
    LinkResult,
    Operation,
    RowOp,
    RowResult,
    WriteBatch,
    WriteContext,
)
from activate.destinations.hubspot.classify import BatchRefused
from activate.destinations.hubspot.client import BatchInput, HubSpotApi, Reply
from activate.destinations.hubspot.config import HubSpotConnection
from activate.destinations.hubspot.links import HubSpotLinks
from activate.destinations.hubspot.results import id_key, map_batch_reply, render_properties, render_value
from activate.http.caller import ApiCaller, caller_for
from activate.http.errors import AuthExpired, AuthFailed, QuotaExhausted, RateLimited, TerminalError, TransientError
from activate.secrets.rotation import Rotation

T = TypeVar("T")
MAX_BATCH = 100
# HubSpot stores at most 65,536 characters in a property value and refuses the whole request for a longer one:
# such a row is rejected before it is sent (one long value never costs its 99 neighbours a round of splitting).
MAX_PROPERTY_CHARS = 65_536
VALUE_TOO_LONG = "PROPERTY_VALUE_TOO_LONG"
MODES = frozenset({"upsert", "update", "insert", "mirror"})
# Properties HubSpot accepts as idProperty although their definition does not say hasUniqueValue.
_IMPLICITLY_UNIQUE = {"hs_object_id", "email"}


def capabilities(max_concurrency: int) -> Capabilities:
    return Capabilities(
        modes=MODES,
        batch_size=MAX_BATCH,
        max_concurrency=max_concurrency,
        requires_match=True,
        idempotent_insert=False,
        associations=True,
    )


class HubSpotDestination:
    """A writer bound to one sync's HubSpot object for one run (see the module docstring for the modes)."""

    def __init__(self, connection: HubSpotConnection, context: WriteContext) -> None:
        self.connection = connection
        self.context = context
        self.spec = context.spec
        self.object_type = context.spec.object
        self.match = context.spec.match
        limits = connection.limits()
        self.capabilities = capabilities(limits.max_concurrency)
        self.caller: ApiCaller = caller_for(
            f"hubspot:{connection.base_url}:{context.spec.connection}", limits, clock=context.clock
        )
        self.rotation = Rotation(connection)
        self.api = HubSpotApi(
            connection,
            clock=context.clock,
            pool_size=limits.max_concurrency,
            on_quota=lambda limit, remaining: self.caller.observe_quota(limit=limit, remaining=remaining),
            on_token_request=lambda: context.stats.add(api_calls=1),
        )
        self.links = HubSpotLinks(self.api, self._call, self.object_type)

    # -- the protocol ---------------------------------------------------------------------------------------------

    def batch_size(self, operation: Operation, total_rows: int) -> int:
        return min(self.spec.batch_size or MAX_BATCH, MAX_BATCH)

    def write(self, batch: WriteBatch) -> list[RowResult]:
        results: list[RowResult] = []
        rows = batch.rows
        if batch.operation is not Operation.DELETE:
            rows = _within_limits(rows, results)
        try:
            if batch.operation is Operation.INSERT:
                self._create(rows, results)
            elif batch.operation is Operation.DELETE:
                self._archive(rows, results)
            else:
                kind = "update" if batch.operation is Operation.UPDATE else "upsert"
                self._write_matched(kind, rows, results)
        except QuotaExhausted as exc:
            # Rows confirmed before the quota ran out keep their verdicts; the rest stay pending.
            raise QuotaExhausted(exc.message, code=exc.code, results=[*results, *exc.results]) from exc
        return results

    def reconcile(self, rows: Sequence[RowOp]) -> dict[str, str]:
        """Records that an interrupted insert may have created, found by the rows' match values with CRM search.

        Search is eventually consistent in HubSpot (a record is searchable seconds after its creation), so the
        engine calls this on the run after a crash, not right after it. When several records hold a row's match
        value, the oldest (lowest id) is the one returned.
        """
        if self.match is None:
            return {}
        wanted: dict[str, list[str]] = {}
        for row in rows:
            value = self._match_value(row)
            if value is not None:
                wanted.setdefault(id_key(self.match, value).lower(), []).append(row.key)
        found = self._lookup(list(wanted))
        return {key: found[value] for value, keys in wanted.items() if value in found for key in keys}

    def check(self, fields: Iterable[str]) -> list[str]:
        """Credentials, the object type, and every mapped property (and the match property) exist in HubSpot."""
        try:
            reply = self._call(lambda: self.api.properties(self.object_type))
        except (AuthFailed, AuthExpired) as exc:
            return [f"HubSpot refused the credentials of connection '{self.spec.connection}': {exc.message}"]
        except (TerminalError, TransientError, RateLimited, QuotaExhausted) as exc:
            return [f"cannot read the properties of HubSpot object '{self.object_type}': {exc.message}"]
        definitions = {str(p.get("name")): p for p in (reply.body or {}).get("results") or [] if isinstance(p, Mapping)}
        problems: list[str] = []
        for name in dict.fromkeys(fields):
            definition = definitions.get(name)
            if definition is None:
                problems.append(
                    f"property '{name}' does not exist on HubSpot object '{self.object_type}' "
                    "(create it in HubSpot, or fix destination.mapping)"
                )
            elif (definition.get("modificationMetadata") or {}).get("readOnlyValue"):
                problems.append(f"property '{name}' of HubSpot object '{self.object_type}' is read-only")
        if self.match is not None and self.spec.mode != "insert":
            definition = definitions.get(self.match)
            if definition is None:
                problems.append(f"match property '{self.match}' does not exist on HubSpot object '{self.object_type}'")
            elif not definition.get("hasUniqueValue") and self.match not in _IMPLICITLY_UNIQUE:
                problems.append(
                    f"match property '{self.match}' of HubSpot object '{self.object_type}' is not unique: "
                    "HubSpot only upserts/updates by a property created with hasUniqueValue"
                )
        return problems

    def associate(self, links: Sequence[LinkOp]) -> list[LinkResult]:
        """Associations from this sync's records (see `links.py`), through the same caller as the writes."""
        return self.links.associate(links)

    def dissociate(self, links: Sequence[LinkOp]) -> list[LinkResult]:
        return self.links.dissociate(links)

    def close(self) -> None:
        return None

    # -- modes ----------------------------------------------------------------------------------------------------

    def _write_matched(self, kind: str, rows: Sequence[RowOp], results: list[RowResult]) -> None:
        """Upsert or update by idProperty; rows without a match value fall back to their record id (update only)."""
        by_match: list[tuple[RowOp, str]] = []
        by_id: list[tuple[RowOp, str]] = []
        for row in rows:
            value = self._match_value(row)
            if value is not None:
                by_match.append((row, value))
            elif kind == "update" and row.destination_id:
                by_id.append((row, row.destination_id))
            else:
                results.append(
                    RowResult.rejected(row.key, "MISSING_MATCH_VALUE", f"the row has no value for match '{self.match}'")
                )
        for round_ in _distinct_rounds(by_match, self.match):
            self._send_split(kind, round_, self.match, results)
        for round_ in _distinct_rounds(by_id, None):
            self._send_split(kind, round_, None, results)

    def _create(self, rows: Sequence[RowOp], results: list[RowResult]) -> None:
        sent = [(row, self._match_value(row) or "") for row in rows]
        self._send_split("create", sent, self.match, results)

    def _archive(self, rows: Sequence[RowOp], results: list[RowResult]) -> None:
        with_id = [row for row in rows if row.destination_id]
        unknown = [row for row in rows if not row.destination_id]
        resolved = self.reconcile([row for row in unknown if self._match_value(row) is not None]) if unknown else {}
        targets = [(row, str(row.destination_id)) for row in with_id]
        for row in unknown:
            if row.key in resolved:
                targets.append((row, resolved[row.key]))
            elif self._match_value(row) is not None:
                # No record holds the match value: the row is already absent from HubSpot.
                results.append(RowResult.ok(row.key))
            else:
                results.append(
                    RowResult.rejected(row.key, "MISSING_DESTINATION_ID", "no HubSpot record id is known for this row")
                )
        for chunk in _chunks(targets, MAX_BATCH):
            inputs = [BatchInput(id=record_id) for _, record_id in chunk]
            try:
                self._call(partial(self.api.batch, "archive", self.object_type, inputs, None))
            except (TransientError, RateLimited) as exc:
                results.extend(RowResult.failed(row.key, exc.code or "TRANSIENT", exc.message) for row, _ in chunk)
                continue
            # 204: HubSpot archives every id it holds and ignores ids already gone; both end absent.
            results.extend(RowResult.ok(row.key, record_id) for row, record_id in chunk)

    # -- sending --------------------------------------------------------------------------------------------------

    def _send_split(
        self, kind: str, sent: Sequence[tuple[RowOp, str]], id_property: str | None, results: list[RowResult]
    ) -> None:
        """Send one batch; when HubSpot refuses it as a whole for its data, send each half on its own."""
        if not sent:
            return
        inputs = [
            BatchInput(
                properties=render_properties(row.fields),
                id=sent_id if kind != "create" else None,
                trace=row.key,
            )
            for row, sent_id in sent
        ]
        try:
            reply = self._call(
                lambda: self.api.batch(kind, self.object_type, inputs, id_property), idempotent=kind != "create"
            )
        except BatchRefused as refusal:
            if len(sent) == 1:
                results.append(RowResult.rejected(sent[0][0].key, refusal.code or "VALIDATION_ERROR", refusal.message))
                return
            middle = len(sent) // 2
            self._send_split(kind, sent[:middle], id_property, results)
            self._send_split(kind, sent[middle:], id_property, results)
            return
        except (TransientError, RateLimited) as exc:
            # Retries are spent: the rows are `failed` and go again next run (insert rows through reconcile).
            results.extend(RowResult.failed(row.key, exc.code or "TRANSIENT", exc.message) for row, _ in sent)
            return
        ids = {row.key: sent_id for row, sent_id in sent if sent_id}
        results.extend(map_batch_reply(reply.body, [row for row, _ in sent], id_property=id_property, ids=ids))

    def _lookup(self, values: list[str]) -> dict[str, str]:
        """Lowercased match value -> id of the oldest record holding it, through CRM search (100 values a call)."""
        if self.match is None:
            return {}
        found: dict[str, str] = {}
        for chunk in _chunks(values, MAX_BATCH):
            after: str | None = None
            while True:
                reply: Reply = self._call(partial(self.api.search_in, self.object_type, self.match, chunk, after))
                body = reply.body if isinstance(reply.body, Mapping) else {}
                for record in body.get("results") or []:
                    value = (record.get("properties") or {}).get(self.match)
                    if value is not None and record.get("id") is not None:
                        key = id_key(self.match, value).lower()
                        if key not in found or int(record["id"]) < int(found[key]):
                            found[key] = str(record["id"])
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
        return found

    def _call(self, send: Callable[[], T], *, idempotent: bool = True) -> T:
        """One request through the connection's caller, with a fresh OAuth token when one is due."""
        if self.api.needs_token():
            self.api.refresh(self.api.token)
        stale = self.api.token
        version = self.rotation.current()[0]
        refresh: Callable[[], None] | None = None
        if self.connection.can_refresh:
            refresh = partial(self.api.refresh, stale)
        elif self.rotation.active:
            refresh = partial(self._reread_token, version)
        try:
            return self.caller.call(send, stats=self.context.stats, idempotent=idempotent, refresh=refresh)
        except AuthFailed as exc:
            if self.connection.can_refresh:
                raise
            raise self.rotation.explain(exc) from None

    def _reread_token(self, version: int) -> None:
        token = self.rotation.reread(version).access_token
        if token is not None:
            self.api.use_token(token.get_secret_value())

    def _match_value(self, row: RowOp) -> str | None:
        value: Any = row.match_value
        if value is None and self.match is not None and row.fields is not None:
            value = row.fields.get(self.match)
        text = render_value(value).strip()
        return text or None


def _within_limits(rows: Sequence[RowOp], results: list[RowResult]) -> list[RowOp]:
    """The rows HubSpot can take; the others get their rejection in `results`."""
    kept: list[RowOp] = []
    for row in rows:
        too_long = [
            (name, len(text)) for name, text in render_properties(row.fields).items() if len(text) > MAX_PROPERTY_CHARS
        ]
        if too_long:
            detail = ", ".join(f"{name} has {size:,} characters" for name, size in too_long)
            message = f"{detail}; HubSpot stores at most {MAX_PROPERTY_CHARS:,} characters in a property value"
            results.append(RowResult.rejected(row.key, VALUE_TOO_LONG, message))
        else:
            kept.append(row)
    return kept


def _distinct_rounds(sent: Sequence[tuple[RowOp, str]], id_property: str | None) -> list[list[tuple[RowOp, str]]]:
    """Split rows so no batch holds one id twice (HubSpot refuses duplicate ids in a batch): the n-th row with an id
    goes in the n-th round, so the last row for an id is also written last."""
    rounds: list[list[tuple[RowOp, str]]] = []
    seen: dict[str, int] = {}
    for row, sent_id in sent:
        key = id_key(id_property, sent_id)
        index = seen.get(key, 0)
        seen[key] = index + 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append((row, sent_id))
    return rounds


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    return (items[i : i + size] for i in range(0, len(items), size))
