"""`WebhookDestination`: JSON batches to `POST <url>/<object>` over httpx, one verdict per row (DESIGN §7).

request   {"sync", "operation", "rows": [{"key", "destination_id", "fields"}]}  (no `fields` on deletes); numbers
          exact (a DECIMAL(38,10) is a number literal with all its digits, a HUGEINT every digit of the integer)
          Idempotency-Key: sha256 of the object and body, so the same rows with the same data carry the same
          key in every run and the endpoint can drop a replay
2xx       no body (or no `results`): every row succeeded, its destination id is the row key
200/207   {"results": [{"key", "status", "id", "error"}]}: per row; a row missing from results failed
400/413/422  the batch is refused for its data: split in halves until the bad rows stand alone (rejected)
max_body_bytes  a body over the connection's limit is never sent: the batch is split in halves, and a row whose
             own body is over it is rejected with PAYLOAD_TOO_LARGE
429/5xx, timeouts, resets   the connection's `ApiCaller` retries; when it gives up the rows are failed
401                          credentials from a provider (`${vault:..}` in a header) are re-read once and the
                             request retried with them; otherwise, or refused again, the run fails (no loop)
other 4xx (404, 403, ...)   the run fails (the endpoint or the credentials are wrong, not the rows)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from activate.destinations.base import (
    Capabilities,
    Operation,
    RowOp,
    RowResult,
    RowStatus,
    WriteBatch,
    WriteContext,
)
from activate.destinations.encoding import dumps_exact
from activate.destinations.webhook.config import WebhookConnection
from activate.http.caller import ApiCaller, caller_for
from activate.http.classify import classify_response, transport_error
from activate.http.errors import AuthFailed, QuotaExhausted, RateLimited, TerminalError, TransientError
from activate.secrets.rotation import Rotation

if TYPE_CHECKING:
    import httpx

MODES = frozenset({"upsert", "update", "insert", "mirror"})
_REFUSED = frozenset({400, 413, 422})
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"


def capabilities(max_concurrency: int, batch_size: int) -> Capabilities:
    # Every request carries an Idempotency-Key derived from its content, so a re-sent insert is a replay the
    # endpoint can drop: inserts are as safe to retry as upserts.
    return Capabilities(modes=MODES, batch_size=batch_size, max_concurrency=max_concurrency, idempotent_insert=True)


class BatchRefused(TerminalError):
    """The endpoint refused a batch for its data (400/413/422): split it to find the rows at fault."""


def idempotency_key(obj: str, payload: bytes) -> str:
    """A stable key for one request's content: same object and body (sync, operation, rows and data) -> same key.

    The body as sent is hashed, not a second, key-sorted encoding of it: a body is already deterministic (rows in
    plan order, fields in mapping order, numbers exact), and encoding each batch twice was a tenth of a large
    sync's CPU."""
    return hashlib.sha256(obj.encode() + b"\0" + payload).hexdigest()


def request_body(sync: str, operation: Operation, rows: Sequence[RowOp]) -> dict[str, Any]:
    """The wire format of one batch."""
    wire_rows: list[dict[str, Any]] = []
    for row in rows:
        item: dict[str, Any] = {"key": row.key, "destination_id": row.destination_id}
        if operation is not Operation.DELETE:
            item["fields"] = dict(row.fields or {})
        wire_rows.append(item)
    return {"sync": sync, "operation": operation.value, "rows": wire_rows}


