"""A webhook endpoint simulator speaking the wire format of DESIGN §7, on `SimulatorServer`.

    POST /<object>   {"sync", "operation", "rows": [{"key", "destination_id", "fields"}]}, Idempotency-Key header
                     -> 204 (every row applied) or 207 {"results": [...]} when a row was refused
                        (200 {"results": [...]} with ids for every batch when `per_row_results` is on)
    HEAD /<object>   -> 200 (the writer's reachability check)

Records are kept per object by row key: upsert and update merge the row's fields into the record (a field the row
does not carry keeps its value, a null stores null: what an endpoint does with `update: changed_fields` rows),
update refuses an unknown key, insert appends (a second insert of a key is a duplicate record, as an append-only
endpoint would make), delete removes. A request whose
Idempotency-Key already succeeded is answered with the stored answer and not applied again.

Fault switches, all thread-safe and changeable while serving: `throttle_share` (a random share of requests
answered 429, with `Retry-After` when `retry_after` is set), `storm(n)` (the next n requests 429), `limit(n, w)`
(a sliding window: more than n admitted requests in w seconds -> 429 with Retry-After), `fail_rows` (a batch
containing these keys answers 500), `refuse_rows` (a batch containing these keys answers 422 as a whole),
`reject_keys` / `reject_emails` (207 per-row rejections), `max_body_bytes` (a larger body answers 413),
`token` (401 unless `Authorization: Bearer <token>`; `refused` lists the Idempotency-Key of each POST so refused),
`fail_next(n, status)` (the next n requests answer `status`), `delay_next(n, seconds)` (apply the next n batches,
then answer late: a client read timeout on a request that did land), `quota(limit, used)` (a daily allocation
reported in `X-RateLimit-Daily-Limit` / `X-RateLimit-Daily-Remaining`; spent -> 429 DAILY), plus the server's
own `faults` (latency, dropped connections).

Accounting for tests: `applied` (how many times each row was applied: a row sent twice shows 2), `arrivals`
(admitted request times), `throttled` (429s answered), `early_retries` (requests re-sent before the Retry-After
their Idempotency-Key was given had elapsed), `replays`.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any, cast

from activate.clock import SYSTEM_CLOCK, Clock
from activate.testing.server import Handler, Request, Response, Router, SimulatorServer

_EPSILON = 1e-6


class WebhookSimulator:
    """A webhook endpoint for tests, the demo and benchmarks (see the module docstring). Use as a context manager."""

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        per_row_results: bool = False,
        throttle_share: float = 0.0,
        retry_after: float | None = None,
        token: str | None = None,
        seed: int = 7,
        port: int = 0,
        max_body_bytes: int | None = None,
    ) -> None:
        self.clock = clock
        self.per_row_results = per_row_results
        self.throttle_share = throttle_share
        self.retry_after = retry_after
        self.token = token
        self.max_body_bytes = max_body_bytes  # a larger body answers 413, as a gateway in front of an endpoint does
        self.oversized = 0  # bodies refused with 413
        self.fail_rows: set[str] = set()
        self.fail_times: int | None = None  # how many more times a `fail_rows` batch answers 500 (None: always)
        self.refuse_rows: set[str] = set()
        self.reject_keys: set[str] = set()
        self.reject_emails: set[str] = set()
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._storm = 0
        self._storm_retry_after: float | None = None
        self._window: tuple[int, float] | None = None
        self._fail_next: list[int] = []
        self._delay_next: list[float] = []
        self._quota: list[int] | None = None  # [limit, used]
        self._admitted: deque[float] = deque()
        self._answers: dict[str, Response] = {}
        self._not_before: dict[str, float] = {}
        self._next_id = 0
        self.records: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.applied: Counter[str] = Counter()
        self.arrivals: list[float] = []
        self.requests = 0
        self.throttled = 0
        self.replays = 0
        self.early_retries: list[tuple[str, float]] = []
        self.refused: list[str] = []
        router = Router()
        router.add("POST", r"/(?P<object>.+)", self._post)
        router.add("HEAD", r"/(?P<object>.*)", lambda request: Response(200))
        # SimulatorServer.respond treats a None from `before` as "go on to the route"; its `Handler` annotation
        # says Response only, hence the cast.
        self.server = SimulatorServer(router, port=port, before=cast(Handler, self._gate))

    # -- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def faults(self) -> Any:
        return self.server.faults

    def start(self) -> WebhookSimulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> WebhookSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- switches -------------------------------------------------------------------------------------------------

    def storm(self, requests: int, retry_after: float | None = None) -> None:
        """Answer the next `requests` requests 429 (with `Retry-After` when given)."""
        with self._lock:
            self._storm = requests
            self._storm_retry_after = retry_after

    def limit(self, requests: int | None, per_seconds: float = 1.0) -> None:
        """Admit at most `requests` requests per sliding `per_seconds`; the rest get 429 + Retry-After. None: off."""
        with self._lock:
            self._window = None if requests is None else (requests, per_seconds)
            self._admitted.clear()

    def fail_next(self, requests: int, status: int = 500) -> None:
        """Answer the next `requests` requests with `status` (before looking at them)."""
        with self._lock:
            self._fail_next.extend([status] * requests)

    def delay_next(self, requests: int, seconds: float) -> None:
        """Apply the next `requests` batches, then wait `seconds` (real time) before answering."""
        with self._lock:
            self._delay_next.extend([seconds] * requests)

    def quota(self, limit: int | None, used: int = 0) -> None:
        """Report a daily allocation of `limit` calls of which `used` are spent; every admitted POST spends one."""
        with self._lock:
            self._quota = None if limit is None else [limit, used]

    # -- what it holds --------------------------------------------------------------------------------------------

    def rows(self, obj: str) -> dict[str, list[dict[str, Any]]]:
        """Row key -> every record stored under it (more than one means a duplicate)."""
        with self._lock:
            return {key: [dict(r) for r in records] for key, records in self.records.get(obj, {}).items() if records}

    def max_in_window(self, seconds: float) -> int:
        """The most admitted requests that arrived within any `seconds`-long window."""
        with self._lock:
            times = sorted(self.arrivals)
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= seconds:
                start += 1
            most = max(most, end - start + 1)
        return most

    # -- serving --------------------------------------------------------------------------------------------------

    def _gate(self, request: Request) -> Response | None:
        """Everything that answers before the body is read: auth, storms, random throttling, the window."""
        if self.token is not None and request.header("authorization") != f"Bearer {self.token}":
            with self._lock:
                self.requests += request.method == "POST"
                if request.method == "POST":
                    self.refused.append(request.header("idempotency-key") or "")
            return Response(401, {"message": "invalid or expired token"})
        if request.method != "POST":
            return None
        now = self.clock.monotonic()
        key = request.header("idempotency-key") or ""
        with self._lock:
            self.requests += 1
            not_before = self._not_before.pop(key, None)
            if not_before is not None and now + _EPSILON < not_before:
                self.early_retries.append((key, not_before - now))
            if self._fail_next:
                return Response(self._fail_next.pop(0), {"message": "injected failure"})
            if self._quota is not None and self._quota[1] >= self._quota[0]:
                self.throttled += 1
                return Response(429, {"message": "DAILY limit reached", "policyName": "DAILY"}, self._quota_headers())
            if self._storm > 0:
                self._storm -= 1
                return self._throttle(key, now, self._storm_retry_after)
            if self.throttle_share and self._rng.random() < self.throttle_share:
                return self._throttle(key, now, self.retry_after)
            if self._window is not None:
                requests, per_seconds = self._window
                while self._admitted and self._admitted[0] + per_seconds <= now + _EPSILON:
                    self._admitted.popleft()
                if len(self._admitted) >= requests:
                    wait = self._admitted[0] + per_seconds - now
                    return self._throttle(key, now, float(math.ceil(wait)))
                self._admitted.append(now)
            self.arrivals.append(now)
            if self._quota is not None:
                self._quota[1] += 1
        return None

    def _quota_headers(self) -> dict[str, str]:
        if self._quota is None:
            return {}
        limit, used = self._quota
        return {"X-RateLimit-Daily-Limit": str(limit), "X-RateLimit-Daily-Remaining": str(max(limit - used, 0))}

    def _throttle(self, key: str, now: float, retry_after: float | None) -> Response:
        self.throttled += 1
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
            if key:
                self._not_before[key] = now + retry_after
        return Response(429, {"message": "too many requests"}, headers)

    def _post(self, request: Request) -> Response:
        obj = request.params["object"]
        key = request.header("idempotency-key")
        if self.max_body_bytes is not None and len(request.body) > self.max_body_bytes:
            with self._lock:
                self.oversized += 1
            return Response(413, {"message": f"request body over {self.max_body_bytes} bytes"})
        try:
            body = request.json()
            operation = body["operation"]
            rows = body["rows"]
        except (ValueError, KeyError, TypeError) as exc:
            return Response(400, {"message": f"malformed batch: {exc}"})
        with self._lock:
            if key and key in self._answers:
                self.replays += 1
                replay = self._answers[key]
                return Response(replay.status, replay.body, {"Idempotent-Replayed": "true"})
            keys = [str(row.get("key")) for row in rows]
            if self.fail_rows.intersection(keys) and self.fail_times != 0:
                if self.fail_times is not None:
                    self.fail_times -= 1
                return Response(500, {"message": "injected failure for this batch"})
            refused = [k for k in keys if k in self.refuse_rows]
            if refused:
                return Response(422, {"message": f"invalid rows in batch: {', '.join(refused)}"})
            results = [self._apply(obj, operation, row) for row in rows]
            response = self._answer(results)
            response.headers.update(self._quota_headers())
            if key:
                self._answers[key] = response
            delay = self._delay_next.pop(0) if self._delay_next else 0.0
        if delay:
            time.sleep(delay)
        return response

    def _apply(self, obj: str, operation: str, row: dict[str, Any]) -> dict[str, Any]:
        key = str(row.get("key"))
        fields = row.get("fields") or {}
        if key in self.reject_keys or fields.get("email") in self.reject_emails:
            return {"key": key, "status": "rejected", "error": f"row {key} refused: invalid data"}
        store = self.records.setdefault(obj, {})
        existing = store.get(key) or []
        if operation == "update" and not existing:
            return {"key": key, "status": "rejected", "error": f"no record with key {key} to update"}
        self.applied[key] += 1
        if operation == "delete":
            store.pop(key, None)
            return {"key": key, "status": "succeeded", "id": row.get("destination_id") or key}
        if operation == "insert" or not existing:
            self._next_id += 1
            record = {**fields, "_id": f"wh_{self._next_id}"}
            store[key] = [*existing, record]
            return {"key": key, "status": "succeeded", "id": record["_id"]}
        existing[0] = {**existing[0], **fields}
        return {"key": key, "status": "succeeded", "id": existing[0]["_id"]}

    def _answer(self, results: list[dict[str, Any]]) -> Response:
        if self.per_row_results:
            return Response(200, {"results": results})
        if all(r["status"] == "succeeded" for r in results):
            return Response(204)
        return Response(207, {"results": results})


class WebhookConformanceTarget:
    """`ConformanceTarget` for the webhook destination: `people` rows POSTed to the simulator."""

    name = "webhook"
    modes = frozenset({"upsert", "update", "insert", "mirror"})

    def __init__(self, **simulator_options: Any) -> None:
        self.sim = WebhookSimulator(**simulator_options)

    def start(self, workdir: Path) -> None:
        self.sim.start()

    def stop(self) -> None:
        self.sim.stop()

    def connection(self) -> dict[str, Any]:
        return {"type": "webhook", "url": self.sim.url, "rate_limit": {"requests": 100, "per_seconds": 1}}

    def destination(self, mode: str) -> dict[str, Any]:
        return {
            "object": "people",
            "mode": mode,
            "batch_size": 10,
            "mapping": {"id": "id", "email": "email", "first_name": "first_name"},
        }

    def records(self) -> dict[str, dict[str, Any]]:
        held: dict[str, dict[str, Any]] = {}
        for key, records in self.sim.rows("people").items():
            for n, record in enumerate(records, start=1):
                held[key if n == 1 else f"{key}#{n}"] = record
        return held

    def write_calls(self) -> int:
        return self.sim.requests

    def written_fields(self) -> list[dict[str, Any]]:
        """Each row's `fields` from every non-delete batch the simulator accepted (not 4xx/5xx)."""
        bodies = [call.json() for call in self.sim.server.log.calls("POST") if call.status < 400]
        return [
            dict(row.get("fields") or {})
            for body in bodies
            if isinstance(body, dict) and body.get("operation") != "delete"
            for row in body.get("rows") or []
        ]

    def reject(self, emails: set[str]) -> None:
        with self.sim._lock:
            self.sim.reject_emails = set(emails)

    def storm(self, requests: int, retry_after: int) -> None:
        self.sim.storm(requests, retry_after)

    def slow(self, seconds: float) -> None:
        self.sim.faults.latency = seconds


__all__ = ["WebhookConformanceTarget", "WebhookSimulator"]
