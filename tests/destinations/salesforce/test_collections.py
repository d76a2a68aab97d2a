"""sObject Collections writes through simple-salesforce over HTTPS to the simulator: calls, payloads, verdicts."""

from __future__ import annotations

from salesforce_support import (
    DROP,
    UPSERT_PATH,
    WriterFactory,
    by_status,
    contact,
    contacts,
    data_calls,
    org_ids,
    write_all,
)

from activate.clock import FakeClock
from activate.destinations.base import Operation, RowOp, RowStatus, WriteBatch
from activate.testing.salesforce import SalesforceSimulator


def test_1000_contacts_upsert_in_5_collection_calls(sim: SalesforceSimulator, make_writer: WriterFactory) -> None:
    writer = make_writer()
    rows = contacts(1000)

    assert writer.batch_size(Operation.UPSERT, 1000) == 200
    results = write_all(writer, rows, threads=10)

    calls = data_calls(sim)
    assert [(c.method, c.path) for c in calls] == [("PATCH", f"/services/data/v62.0{UPSERT_PATH}")] * 5
    sent = sorted((r["Activate_Id__c"] for c in calls for r in c.json()["records"]), key=lambda v: int(v[2:]))
    assert sent == [f"c-{i}" for i in range(1000)]
    for call in calls:
        body = call.json()
        assert body["allOrNone"] is False
        assert len(body["records"]) == 200
        assert all(r["attributes"] == {"type": "Contact"} for r in body["records"])
    ids = org_ids(sim)
    assert len(ids) == 1000
    assert {r.key: r.destination_id for r in results} == {f"k{i}": ids[f"c-{i}"] for i in range(1000)}
    assert all(r.status == RowStatus.SUCCEEDED for r in results)
    assert writer.context.stats.api_calls == 5


def test_upsert_updates_existing_records_in_place(sim: SalesforceSimulator, make_writer: WriterFactory) -> None:
    writer = make_writer()
    first = write_all(writer, contacts(3))
    second = write_all(writer, [contact(i, FirstName=f"Renamed{i}") for i in range(3)])

    assert [r.destination_id for r in first] == [r.destination_id for r in second]
    assert sorted(r["FirstName"] for r in sim.org.records("Contact")) == ["Renamed0", "Renamed1", "Renamed2"]