class WebhookDestination:
    """A writer bound to one sync's webhook path for one run. Safe to call `write` from several threads.

    `reconcile` returns nothing: an endpoint dedupes re-sent batches by their Idempotency-Key, so the engine never
    needs to look records up after a crash.
    """

    def __init__(
        self, connection: WebhookConnection, context: WriteContext, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        import httpx

        self.connection = connection
        self.context = context
        limits = connection.limits()
        self.capabilities = capabilities(limits.max_concurrency, connection.batch_size)
        self.caller: ApiCaller = caller_for(f"webhook:{connection.url}", limits, clock=context.clock)
        self.endpoint = f"{connection.url}/{quote(context.spec.object, safe='/')}"
        # The connection's own headers go on each request (not the client), so a re-read credential applies to
        # the next attempt of every thread at once.
        self.rotation = Rotation(connection)
        self._client = httpx.Client(
            headers={"Content-Type": "application/json", "User-Agent": "activate-webhook"},
            timeout=connection.timeout,
            limits=httpx.Limits(
                max_connections=limits.max_concurrency, max_keepalive_connections=limits.max_concurrency
            ),
            transport=transport,
        )

    # -- the protocol ---------------------------------------------------------------------------------------------

    def batch_size(self, operation: Operation, total_rows: int) -> int:
        return min(self.context.spec.batch_size or self.connection.batch_size, self.connection.batch_size)

    def write(self, batch: WriteBatch) -> list[RowResult]:
        results: list[RowResult] = []
        try:
            self._send(batch.operation, batch.rows, results)
        except QuotaExhausted as exc:
            # Rows confirmed before the budget ran out keep their verdicts; the rest stay pending.
            raise QuotaExhausted(exc.message, code=exc.code, results=[*results, *exc.results]) from exc
        return results

    def reconcile(self, rows: Sequence[RowOp]) -> dict[str, str]:
        """Nothing to look up: a replayed batch carries the same Idempotency-Key and the endpoint drops it."""
        return {}

    def check(self, fields: Iterable[str]) -> list[str]:
        """The endpoint answers at all (any HTTP status but 401/403 counts); a webhook has no schema to check."""
        try:
            response = self._client.head(self.endpoint, headers=self.rotation.current()[1].plain_headers())
        except Exception as exc:
            error = transport_error(exc)
            if error is None:
                raise
            return [f"cannot reach the webhook at {self.endpoint}: {error.message}"]
        if response.status_code in (401, 403):
            return [
                f"the webhook at {self.endpoint} refused the connection's headers "
                f"(HTTP {response.status_code}); check the credentials in connection '{self.context.spec.connection}'"
            ]
        return []

    def close(self) -> None:
        self._client.close()

    # -- sending --------------------------------------------------------------------------------------------------

    def _send(self, operation: Operation, rows: Sequence[RowOp], results: list[RowResult]) -> None:
        body = request_body(self.context.sync_name, operation, rows)
        payload = dumps_exact(body).encode()
        limit = self.connection.max_body_bytes
        if len(payload) > limit:
            if len(rows) == 1:
                message = (
                    f"the row's request body is {len(payload):,} bytes, over the connection's max_body_bytes "
                    f"({limit:,}); it was not sent"
                )
                results.append(RowResult.rejected(rows[0].key, PAYLOAD_TOO_LARGE, message, 0))
                return
            middle = len(rows) // 2
            self._send(operation, rows[:middle], results)
            self._send(operation, rows[middle:], results)
            return
        key = idempotency_key(self.context.spec.object, payload)
        attempts = 0
        version = 0

        def post() -> httpx.Response:
            nonlocal attempts, version
            attempts += 1
            version, connection = self.rotation.current()
            headers = {**connection.plain_headers(), "Idempotency-Key": key}
            response = self._client.post(self.endpoint, content=payload, headers=headers)
            error = classify_response(
                response.status_code, response.headers, response.content, now=self.context.clock.now()
            )
            if error is None:
                return response
            if response.status_code in _REFUSED:
                raise BatchRefused(error.message, code=f"HTTP_{response.status_code}", status=response.status_code)
            raise error

        def refresh() -> None:
            self.rotation.reread(version)  # each attempt reads the current headers: the re-read is all it takes

        try:
            response = self.caller.call(
                post, stats=self.context.stats, idempotent=True, refresh=refresh if self.rotation.active else None
            )
        except AuthFailed as exc:
            raise self.rotation.explain(exc) from None
        except BatchRefused as exc:
            if len(rows) == 1:
                results.append(RowResult.rejected(rows[0].key, exc.code or "REJECTED", exc.message, attempts))
                return
            middle = len(rows) // 2
            self._send(operation, rows[:middle], results)
            self._send(operation, rows[middle:], results)
            return
        except (TransientError, RateLimited) as exc:
            results.extend(RowResult.failed(r.key, exc.code or "TRANSIENT", exc.message, attempts) for r in rows)
            return
        results.extend(read_results(rows, response.content, attempts))


def read_results(rows: Sequence[RowOp], content: bytes, attempts: int = 1) -> list[RowResult]:
    """One verdict per row from a 2xx body: all succeeded when it has no `results`, else per row."""
    reported = _reported_results(content)
    if reported is None:
        # stamped with each row's operation already: the engine's `with_operation` then keeps the same object
        # instead of copying every result of a large sync
        succeeded = RowStatus.SUCCEEDED
        return [RowResult(r.key, succeeded, r.destination_id or r.key, None, None, attempts, r.operation) for r in rows]
    verdicts: list[RowResult] = []
    for row in rows:
        entry = reported.get(row.key)
        if entry is None:
            verdicts.append(
                RowResult.failed(row.key, "NO_RESULT", "the endpoint returned no result for this row", attempts)
            )
            continue
        status = str(entry.get("status") or "").lower()
        error = str(entry.get("error") or "")
        if status == RowStatus.SUCCEEDED:
            destination_id = entry.get("id")
            verdicts.append(
                RowResult.ok(row.key, str(destination_id) if destination_id else _default_id(row), attempts)
            )
        elif status == RowStatus.REJECTED:
            verdicts.append(RowResult.rejected(row.key, "REJECTED", error or "rejected by the endpoint", attempts))
        elif status == RowStatus.FAILED:
            verdicts.append(RowResult.failed(row.key, "FAILED", error or "the endpoint failed this row", attempts))
        else:
            verdicts.append(
                RowResult.failed(row.key, "BAD_RESULT", f"the endpoint answered an unknown status {status!r}", attempts)
            )
    return verdicts


def _default_id(row: RowOp) -> str:
    return row.destination_id or row.key


def _reported_results(content: bytes) -> dict[str, Mapping[str, Any]] | None:
    if not content.strip():
        return None
    try:
        parsed = json.loads(content)
    except ValueError:
        return None
    entries = parsed.get("results") if isinstance(parsed, Mapping) else None
    if not isinstance(entries, list):
        return None
    return {str(e.get("key")): e for e in entries if isinstance(e, Mapping) and e.get("key") is not None}


__all__ = ["BatchRefused", "WebhookDestination", "capabilities", "idempotency_key", "read_results", "request_body"]
