"""The HubSpot writer through the real hubspot-api-client over real HTTP to the simulator, time on one FakeClock."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hubspot_support import NewWriter, contact, writes

from activate.clock import FakeClock
from activate.destinations.base import Operation, RowOp, RowResult, RowStatus, WriteBatch
from activate.destinations.hubspot.writer import HubSpotDestination
from activate.http.errors import AuthFailed, QuotaExhausted
from activate.testing.hubspot import HubSpotSimulator, PropertyDef


def write_all(writer: HubSpotDestination, rows: list[RowOp], *, threads: int = 1) -> dict[str, RowResult]:
    """Write in batches of 100 as the engine does: concurrently up to `threads`."""
    batches = [WriteBatch(rows[0].operation, rows[i : i + 100]) for i in range(0, len(rows), 100)]
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


def test_2500_contacts_are_upserted_in_25_calls(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, stats = new_writer()
    results = write_all(writer, [contact(i) for i in range(2500)], threads=4)

    assert statuses(results) == {RowStatus.SUCCEEDED: 2500}
    calls = writes(sim, "upsert")
    assert len(calls) == 25
    assert all(c.status == 200 for c in calls)
    assert stats.api_calls == 25
    assert sorted(len(c.json()["inputs"]) for c in calls) == [100] * 25
    first = calls[0].json()["inputs"][0]
    assert first["idProperty"] == "email"
    assert set(first) == {"id", "idProperty", "objectWriteTraceId", "properties"}
    assert first["properties"] == {"email": first["id"], "firstname": "First" + first["objectWriteTraceId"]}
    records = {r["email"]: r["id"] for r in sim.records("contacts")}
    assert len(records) == 2500
    assert all(results[str(i)].destination_id == records[f"person{i}@example.com"] for i in range(2500))


def test_a_second_write_of_the_same_rows_updates_the_same_records(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer()
    first = write_all(writer, [contact(i) for i in range(150)])
    again = write_all(writer, [contact(i, fields={"firstname": f"Renamed{i}"}) for i in range(150)])

    assert {k: r.destination_id for k, r in again.items()} == {k: r.destination_id for k, r in first.items()}
    assert len(sim.records("contacts")) == 150
    assert {r["firstname"] for r in sim.records("contacts")} == {f"Renamed{i}" for i in range(150)}


def test_three_invalid_emails_in_100_rows_reject_only_those_three(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, stats = new_writer()
    bad = {7: "not-an-email", 42: "two@@example.com", 99: "missing-at.example.com"}
    rows = [contact(i, fields={"email": bad[i]}, match=bad[i]) if i in bad else contact(i) for i in range(100)]
    results = write_all(writer, rows)

    assert statuses(results) == {RowStatus.SUCCEEDED: 97, RowStatus.REJECTED: 3}
    for i, email in bad.items():
        assert results[str(i)].error_code == "INVALID_EMAIL"
        assert email in (results[str(i)].error_message or "")
    assert [c.status for c in writes(sim, "upsert")] == [207]
    assert stats.api_calls == 1
    assert len(sim.records("contacts")) == 97


def test_a_batch_refused_as_a_whole_is_split_until_the_bad_rows_stand_alone(
    sim: HubSpotSimulator, new_writer: NewWriter
) -> None:
    sim.refuse_whole_batches()
    writer, _ = new_writer()
    bad = {13: "nope", 71: "nope-either"}
    rows = [contact(i, fields={"email": bad[i]}, match=bad[i]) if i in bad else contact(i) for i in range(100)]
    results = write_all(writer, rows)

    assert statuses(results) == {RowStatus.SUCCEEDED: 98, RowStatus.REJECTED: 2}
    assert {results["13"].error_code, results["71"].error_code} == {"INVALID_EMAIL"}
    calls = writes(sim, "upsert")
    accepted = [i["objectWriteTraceId"] for c in calls if c.status == 200 for i in c.json()["inputs"]]
    assert sorted(accepted, key=int) == [str(i) for i in range(100) if i not in bad], "each good row written once"
    refused = [c for c in calls if c.status == 400]
    assert [len(c.json()["inputs"]) for c in refused if len(c.json()["inputs"]) == 1] == [1, 1]
    # Bisecting 2 bad rows out of 100 costs a few dozen calls, not one per row.
    assert len(calls) < 30


def test_an_unknown_property_is_rejected_with_hubspot_code(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer()
    results = write_all(writer, [contact(i, fields={"shoe_size": "44"}) for i in range(3)])

    assert {r.error_code for r in results.values()} == {"PROPERTY_DOESNT_EXIST"}
    assert all("shoe_size" in (r.error_message or "") for r in results.values())
    assert sim.records("contacts") == []


def test_rows_sharing_a_match_value_go_in_separate_calls(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer()
    rows = [contact(1), contact(2, fields={"email": "PERSON1@example.com"}, match="PERSON1@example.com"), contact(3)]
    results = write_all(writer, rows)

    assert statuses(results) == {RowStatus.SUCCEEDED: 3}
    assert results["1"].destination_id == results["2"].destination_id
    assert [len(c.json()["inputs"]) for c in writes(sim, "upsert")] == [2, 1]
    assert [r["firstname"] for r in sim.records("contacts")] == ["First2", "First3"]


def test_daily_limit_mid_write_raises_quota_exhausted_with_confirmed_results(
    sim: HubSpotSimulator, new_writer: NewWriter, clock: FakeClock
) -> None:
    sim.refuse_whole_batches()
    sim.limits.daily = 3
    writer, _ = new_writer()
    rows = [contact(i) for i in range(100)]
    rows[80] = contact(80, fields={"email": "bad"}, match="bad")

    with pytest.raises(QuotaExhausted) as raised:
        writer.write(WriteBatch(Operation.UPSERT, rows))

    # Call 1 (100 rows) refused, call 2 (rows 0-49) written, call 3 (rows 50-99) refused; its
    # X-HubSpot-RateLimit-Daily-Remaining: 0 tells the budget the day is spent, so call 4 is never sent.
    assert [c.status for c in writes(sim, "upsert")] == [400, 200, 400]
    confirmed = raised.value.results
    assert sorted(int(r.key) for r in confirmed) == list(range(50))
    assert {r.status for r in confirmed} == {RowStatus.SUCCEEDED}
    assert "daily" in raised.value.message.lower()


def test_after_the_daily_limit_the_pending_rows_go_out_the_next_day(
    sim: HubSpotSimulator, new_writer: NewWriter, clock: FakeClock
) -> None:
    writer, _ = new_writer()
    assert statuses(write_all(writer, [contact(i) for i in range(100)])) == {RowStatus.SUCCEEDED: 100}
    sim.limits.exhaust_day()
    pending = [contact(i) for i in range(100, 300)]

    with pytest.raises(QuotaExhausted) as raised:
        writer.write(WriteBatch(Operation.UPSERT, pending[:100]))
    assert raised.value.results == []
    # The caller remembers the day is spent: the next batch is refused without a request.
    with pytest.raises(QuotaExhausted):
        writer.write(WriteBatch(Operation.UPSERT, pending[100:]))
    assert [c.status for c in writes(sim, "upsert")] == [200, 429]

    clock.advance(24 * 3600)
    next_day, _ = new_writer()
    assert statuses(write_all(next_day, pending)) == {RowStatus.SUCCEEDED: 200}
    assert len(sim.records("contacts")) == 300


def test_a_ten_secondly_429_storm_is_waited_out_and_every_row_succeeds(
    sim: HubSpotSimulator, new_writer: NewWriter, clock: FakeClock
) -> None:
    writer, stats = new_writer()
    sim.storm(6)
    results = write_all(writer, [contact(i) for i in range(400)], threads=4)

    assert statuses(results) == {RowStatus.SUCCEEDED: 400}
    statuses_seen = [c.status for c in writes(sim, "upsert")]
    assert statuses_seen.count(429) == 6
    assert statuses_seen.count(200) == 4, "no batch was written twice"
    assert stats.throttled_seconds > 0
    assert len(sim.records("contacts")) == 400


def test_retry_after_of_a_429_is_honoured(sim: HubSpotSimulator, new_writer: NewWriter, clock: FakeClock) -> None:
    writer, stats = new_writer()
    sim.storm(2, retry_after=7)
    results = write_all(writer, [contact(i) for i in range(10)])

    assert statuses(results) == {RowStatus.SUCCEEDED: 10}
    assert [c.status for c in writes(sim, "upsert")] == [429, 429, 200]
    assert sum(s for s in clock.slept if s >= 7) >= 14
    assert stats.throttled_seconds >= 14


def test_the_simulator_10_second_window_is_respected_under_concurrency(
    clock: FakeClock, new_writer: NewWriter, sim: HubSpotSimulator
) -> None:
    sim.limits.per_window = 10
    writer, _ = new_writer(rate_limit={"requests": 10, "per_seconds": 10, "max_concurrency": 4})
    results = write_all(writer, [contact(i) for i in range(3000)], threads=4)

    assert statuses(results) == {RowStatus.SUCCEEDED: 3000}
    assert len(writes(sim, "upsert")) == 30
    assert clock.monotonic() >= 20, "30 calls at 10 per 10 s span at least two windows"


def test_insert_then_reconcile_finds_the_records_and_creates_no_duplicate(
    sim: HubSpotSimulator, new_writer: NewWriter
) -> None:
    writer, _ = new_writer(mode="insert")
    rows = [contact(i, Operation.INSERT) for i in range(10)]
    created = write_all(writer, rows)

    assert statuses(created) == {RowStatus.SUCCEEDED: 10}
    [call] = writes(sim, "create")
    assert call.status == 201
    assert [i["objectWriteTraceId"] for i in call.json()["inputs"]] == [str(i) for i in range(10)]
    # The engine crashed before recording: the next run asks where those rows went.
    fresh, _ = new_writer(mode="insert")
    found = fresh.reconcile([*rows, contact(99, Operation.INSERT)])
    assert found == {key: result.destination_id for key, result in created.items()}
    assert len(sim.answered.calls("POST", "/search")) == 1
    assert len(sim.records("contacts")) == 10


def test_an_insert_whose_answer_is_lost_is_not_resent_and_reconcile_finds_it(
    sim: HubSpotSimulator, new_writer: NewWriter
) -> None:
    writer, _ = new_writer(mode="insert", timeout=0.3)
    sim.faults.latency = 0.6
    rows = [contact(i, Operation.INSERT) for i in range(5)]
    results = write_all(writer, rows)

    # HubSpot may have created them: a create is never re-sent blind, the rows are failed for now.
    assert statuses(results) == {RowStatus.FAILED: 5}
    assert {r.error_code for r in results.values()} == {"TIMEOUT"}
    deadline = time.monotonic() + 5
    while len(sim.records("contacts")) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    sim.faults.latency = 0.0
    assert sim.write_calls == 1, "the create reached HubSpot once (its answer was lost) and was not re-sent"
    found = writer.reconcile(rows)
    assert sorted(found, key=int) == [str(i) for i in range(5)]
    assert len(sim.records("contacts")) == 5


def test_mirror_delete_archives_by_the_stored_record_id(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer(mode="mirror")
    created = write_all(writer, [contact(i) for i in range(5)])
    deletes = [
        RowOp(str(i), Operation.DELETE, None, created[str(i)].destination_id, f"person{i}@example.com")
        for i in (0, 2, 4)
    ]
    results = write_all(writer, deletes)

    assert statuses(results) == {RowStatus.SUCCEEDED: 3}
    [call] = writes(sim, "archive")
    assert call.status == 204
    assert call.json() == {"inputs": [{"id": created[k].destination_id} for k in ("0", "2", "4")]}
    assert sorted(r["email"] for r in sim.records("contacts")) == ["person1@example.com", "person3@example.com"]
    again = write_all(writer, deletes)
    assert statuses(again) == {RowStatus.SUCCEEDED: 3}, "archiving what is already gone is fine"


def test_a_delete_without_a_stored_id_is_resolved_by_match_value(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer(mode="mirror")
    created = write_all(writer, [contact(i) for i in range(3)])
    results = write_all(writer, [RowOp("1", Operation.DELETE, None, None, "PERSON1@example.com")])

    assert results["1"].status is RowStatus.SUCCEEDED
    assert results["1"].destination_id == created["1"].destination_id
    assert writes(sim, "archive")[0].json() == {"inputs": [{"id": created["1"].destination_id}]}
    assert len(sim.records("contacts")) == 2


def test_update_mode_updates_existing_records_and_rejects_unknown_ones(
    sim: HubSpotSimulator, new_writer: NewWriter
) -> None:
    seed, _ = new_writer()
    write_all(seed, [contact(i) for i in range(3)])
    writer, _ = new_writer(mode="update")
    rows = [contact(i, Operation.UPDATE, fields={"firstname": f"New{i}"}) for i in range(5)]
    results = write_all(writer, rows)

    assert statuses(results) == {RowStatus.SUCCEEDED: 3, RowStatus.REJECTED: 2}
    assert {results["3"].error_code, results["4"].error_code} == {"OBJECT_NOT_FOUND"}
    [call] = writes(sim, "update")
    assert call.status == 207
    assert {r["firstname"] for r in sim.records("contacts")} == {"New0", "New1", "New2"}
    assert len(sim.records("contacts")) == 3


def test_custom_object_upsert_by_a_unique_custom_property(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    sim.define_object(
        "2-3456789",
        "machines",
        [PropertyDef("serial", unique=True), PropertyDef("model"), PropertyDef("hours", "number", "number")],
    )
    writer, _ = new_writer(object_type="2-3456789", match="serial", mapping={"serial": "serial", "model": "model"})
    rows = [
        RowOp(str(i), Operation.UPSERT, {"serial": f"SN-{i}", "model": "X1", "hours": i * 1.5}, None, f"SN-{i}")
        for i in range(5)
    ]
    results = write_all(writer, rows)

    assert statuses(results) == {RowStatus.SUCCEEDED: 5}
    assert [c.path for c in writes(sim, "upsert")] == ["/crm/v3/objects/2-3456789/batch/upsert"]
    assert [(r["serial"], r["hours"]) for r in sim.records("machines")] == [(f"SN-{i}", str(i * 1.5)) for i in range(5)]


def test_expired_token_is_refreshed_once_for_all_threads(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    oauth = sim.oauth
    writer, stats = new_writer(
        client_id=oauth.client_id, client_secret=oauth.client_secret, refresh_token=oauth.refresh_token
    )
    assert statuses(write_all(writer, [contact(i) for i in range(100)])) == {RowStatus.SUCCEEDED: 100}
    assert len(sim.answered.calls("POST", "/oauth/v1/token")) == 1, "an OAuth-only connection gets its first token"

    sim.expire_tokens()
    results = write_all(writer, [contact(i) for i in range(100, 900)], threads=4)

    assert statuses(results) == {RowStatus.SUCCEEDED: 800}
    assert len(sim.answered.calls("POST", "/oauth/v1/token")) == 2, "one refresh, not one per thread"
    upserts = [c.status for c in writes(sim, "upsert")]
    assert upserts.count(200) == 9
    assert 1 <= upserts.count(401) <= 4


def test_an_expired_private_app_token_fails_the_run(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer()
    sim.expire_tokens()
    with pytest.raises(AuthFailed, match="EXPIRED_AUTHENTICATION"):
        writer.write(WriteBatch(Operation.UPSERT, [contact(1)]))
    assert sim.answered.calls("POST", "/oauth/v1/token") == []


def test_a_wrong_refresh_token_fails_with_a_clear_message(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer(client_id=sim.oauth.client_id, client_secret="wrong", refresh_token="nope")
    with pytest.raises(AuthFailed, match="OAuth refresh"):
        writer.write(WriteBatch(Operation.UPSERT, [contact(1)]))


def test_server_errors_are_retried_by_the_toolkit_only(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, stats = new_writer()
    sim.faults.error_rate, sim.faults.error_status = 1.0, 503
    results = write_all(writer, [contact(i) for i in range(10)])

    # The SDK's own urllib3 retry is off: exactly the toolkit's 5 attempts reach the server. Injected faults are
    # answered before the simulator's endpoints, so they show only in the server's log, written after each answer.
    assert statuses(results) == {RowStatus.FAILED: 10}
    deadline = time.monotonic() + 2
    while len(sim.log.calls("POST", "/batch/upsert")) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert [c.status for c in sim.log.calls("POST", "/batch/upsert")] == [503] * 5
    assert stats.api_calls == 5
    sim.faults.reset()


def test_a_dropped_connection_on_upsert_is_retried(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, stats = new_writer()
    sim.faults.drop_connection_next = 1
    results = write_all(writer, [contact(i) for i in range(10)])

    assert statuses(results) == {RowStatus.SUCCEEDED: 10}
    assert stats.api_calls == 2
    assert len(sim.records("contacts")) == 10


def test_quota_headers_feed_the_daily_budget(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    sim.limits.daily = 1000
    sim.limits.used_today = 990
    writer, _ = new_writer(rate_limit={"daily_budget": "99%"})
    write_all(writer, [contact(i) for i in range(100)])

    # HubSpot reported 9 of 1000 left; a 99% budget keeps 10 for other integrations: the next call is refused here.
    with pytest.raises(QuotaExhausted, match="budget|quota"):
        writer.write(WriteBatch(Operation.UPSERT, [contact(500)]))
    assert len(writes(sim, "upsert")) == 1


def test_a_property_value_over_65536_characters_is_rejected_before_sending(
    sim: HubSpotSimulator, new_writer: NewWriter
) -> None:
    writer, stats = new_writer(mapping={"email": "email", "firstname": "first_name", "company": "company"})
    rows = [
        contact(1, fields={"company": "x" * 65_536}),
        contact(2, fields={"company": "y" * 65_537}),
        contact(3),
    ]
    results = {r.key: r for r in writer.write(WriteBatch(Operation.UPSERT, rows))}

    assert (results["2"].status, results["2"].error_code) == (RowStatus.REJECTED, "PROPERTY_VALUE_TOO_LONG")
    assert "company has 65,537 characters" in (results["2"].error_message or "")
    assert {results["1"].status, results["3"].status} == {RowStatus.SUCCEEDED}
    [call] = writes(sim, "upsert")  # one request, without the long row: no refused batch, no splitting
    assert [i["objectWriteTraceId"] for i in call.json()["inputs"]] == ["1", "3"]
    assert stats.api_calls == 1