def test_unable_to_lock_row_is_retried_until_every_row_succeeds(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    sim.org.lock_rate = 0.05
    clock = FakeClock()
    writer = make_writer(clock=clock)

    results = write_all(writer, contacts(1000), threads=4)

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    retried = [r for r in results if r.attempts > 1]
    assert retried, "5% lock errors on 1,000 rows must have made some rows retry"
    calls = data_calls(sim, "PATCH", UPSERT_PATH)
    assert len(calls) > 5
    # each retry resends only the locked rows, never rows already confirmed
    assert sum(len(c.json()["records"]) for c in calls) == 1000 + sum(r.attempts - 1 for r in results)
    assert len(org_ids(sim)) == 1000
    assert clock.slept, "lock retries back off through the clock"


def test_lock_errors_that_persist_fail_the_row_after_bounded_attempts(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    sim.org.lock_rate = 1.0
    writer = make_writer()

    results = writer.write(WriteBatch(Operation.UPSERT, contacts(3)))

    assert {(r.status, r.error_code, r.attempts) for r in results} == {(RowStatus.FAILED, "UNABLE_TO_LOCK_ROW", 5)}
    assert len(data_calls(sim, "PATCH", UPSERT_PATH)) == 5


def test_rows_missing_a_required_field_are_exactly_the_rejected_ones(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer()
    missing = set(range(5, 1000, 100))
    rows = [contact(i, LastName=DROP) if i in missing else contact(i) for i in range(1000)]

    results = write_all(writer, rows, threads=5)

    rejected = [r for r in results if r.status == RowStatus.REJECTED]
    assert sorted(r.key for r in rejected) == sorted(f"k{i}" for i in missing)
    assert {r.error_code for r in rejected} == {"REQUIRED_FIELD_MISSING"}
    assert all("LastName" in (r.error_message or "") for r in rejected)
    assert len(by_status(results)[RowStatus.SUCCEEDED]) == 990
    assert len(org_ids(sim)) == 990


def test_per_record_errors_are_rejected_with_code_and_message(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    sim.org.validation_rules.append(lambda sobject, r: "Title may not be CEO" if r.get("Title") == "CEO" else None)
    sim.org.duplicate_rules["Contact"] = "Email"
    writer = make_writer()
    write_all(writer, [contact(0, Email="taken@example.com")])

    rows = [
        contact(1, FirstName="x" * 41),
        contact(2, Nickname__c="Bob"),
        contact(3, Title="CEO"),
        contact(4, Email="TAKEN@example.com"),
        contact(5, Email="not-an-email"),
        contact(6),
    ]
    results = {r.key: r for r in writer.write(WriteBatch(Operation.UPSERT, rows))}

    assert {k: (r.status, r.error_code) for k, r in results.items()} == {
        "k1": (RowStatus.REJECTED, "STRING_TOO_LONG"),
        "k2": (RowStatus.REJECTED, "INVALID_FIELD"),
        "k3": (RowStatus.REJECTED, "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
        "k4": (RowStatus.REJECTED, "DUPLICATES_DETECTED"),
        "k5": (RowStatus.REJECTED, "INVALID_EMAIL_ADDRESS"),
        "k6": (RowStatus.SUCCEEDED, None),
    }
    assert "Nickname__c" in (results["k2"].error_message or "")
    assert "Title may not be CEO" in (results["k3"].error_message or "")
    assert len(data_calls(sim, "PATCH", UPSERT_PATH)) == 2


def test_duplicate_external_ids_in_one_batch_are_never_sent_together(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer()
    rows = [
        contact(1),
        RowOp("dup-a", Operation.UPSERT, {"Activate_Id__c": "same", "LastName": "A"}, match_value="same"),
        contact(2),
        RowOp("dup-b", Operation.UPSERT, {"Activate_Id__c": "same", "LastName": "B"}, match_value="same"),
    ]

    results = {r.key: r for r in writer.write(WriteBatch(Operation.UPSERT, rows))}

    calls = data_calls(sim, "PATCH", UPSERT_PATH)
    assert [[r["Activate_Id__c"] for r in c.json()["records"]] for c in calls] == [["c-1", "same", "c-2"], ["same"]]
    assert {r.status for r in results.values()} == {RowStatus.SUCCEEDED}
    assert results["dup-a"].destination_id == results["dup-b"].destination_id
    assert sim.org.find("Contact", "Activate_Id__c", "same")[0]["LastName"] == "B"


def test_rows_without_an_external_id_value_are_rejected_unsent(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer()
    row = RowOp("k-none", Operation.UPSERT, {"LastName": "Nobody"}, match_value=None)

    [result] = writer.write(WriteBatch(Operation.UPSERT, [row]))

    assert (result.status, result.error_code) == (RowStatus.REJECTED, "MISSING_MATCH_VALUE")
    assert data_calls(sim) == []


def test_a_request_refused_as_a_whole_is_bisected_to_the_bad_row(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer()
    rows = [contact(i, Title={"nested": True}) if i == 37 else contact(i) for i in range(200)]

    results = {r.key: r for r in writer.write(WriteBatch(Operation.UPSERT, rows))}

    assert (results["k37"].status, results["k37"].error_code) == (RowStatus.REJECTED, "JSON_PARSER_ERROR")
    assert sum(r.status == RowStatus.SUCCEEDED for r in results.values()) == 199
    calls = data_calls(sim, "PATCH", UPSERT_PATH)
    assert len(calls) <= 2 * 8 + 1  # a bisection, not one call per row
    assert len(org_ids(sim)) == 199


def test_update_mode_updates_found_records_and_refuses_to_insert(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    write_all(make_writer(), contacts(2))
    sim.log.clear()
    writer = make_writer(mode="update")
    rows = [
        contact(0, Operation.UPDATE, Title="VP"),
        contact(1, Operation.UPDATE, Title="CTO"),
        contact(9, Operation.UPDATE),
    ]

    results = {r.key: r for r in writer.write(WriteBatch(Operation.UPDATE, rows))}

    ids = org_ids(sim)
    assert (results["k0"].status, results["k0"].destination_id) == (RowStatus.SUCCEEDED, ids["c-0"])
    assert (results["k1"].status, results["k1"].destination_id) == (RowStatus.SUCCEEDED, ids["c-1"])
    assert (results["k9"].status, results["k9"].error_code) == (RowStatus.REJECTED, "NOT_FOUND")
    assert "never creates" in (results["k9"].error_message or "")
    assert "c-9" not in ids
    calls = [(c.method, c.path.rsplit("/v62.0", 1)[1]) for c in data_calls(sim)]
    assert calls == [("GET", "/sobjects/Contact/describe"), ("GET", "/query/"), ("PATCH", "/composite/sobjects")]
    update_body = data_calls(sim, "PATCH", "/composite/sobjects")[0].json()
    assert [r["Id"] for r in update_body["records"]] == [ids["c-0"], ids["c-1"]]


def test_insert_creates_and_reconcile_finds_what_a_crashed_run_created(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer(mode="insert")
    rows = contacts(3, operation=Operation.INSERT)

    results = writer.write(WriteBatch(Operation.INSERT, rows))

    assert [c.method for c in data_calls(sim, path="/composite/sobjects")] == ["POST"]
    ids = org_ids(sim)
    assert {r.key: r.destination_id for r in results} == {f"k{i}": ids[f"c-{i}"] for i in range(3)}
    found = make_writer(mode="insert").reconcile([*rows, contact(7, Operation.INSERT)])
    assert found == {f"k{i}": ids[f"c-{i}"] for i in range(3)}


def test_insert_is_not_resent_after_a_server_error(sim: SalesforceSimulator, make_writer: WriterFactory) -> None:
    writer = make_writer(mode="insert")
    writer.session.client()  # log in before the fault, so only the insert meets it
    sim.faults.error_rate = 1.0

    results = writer.write(WriteBatch(Operation.INSERT, contacts(2, operation=Operation.INSERT)))

    assert {(r.status, r.error_code) for r in results} == {(RowStatus.FAILED, "HTTP_500")}
    assert len(sim.log.calls("POST", "/composite/sobjects")) == 1


def test_server_errors_on_upsert_are_retried(sim: SalesforceSimulator, make_writer: WriterFactory) -> None:
    clock = FakeClock()
    writer = make_writer(clock=clock)
    writer.session.client()
    sim.faults.error_rate = 0.5

    results = write_all(writer, contacts(600))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    assert len(sim.log.calls("PATCH", UPSERT_PATH)) > 3
    assert writer.context.stats.retries > 0
    assert len(org_ids(sim)) == 600


def test_429_storm_waits_retry_after_and_recovers(sim: SalesforceSimulator, make_writer: WriterFactory) -> None:
    clock = FakeClock()
    writer = make_writer(clock=clock)
    writer.session.client()
    sim.faults.retry_after = 7
    sim.faults.storm_429 = 3

    results = writer.write(WriteBatch(Operation.UPSERT, contacts(10)))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    assert [c.status for c in sim.log.calls("PATCH", UPSERT_PATH)] == [429, 429, 429, 200]
    assert clock.slept.count(7.0) >= 3


def test_mirror_deletes_by_stored_id_and_treats_gone_records_as_deleted(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    upserted = write_all(make_writer(), contacts(3))
    ids = {r.key: r.destination_id for r in upserted}
    sim.org.delete(str(ids["k2"]))  # someone deleted it in Salesforce already
    sim.log.clear()
    writer = make_writer(mode="mirror")
    rows = [
        RowOp("k0", Operation.DELETE, destination_id=ids["k0"]),
        RowOp("k1", Operation.DELETE, match_value="c-1"),  # no stored id: found by External ID
        RowOp("k2", Operation.DELETE, destination_id=ids["k2"]),
        RowOp("k9", Operation.DELETE, match_value="c-9"),  # never synced
    ]

    results = {r.key: r for r in writer.write(WriteBatch(Operation.DELETE, rows))}

    assert {r.status for r in results.values()} == {RowStatus.SUCCEEDED}
    assert results["k0"].destination_id == ids["k0"]
    assert results["k1"].destination_id == ids["k1"]
    assert org_ids(sim) == {}
    [delete] = sim.log.calls("DELETE", "/composite/sobjects")
    assert delete.status == 200
    assert writer.batch_size(Operation.DELETE, 50_000) == 200
