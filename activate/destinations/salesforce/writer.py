"""`SalesforceDestination`: rows into any sObject by External ID, through sObject Collections or Bulk API 2.0.

Per operation:

    upsert   collections upsert `PATCH composite/sobjects/{SObject}/{match}` (200 per call), or a Bulk `upsert` job
    insert   collections create (not idempotent: never re-sent once it may have arrived; `reconcile` finds records
             a crashed run created by External ID), or a Bulk `insert` job
    update   SOQL lookup of Ids by External ID, then collections update: a row with no record is rejected, never
             inserted (upsert semantics that refuse inserts)
    delete   (mirror) collections delete of the stored Id (looked up by External ID when none was stored); a
             record already gone counts as deleted

A mapping key `Relationship.ExternalIdField` (`Account.Ext_Account__c`) sets a lookup by the parent's External ID:
a nested reference in Collections (`rest.record`), the dotted column itself in Bulk CSV (`bulk.csv_fields`); a null
reference clears the lookup field in both. Salesforce resolves a reference; a parent that does not exist is a
per-record INVALID_FIELD, so the row is rejected and the batch goes on.

Bulk is used for upsert/insert when `api: bulk`, or `api: auto` and the operation has at least `bulk_threshold`
rows (`batch_size` then hands the whole operation to one `write`). Two rows with the same External ID value are
never sent in one request or job: later occurrences go in follow-up rounds, so each lands as its own write.
Rows failing with UNABLE_TO_LOCK_ROW are re-sent with backoff (`MAX_LOCK_ATTEMPTS` in all), then `failed`.
A request refused as a whole (400) is bisected until the bad rows are isolated and rejected on their own.
"""

from __future__ import annotations

import difflib
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from activate.config.models import FieldMapping
from activate.destinations.base import Capabilities, Operation, RowOp, RowResult, RowStatus, WriteBatch, WriteContext
from activate.destinations.salesforce import rest
from activate.destinations.salesforce.auth import (
    SalesforceSession,
    Usage,
    http_session,
    parse_limit_info,
    session_expired_message,
)
from activate.destinations.salesforce.bulk import BulkIngestJob, BulkTarget, csv_fields, csv_parts
from activate.destinations.salesforce.config import SalesforceConnection
from activate.destinations.salesforce.errors import LOCK_ERROR, classify, record_verdict
from activate.http.caller import caller_for
from activate.http.classify import parse_retry_after
from activate.http.errors import AuthFailed, QuotaExhausted, RateLimited, TerminalError, TransientError, WriterError
from activate.http.policy import DEFAULT_POLICY

if TYPE_CHECKING:
    import requests
    from simple_salesforce.api import Salesforce

T = TypeVar("T")

MODES = frozenset({"upsert", "update", "insert", "mirror"})
REST_BATCH = rest.MAX_RECORDS
MAX_LOCK_ATTEMPTS = 5
# Deleting a record that is already gone is what mirror wanted: these answers confirm the record is absent.
_ALREADY_DELETED = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})


def capabilities(max_concurrency: int = 10) -> Capabilities:
    return Capabilities(
        modes=MODES,
        batch_size=REST_BATCH,
        max_concurrency=max_concurrency,
        requires_match=True,
        idempotent_insert=False,
    )


