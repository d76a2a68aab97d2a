"""The webhook writer over real HTTP (httpx) to the webhook simulator, time on one FakeClock."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import pytest

from activate.clock import FakeClock
from activate.config.models import DestinationSpec
from activate.destinations.base import Operation, RowOp, RowResult, RowStatus, RunStats, WriteBatch, WriteContext
from activate.destinations.webhook import WebhookConnection, plugin
from activate.destinations.webhook.writer import WebhookDestination, read_results
from activate.http.caller import forget_callers
from activate.http.errors import QuotaExhausted, TerminalError
from activate.testing.webhook_sim import WebhookSimulator


class NewWriter(Protocol):
    def __call__(self, *, mode: str = ..., **connection: Any) -> tuple[WebhookDestination, RunStats]: ...


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[WebhookSimulator]:
    forget_callers()
    with WebhookSimulator(clock=clock) as simulator:
        yield simulator
    forget_callers()


@pytest.fixture
def new_writer(sim: WebhookSimulator, clock: FakeClock) -> Iterator[NewWriter]:
    writers: list[WebhookDestination] = []

    def build(
        *, mode: str = "upsert", url: str | None = None, **connection: Any
    ) -> tuple[WebhookDestination, RunStats]:
        spec = DestinationSpec(connection="hooks", object="people", mode=mode)  # type: ignore[arg-type]
        stats = RunStats()
        conn = WebhookConnection.model_validate({"type": "webhook", "url": url or sim.url, **connection})
        writer = plugin.create(conn, WriteContext("people_sync", "run-1", spec, stats, clock))
        writers.append(writer)
        return writer, stats

    yield build
    for writer in writers:
        writer.close()


def row(i: int, op: Operation = Operation.UPSERT, **fields: Any) -> RowOp:
    data = None if op is Operation.DELETE else {"id": i, "email": f"person{i}@example.com", **fields}
    return RowOp(str(i), op, data, destination_id=f"wh-{i}" if op is Operation.DELETE else None)


def write_all(writer: WebhookDestination, rows: list[RowOp], threads: int = 1, size: int = 100) -> dict[str, RowResult]:
    batches = [WriteBatch(rows[0].operation, rows[i : i + size]) for i in range(0, len(rows), size)]
    with ThreadPoolExecutor(threads) as pool:
        verdicts = [r for results in pool.map(writer.write, batches) for r in results]
    by_key = {r.key: r for r in verdicts}
    assert len(by_key) == len(verdicts) == len(rows), "every row gets exactly one result"
    return by_key


def statuses(results: dict[str, RowResult]) -> dict[RowStatus, int]:
    counts: dict[RowStatus, int] = {}
    for result in results.values():
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def test_5000_rows_through_a_30_percent_429_storm_arrive_once_and_never_early(
    sim: WebhookSimulator, clock: FakeClock, new_writer: NewWriter
) -> None:
    sim.throttle_share, sim.retry_after = 0.3, 2
    writer, stats = new_writer(rate_limit={"requests": 50, "per_seconds": 1, "max_concurrency": 4})
    results = write_all(writer, [row(i) for i in range(5000)], threads=writer.capabilities.max_concurrency)

    assert statuses(results) == {RowStatus.SUCCEEDED: 5000}
    assert sim.throttled >= 10, "the storm really happened"
    assert len(sim.arrivals) == 50, "each batch of 100 got through the throttle exactly once"
    assert set(sim.applied.values()) == {1}
    assert len(sim.applied) == 5000
    assert sim.replays == 0
    assert sim.early_retries == [], "a request re-sent before its Retry-After had elapsed"
    assert stats.api_calls == sim.requests == 50 + sim.throttled
    assert stats.retries == sim.throttled
    assert stats.throttled_seconds >= 2 * sim.throttled / writer.capabilities.max_concurrency


def test_the_wire_format(sim: WebhookSimulator, new_writer: NewWriter) -> None:
    writer, stats = new_writer(headers={"Authorization": "Bearer s3cret"})
    sim.token = "s3cret"
    results = write_all(writer, [row(1), row(2, plan="pro")])
    deleted = write_all(writer, [row(2, Operation.DELETE)])

    upsert, delete = [c.json() for c in sim.server.log.calls("POST")]
    assert upsert == {
        "sync": "people_sync",
        "operation": "upsert",
        "rows": [
            {"key": "1", "destination_id": None, "fields": {"id": 1, "email": "person1@example.com"}},
            {"key": "2", "destination_id": None, "fields": {"id": 2, "email": "person2@example.com", "plan": "pro"}},
        ],
    }
    assert delete == {"sync": "people_sync", "operation": "delete", "rows": [{"key": "2", "destination_id": "wh-2"}]}
    assert {k: r.destination_id for k, r in results.items()} == {"1": "1", "2": "2"}, "204: the row key is the id"
    assert deleted["2"].status is RowStatus.SUCCEEDED
    assert sim.rows("people").keys() == {"1"}
    assert stats.api_calls == 2
    assert "s3cret" not in repr(writer.connection)


def test_the_idempotency_key_follows_the_content_across_runs(
    sim: WebhookSimulator, clock: FakeClock, new_writer: NewWriter
) -> None:
    first, _ = new_writer()
    write_all(first, [row(1), row(2)])
    second, _ = new_writer()  # another run, same rows and data: a replay the endpoint drops
    write_all(second, [row(1), row(2)])
    write_all(second, [row(1), row(2, plan="changed")])

    keys = [c for c in sim.server.log.calls("POST")]
    assert len(keys) == 3
    assert sim.replays == 1
    assert sim.applied == {"1": 2, "2": 2}


def test_the_same_data_sent_again_from_another_state_is_not_a_replay(
    sim: WebhookSimulator, new_writer: NewWriter
) -> None:
    """A -> B -> A: the third write's body is the first's byte for byte, but the rows' state before it (their
    version) differs, so its Idempotency-Key does too and the endpoint applies it."""
    writer, _ = new_writer()
    first = [row(1, first_name="A"), row(2, first_name="A")]
    write_all(writer, first)
    write_all(
        writer, [dataclasses.replace(r, fields={**(r.fields or {}), "first_name": "B"}, version="hA") for r in first]
    )
    write_all(writer, [dataclasses.replace(r, version="hB") for r in first])
    assert sim.replays == 0
    assert sim.rows("people")["1"][0]["first_name"] == "A"
    write_all(writer, [dataclasses.replace(r, version="hB") for r in first])  # the same write retried: a replay
    assert sim.replays == 1


def test_per_row_results_and_ids_from_the_endpoint(sim: WebhookSimulator, new_writer: NewWriter) -> None:
    sim.per_row_results = True
    sim.reject_keys = {"3"}
    writer, stats = new_writer()
    results = write_all(writer, [row(i) for i in range(1, 6)])

    assert statuses(results) == {RowStatus.SUCCEEDED: 4, RowStatus.REJECTED: 1}
    assert results["3"].error_code == "REJECTED"
    assert results["3"].error_message == "row 3 refused: invalid data"
    stored = sim.rows("people")
    assert {k: r.destination_id for k, r in results.items() if k != "3"} == {k: v[0]["_id"] for k, v in stored.items()}
    assert stats.api_calls == 1


def test_207_rejects_only_the_refused_rows(sim: WebhookSimulator, new_writer: NewWriter) -> None:
    sim.reject_emails = {"person4@example.com", "person9@example.com"}
    writer, stats = new_writer()
    results = write_all(writer, [row(i) for i in range(20)])

    assert statuses(results) == {RowStatus.SUCCEEDED: 18, RowStatus.REJECTED: 2}
    assert {k for k, r in results.items() if r.status is RowStatus.REJECTED} == {"4", "9"}
    assert [c.status for c in sim.server.log.calls("POST")] == [207]


def test_a_batch_refused_as_a_whole_is_split_until_the_bad_row_stands_alone(
    sim: WebhookSimulator, new_writer: NewWriter
) -> None:
    sim.refuse_rows = {"5"}
    writer, stats = new_writer()
    results = write_all(writer, [row(i) for i in range(8)])

    assert statuses(results) == {RowStatus.SUCCEEDED: 7, RowStatus.REJECTED: 1}
    assert results["5"].error_code == "HTTP_422"
    assert results["5"].error_message == "HTTP 422: invalid rows in batch: 5"
    bodies = [[r["key"] for r in c.json()["rows"]] for c in sim.server.log.calls("POST")]
    # 8 -> 4 + 4 (good) -> 2 (good) + 2 -> 1 (good) + 1 (bad): no request repeated, no good row sent twice.
    assert sorted(map(len, bodies)) == [1, 1, 2, 2, 4, 4, 8]
    assert set(sim.applied.values()) == {1}
    assert stats.api_calls == 7
    assert stats.retries == 0


def test_a_batch_that_keeps_failing_fails_its_rows_only(sim: WebhookSimulator, new_writer: NewWriter) -> None:
    sim.fail_rows = {"150"}
    writer, stats = new_writer()
    results = write_all(writer, [row(i) for i in range(300)])

    failed = {k for k, r in results.items() if r.status is RowStatus.FAILED}
    assert failed == {str(i) for i in range(100, 200)}
    assert {(r.error_code, r.attempts) for k, r in results.items() if k in failed} == {("HTTP_500", 5)}
    assert statuses(results)[RowStatus.SUCCEEDED] == 200
    assert stats.api_calls == 2 + 5


def test_update_rejects_rows_the_endpoint_does_not_have(sim: WebhookSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer()
    write_all(writer, [row(1)])
    updated = write_all(writer, [row(1, Operation.UPDATE, plan="x"), row(2, Operation.UPDATE)])
    assert updated["1"].status is RowStatus.SUCCEEDED
    assert updated["2"].status is RowStatus.REJECTED
    assert updated["2"].error_message == "no record with key 2 to update"
    assert sim.rows("people")["1"][0]["plan"] == "x"


def test_a_refusal_of_the_endpoint_itself_fails_the_run(sim: WebhookSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer()
    sim.fail_next(1, 403)
    with pytest.raises(TerminalError) as raised:
        writer.write(WriteBatch(Operation.UPSERT, [row(1)]))
    assert raised.value.status == 403
    assert sim.requests == 1


def test_the_daily_budget_stops_the_writer_keeping_confirmed_rows(sim: WebhookSimulator, new_writer: NewWriter) -> None:
    sim.refuse_rows = {"3"}
    writer, _ = new_writer(rate_limit={"daily_budget": 2})
    with pytest.raises(QuotaExhausted) as raised:
        writer.write(WriteBatch(Operation.UPSERT, [row(i) for i in range(4)]))
    # 4 rows refused as a whole (call 1), the first half written (call 2), the second half over budget.
    assert [r.key for r in raised.value.results] == ["0", "1"]
    assert "daily_budget of 2 API calls reached" in raised.value.message
    assert sim.requests == 2


def test_insert_and_mirror_modes(sim: WebhookSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer(mode="insert")
    inserted = write_all(writer, [row(i, Operation.INSERT) for i in range(3)])
    assert statuses(inserted) == {RowStatus.SUCCEEDED: 3}
    removed = write_all(writer, [row(1, Operation.DELETE)])
    assert removed["1"].status is RowStatus.SUCCEEDED
    assert sorted(sim.rows("people")) == ["0", "2"]
    assert writer.reconcile([row(5, Operation.INSERT)]) == {}
    assert writer.capabilities.modes == {"upsert", "update", "insert", "mirror"}


def test_check_reports_an_unreachable_or_refusing_endpoint(sim: WebhookSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer()
    assert writer.check(["email"]) == []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    down, _ = new_writer(url=closed)
    [problem] = down.check([])
    assert problem.startswith(f"cannot reach the webhook at {closed}/people: ConnectError")
    sim.token = "right"
    refused, _ = new_writer(headers={"Authorization": "Bearer wrong"})
    [problem] = refused.check([])
    assert "refused the connection's headers (HTTP 401)" in problem
    assert "wrong" not in problem


def test_batch_size_is_the_connections_unless_the_sync_asks_for_less(new_writer: NewWriter) -> None:
    writer, _ = new_writer(batch_size=250)
    assert writer.batch_size(Operation.UPSERT, 10_000) == 250
    assert writer.capabilities.batch_size == 250


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", [RowStatus.SUCCEEDED, RowStatus.SUCCEEDED]),
        (b"not json", [RowStatus.SUCCEEDED, RowStatus.SUCCEEDED]),
        (
            json.dumps({"results": [{"key": "a", "status": "succeeded", "id": 7}]}).encode(),
            [RowStatus.SUCCEEDED, RowStatus.FAILED],
        ),
        (
            json.dumps({"results": [{"key": "a", "status": "failed"}, {"key": "b", "status": "odd"}]}).encode(),
            [RowStatus.FAILED, RowStatus.FAILED],
        ),
    ],
)
def test_reading_results(body: bytes, expected: list[RowStatus]) -> None:
    verdicts = read_results([RowOp("a", Operation.UPSERT, {}), RowOp("b", Operation.UPSERT, {})], body)
    assert [v.status for v in verdicts] == expected
    if body.startswith(b'{"results": [{"key": "a", "status": "succeeded"'):
        assert verdicts[0].destination_id == "7"
        assert verdicts[1].error_code == "NO_RESULT"


def test_bodies_stay_under_max_body_bytes_and_an_oversized_row_is_rejected(
    sim: WebhookSimulator, new_writer: NewWriter
) -> None:
    writer, _ = new_writer(max_body_bytes=20_000)
    rows = [row(i, note="n" * 3_000) for i in range(10)] + [row(99, note="x" * 30_000)]
    results = write_all(writer, rows)

    assert (results["99"].status, results["99"].error_code) == (RowStatus.REJECTED, "PAYLOAD_TOO_LARGE")
    assert "over the connection's max_body_bytes (20,000)" in (results["99"].error_message or "")
    assert statuses(results) == {RowStatus.SUCCEEDED: 10, RowStatus.REJECTED: 1}
    bodies = [len(c.body) for c in sim.server.log.calls("POST")]
    assert len(bodies) >= 2, "the 33 KB batch went in smaller requests"
    assert max(bodies) <= 20_000
    assert sorted(sim.rows("people"), key=int) == [str(i) for i in range(10)]


def test_simulator_answers_413_over_its_body_limit(clock: FakeClock) -> None:
    import httpx

    with WebhookSimulator(clock=clock, max_body_bytes=1_000) as small:
        body = {"sync": "s", "operation": "upsert", "rows": [{"key": "1", "fields": {"v": "x" * 2_000}}]}
        assert httpx.post(f"{small.url}/people", json=body).status_code == 413
        assert (small.oversized, small.rows("people")) == (1, {})
        body["rows"][0]["fields"] = {"v": "short"}
        assert httpx.post(f"{small.url}/people", json=body).status_code == 204


def test_a_batch_the_endpoint_refuses_413_is_split_until_it_fits(clock: FakeClock, new_writer: NewWriter) -> None:
    with WebhookSimulator(clock=clock, max_body_bytes=8_000) as small:
        writer, _ = new_writer(url=small.url)
        results = write_all(writer, [row(i, note="n" * 1_500) for i in range(8)])
        assert statuses(results) == {RowStatus.SUCCEEDED: 8}
        assert small.oversized >= 1
        assert len(small.rows("people")) == 8