class SalesforceDestination:
    """A writer bound to one sync's sObject for one run. Thread-safe: the engine calls `write` concurrently.

    Invariants: one result per row; `succeeded` only for rows Salesforce confirmed (a collections result with
    `success: true`, or a row of a Bulk job's `successfulResults` joined by External ID); every request goes
    through the connection's shared ApiCaller, which reads `Sforce-Limit-Info` into the daily budget.
    """

    def __init__(self, connection: SalesforceConnection, context: WriteContext) -> None:
        spec = context.spec
        if not spec.match:
            raise TerminalError(
                f"Salesforce syncs need `match`: the External ID field of {spec.object} rows are matched by"
            )
        self.connection = connection
        self.context = context
        self.sobject = spec.object
        self.match = spec.match
        self.limits = connection.limits()
        self.capabilities = capabilities(self.limits.max_concurrency)
        self.caller = caller_for(f"salesforce:{connection.instance_url}", self.limits, clock=context.clock)
        self.http = http_session(connection.ca_bundle, connection.timeout)
        self.http.hooks["response"].append(self._observe)
        self.session = SalesforceSession(connection, self.http, context.clock)
        self.usage: Usage | None = None
        self.bulk_jobs = 0
        self._local = threading.local()
        self._describe: dict[str, Any] | None = None
        self._describe_lock = threading.Lock()
        self._warmup = threading.RLock()

    # ----- the Destination protocol ------------------------------------------------------------------------------

    def batch_size(self, operation: Operation, total_rows: int) -> int:
        if self._use_bulk(operation, total_rows):
            return max(1, min(total_rows, 150_000_000))
        return min(self.context.spec.batch_size or REST_BATCH, REST_BATCH)

    def write(self, batch: WriteBatch) -> list[RowResult]:
        sink: dict[str, RowResult] = {}
        try:
            if batch.operation == Operation.DELETE:
                self._delete(batch.rows, sink)
            else:
                sendable = self._prepare(batch.rows, sink)
                for round_rows in _rounds(sendable):
                    self._with_lock_retries(batch.operation, round_rows, sink)
        except QuotaExhausted as exc:
            pending = len(batch) - len(sink)
            usage = f"org usage {self.usage}" if self.usage else "org usage not reported yet"
            raise QuotaExhausted(
                f"Salesforce daily API budget reached ({usage}): {exc.message}; "
                f"{pending} rows of this batch left pending for the next run",
                code=exc.code,
                results=list(sink.values()),
            ) from exc
        return [
            sink.get(row.key) or RowResult.failed(row.key, "NO_RESULT", "Salesforce returned no result for this row")
            for row in batch.rows
        ]

    def reconcile(self, rows: Sequence[RowOp]) -> dict[str, str]:
        keys_by_value = {rest.match_text(self._match_value(row)): row.key for row in rows if self._match_value(row)}
        found: dict[str, str] = {}
        field_type = self._field_type(self.match)
        for literals in self._lookup_chunks(keys_by_value, field_type):
            ids = self._call(functools.partial(self._lookup_one, literals=literals))
            for value, record_ids in ids.items():
                if value in keys_by_value and record_ids:
                    found[keys_by_value[value]] = record_ids[0]
        return found

    def check(self, fields: Iterable[str]) -> list[str]:
        try:
            describe = self._described()
        except AuthFailed as exc:
            return [f"Salesforce login failed: {exc.message}"]
        except TerminalError as exc:
            if exc.status == 404:
                return [f"Salesforce has no sObject '{self.sobject}' (or the integration user cannot see it)"]
            return [f"Salesforce refused to describe {self.sobject}: {exc.message}"]
        except WriterError as exc:
            return [f"could not reach Salesforce at {self.connection.instance_url}: {exc.message}"]
        plain = [name for name in fields if "." not in name]
        problems: list[str] = []
        for name in dict.fromkeys(name for name in fields if "." in name):
            lookup, problem = self._check_lookup(describe, name)
            if problem:
                problems.append(problem)
            elif lookup and lookup not in plain:
                plain.append(lookup)  # the lookup field itself must be writable
        create_only = {
            name for name, value in self.context.spec.mapping.items() if FieldMapping.of(value).on == "create"
        }
        return _check_fields(describe, self.sobject, self.match, plain, self.context.spec.mode, create_only) + problems

    def _check_lookup(self, describe: dict[str, Any], name: str) -> tuple[str | None, str | None]:
        """A `Relationship.ExternalIdField` mapping key: the relationship exists on this sObject and the parent's
        field is an External ID (what Salesforce needs to resolve the parent). Returns (lookup field, problem)."""
        relationship, _, parent_field = name.partition(".")
        lookup = next((f for f in describe.get("fields", []) if f.get("relationshipName") == relationship), None)
        if lookup is None:
            known = sorted(str(f["relationshipName"]) for f in describe.get("fields", []) if f.get("relationshipName"))
            close = difflib.get_close_matches(relationship, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; its relationships: {', '.join(known) or 'none'}"
            return None, f"mapping '{name}': {self.sobject} has no relationship '{relationship}'{hint}"
        problems = []
        for parent in lookup.get("referenceTo") or []:
            try:
                parent_describe = self._call(functools.partial(_describe, sobject=str(parent)))
            except WriterError as exc:
                problems.append(f"mapping '{name}': cannot describe {parent}: {exc.message}")
                continue
            spec = next((f for f in parent_describe.get("fields", []) if f.get("name") == parent_field), None)
            if spec is None:
                problems.append(f"mapping '{name}': {parent} has no field '{parent_field}'")
            elif not spec.get("externalId") and parent_field != "Id":
                problems.append(
                    f"mapping '{name}': field '{parent_field}' on {parent} is not an External ID field, so Salesforce "
                    "cannot find the parent by it; mark it External ID (and Unique) in Setup > Object Manager"
                )
        return str(lookup.get("name")), "; ".join(problems) or None

    def close(self) -> None:
        self.http.close()

    # ----- plumbing ----------------------------------------------------------------------------------------------

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if usage is not None:
            self.usage = usage
            self.caller.observe_quota(used=usage.used, limit=usage.limit)
        self._local.retry_after = (
            parse_retry_after(response.headers.get("Retry-After"), now=self.context.clock.now())
            if response.status_code in (429, 503)
            else None
        )

    def _call(self, request: Callable[[Salesforce], T], idempotent: bool = True) -> T:
        """One API request through the shared caller, with the current session; a 401 refreshes it once."""
        used: list[Salesforce] = []

        def send() -> T:
            sf = self.session.client()
            used.append(sf)
            self._local.retry_after = None
            try:
                return request(sf)
            except Exception as exc:
                error = classify(
                    exc,
                    refreshable=self.session.refreshable,
                    usage=lambda: f"org usage {self.usage}" if self.usage else "org usage not reported",
                    retry_after=getattr(self._local, "retry_after", None),
                    session_expired=session_expired_message(),
                )
                if error is None:
                    raise
                raise error from exc

        def refresh() -> None:
            self.session.refresh(used[-1] if used else None)

        def call() -> T:
            return self.caller.call(
                send,
                stats=self.context.stats,
                idempotent=idempotent,
                refresh=refresh if self.session.refreshable else None,
            )

        if self.usage is not None:
            return call()
        # Until a response has reported the org's usage, the budget cannot tell how much of the allocation is
        # left: send one request at a time, so ten concurrent batches cannot overshoot an almost spent budget.
        with self._warmup:
            return call()

    def _use_bulk(self, operation: Operation, rows: int) -> bool:
        if operation not in (Operation.UPSERT, Operation.INSERT):
            return False
        spec = self.context.spec
        return spec.api == "bulk" or (spec.api == "auto" and rows >= spec.bulk_threshold)

    def _described(self) -> dict[str, Any]:
        with self._describe_lock:
            if self._describe is None:
                self._describe = self._call(lambda sf: rest.describe(sf, self.sobject))
            return self._describe

    def _field_type(self, name: str) -> str:
        for field in self._described().get("fields", []):
            if field.get("name") == name:
                return str(field.get("type", "string"))
        return "string"

    def _match_value(self, row: RowOp) -> Any:
        if row.match_value is not None:
            return row.match_value
        return (row.fields or {}).get(self.match)

    # ----- upsert / insert / update ------------------------------------------------------------------------------

    def _prepare(self, rows: Sequence[RowOp], sink: dict[str, RowResult]) -> list[RowOp]:
        """Rows ready to send, with the External ID value set in `fields`; rows without one are rejected."""
        ready: list[RowOp] = []
        for row in rows:
            value = self._match_value(row)
            if value is None or rest.match_text(value) == "":
                sink[row.key] = RowResult.rejected(
                    row.key,
                    "MISSING_MATCH_VALUE",
                    f"the row has no value for the External ID field {self.match}, so Salesforce cannot match it",
                )
                continue
            ready.append(replace(row, match_value=value, fields={**(row.fields or {}), self.match: value}))
        return ready

    def _with_lock_retries(self, operation: Operation, rows: Sequence[RowOp], sink: dict[str, RowResult]) -> None:
        pending = list(rows)
        attempt = 1
        while True:
            self._send(operation, pending, attempt, sink)
            locked = [row for row in pending if sink[row.key].error_code == LOCK_ERROR]
            if not locked or attempt >= MAX_LOCK_ATTEMPTS:
                return
            self.context.clock.sleep(DEFAULT_POLICY.backoff(attempt))
            attempt += 1
            pending = locked

    def _send(self, operation: Operation, rows: Sequence[RowOp], attempt: int, sink: dict[str, RowResult]) -> None:
        if operation == Operation.DELETE:
            self._send_deletes(rows, attempt, sink)
        elif self._use_bulk(operation, len(rows)):
            self._send_bulk(operation, rows, attempt, sink)
        elif operation == Operation.UPDATE:
            for chunk in _chunks(rows, REST_BATCH):
                self._send_updates(chunk, attempt, sink)
        else:
            for chunk in _chunks(rows, REST_BATCH):
                self._send_collection(operation, chunk, attempt, sink)

    def _send_collection(
        self, operation: Operation, rows: Sequence[RowOp], attempt: int, sink: dict[str, RowResult]
    ) -> None:
        records = [rest.record(self.sobject, dict(row.fields or {})) for row in rows]
        if operation == Operation.INSERT:
            self._isolating(rows, attempt, sink, lambda sf, part: rest.create(sf, [records[i] for i in part]), False)
        else:
            self._isolating(
                rows,
                attempt,
                sink,
                lambda sf, part: rest.upsert(sf, self.sobject, self.match, [records[i] for i in part]),
                True,
            )

    def _send_updates(self, rows: Sequence[RowOp], attempt: int, sink: dict[str, RowResult]) -> None:
        ids = self._lookup(rows)
        found: list[RowOp] = []
        for row in rows:
            record_ids = ids.get(rest.match_text(row.match_value), [])
            if not record_ids:
                sink[row.key] = RowResult.rejected(
                    row.key,
                    "NOT_FOUND",
                    f"no {self.sobject} has {self.match} = {row.match_value!r}; update mode never creates records",
                    attempt,
                )
            else:
                found.append(replace(row, destination_id=record_ids[0]))
        records = [rest.record(self.sobject, {"Id": row.destination_id, **(row.fields or {})}) for row in found]
        self._isolating(found, attempt, sink, lambda sf, part: rest.update(sf, [records[i] for i in part]), True)

    def _isolating(
        self,
        rows: Sequence[RowOp],
        attempt: int,
        sink: dict[str, RowResult],
        request: Callable[[Salesforce, Sequence[int]], list[dict[str, Any]]],
        idempotent: bool,
        part: Sequence[int] | None = None,
    ) -> None:
        """Send `rows[part]` as one request; a whole-request refusal is bisected down to the offending rows."""
        part = list(range(len(rows))) if part is None else part
        if not part:
            return
        try:
            results = self._call(lambda sf: request(sf, part), idempotent)
        except (TransientError, RateLimited) as exc:
            # Retries are spent (or a non-idempotent create may have arrived): leave these rows for the next run.
            for i in part:
                sink[rows[i].key] = RowResult.failed(rows[i].key, exc.code or "TRANSIENT", exc.message, attempt)
            return
        except TerminalError as exc:
            if isinstance(exc, AuthFailed):
                raise
            if len(part) == 1:
                key = rows[part[0]].key
                sink[key] = RowResult.rejected(key, exc.code or "REJECTED", exc.message, attempt)
                return
            middle = len(part) // 2
            self._isolating(rows, attempt, sink, request, idempotent, part[:middle])
            self._isolating(rows, attempt, sink, request, idempotent, part[middle:])
            return
        for i, result in zip(part, results, strict=True):
            sink[rows[i].key] = record_verdict(rows[i].key, result, attempt)

    def _send_bulk(self, operation: Operation, rows: Sequence[RowOp], attempt: int, sink: dict[str, RowResult]) -> None:
        target = BulkTarget(self.sobject, self.match)
        name = "upsert" if operation == Operation.UPSERT else "insert"
        payloads = {row.key: csv_fields(row.fields or {}) for row in rows}
        for part, document in csv_parts(target, rows, payloads):
            job = BulkIngestJob(target, self._call, self.context.clock, self.connection.bulk_poll_timeout)
            self.bulk_jobs += 1
            try:
                job.run(name, part, document, attempt, sink)
            except (TransientError, RateLimited, TerminalError) as exc:
                if isinstance(exc, AuthFailed):
                    raise
                for row in part:
                    if row.key not in sink:
                        sink[row.key] = RowResult.failed(row.key, exc.code or "BULK_FAILED", exc.message, attempt)

    def _lookup(self, rows: Sequence[RowOp]) -> dict[str, list[str]]:
        ids: dict[str, list[str]] = {}
        values = list(dict.fromkeys(rest.match_text(row.match_value) for row in rows if row.match_value is not None))
        for literals in self._lookup_chunks(values, self._field_type(self.match)):
            ids.update(self._call(functools.partial(self._lookup_one, literals=literals)))
        return ids

    def _lookup_chunks(self, values: Iterable[Any], field_type: str) -> Iterator[list[str]]:
        return rest.lookup_chunks(
            values, field_type, sobject=self.sobject, field=self.match, api_version=self.connection.api_version
        )

    def _lookup_one(self, sf: Salesforce, *, literals: Sequence[str]) -> dict[str, list[str]]:
        return rest.lookup(sf, self.sobject, self.match, literals)

    # ----- delete (mirror) ---------------------------------------------------------------------------------------

    def _delete(self, rows: Sequence[RowOp], sink: dict[str, RowResult]) -> None:
        unknown = [row for row in rows if not row.destination_id and self._match_value(row) is not None]
        ids = self._lookup([replace(row, match_value=self._match_value(row)) for row in unknown]) if unknown else {}
        targets: list[RowOp] = []
        for row in rows:
            record_id = row.destination_id
            if not record_id and self._match_value(row) is not None:
                found = ids.get(rest.match_text(self._match_value(row)), [])
                record_id = found[0] if found else None
            if record_id:
                targets.append(replace(row, destination_id=record_id))
            else:
                sink[row.key] = RowResult.ok(row.key)  # nothing in Salesforce carries this row: already absent
        for round_rows in _rounds(targets, key=lambda row: row.destination_id):
            self._with_lock_retries(Operation.DELETE, round_rows, sink)

    def _send_deletes(self, rows: Sequence[RowOp], attempt: int, sink: dict[str, RowResult]) -> None:
        for chunk in _chunks(rows, REST_BATCH):
            ids = [str(row.destination_id) for row in chunk]

            def request(sf: Salesforce, part: Sequence[int], ids: list[str] = ids) -> list[dict[str, Any]]:
                results = rest.delete(sf, [ids[i] for i in part])
                return [
                    {"id": ids[i], "success": True}
                    if not r.get("success") and (r.get("errors") or [{}])[0].get("statusCode") in _ALREADY_DELETED
                    else r
                    for i, r in zip(part, results, strict=True)
                ]

            self._isolating(chunk, attempt, sink, request, True)
            for row in chunk:
                result = sink[row.key]
                if result.status == RowStatus.SUCCEEDED and result.destination_id is None:
                    sink[row.key] = RowResult.ok(row.key, row.destination_id, attempts=result.attempts)


def _describe(sf: Salesforce, *, sobject: str) -> dict[str, Any]:
    return rest.describe(sf, sobject)


def _chunks(rows: Sequence[RowOp], size: int) -> list[Sequence[RowOp]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _rounds(rows: Sequence[RowOp], key: Callable[[RowOp], Any] | None = None) -> list[list[RowOp]]:
    """Split rows so no two in one round share a match value (Salesforce refuses both of such a pair)."""
    pick = key or (lambda row: rest.match_text(row.match_value))
    rounds: list[list[RowOp]] = []
    seen: dict[str, int] = {}
    for row in rows:
        value = str(pick(row))
        index = seen.get(value, 0)
        seen[value] = index + 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(row)
    return rounds


def _check_fields(
    describe: dict[str, Any], sobject: str, match: str, fields: list[str], mode: str, create_only: set[str]
) -> list[str]:
    """What keeps the mapping from being written. A field mapped `on: create` is never in an update, so it need
    only be createable (a field the integration user may set once, like a lead source)."""
    by_name = {str(f["name"]): f for f in describe.get("fields", [])}
    problems: list[str] = []
    creating = mode in ("upsert", "insert", "mirror")
    updating = mode in ("upsert", "update", "mirror")

    def unknown(name: str) -> str:
        close = difflib.get_close_matches(name, list(by_name), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{sobject} has no field '{name}'{hint}"

    if creating and not describe.get("createable", True):
        problems.append(f"{sobject} is not createable by the integration user")
    if updating and not describe.get("updateable", True):
        problems.append(f"{sobject} is not updateable by the integration user")
    if mode == "mirror" and not describe.get("deletable", True):
        problems.append(f"{sobject} is not deletable by the integration user, so mirror cannot delete records")
    spec = by_name.get(match)
    if spec is None:
        problems.append(f"match: {unknown(match)}")
    elif not spec.get("externalId") and not spec.get("idLookup"):
        problems.append(
            f"match: field '{match}' on {sobject} is not an External ID field; mark it External ID (and Unique) in "
            "Setup > Object Manager"
        )
    for name in fields:
        field = by_name.get(name)
        if field is None:
            problems.append(unknown(name))
            continue
        if creating and not field.get("createable"):
            problems.append(f"field '{name}' on {sobject} is not createable (read-only, formula, or no edit access)")
        elif updating and not field.get("updateable") and not field.get("externalId") and name not in create_only:
            problems.append(f"field '{name}' on {sobject} is not updateable (read-only, formula, or no edit access)")
    if creating:
        mapped = set(fields) | {match}
        required = [
            name
            for name, f in by_name.items()
            if f.get("createable") and not f.get("nillable") and not f.get("defaultedOnCreate") and name not in mapped
        ]
        if required:
            problems.append(
                f"{sobject} requires {', '.join(sorted(required))}, which the mapping does not set: every new record "
                "would be rejected with REQUIRED_FIELD_MISSING"
            )
    return problems
