"""Bulk API 2.0 ingest through simple-salesforce's client over HTTPS: one job, polling via the clock, per-row results
joined by External ID."""

from __future__ import annotations

import csv
import io

from salesforce_support import DROP, WriterFactory, contact, contacts, data_calls, org_ids, write_all

from activate.clock import FakeClock
from activate.destinations.base import Operation, RowStatus, WriteBatch
from activate.testing.salesforce import SalesforceSimulator

JOBS = "/jobs/ingest"


def test_50000_contacts_in_one_bulk_job_with_a_result_for_every_row(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    clock = FakeClock()
    writer = make_writer(clock=clock)
    rows = contacts(50_000)
    assert writer.batch_size(Operation.UPSERT, 50_000) == 50_000
    results = write_all(writer, rows)

    assert len(sim.bulk.jobs) == 1
    [job] = sim.bulk.jobs.values()
    assert (job.operation, job.object, job.external_id_field, job.state) == (
        "upsert",
        "Contact",
        "Activate_Id__c",
        "JobComplete",
    )
    calls = [(c.method, c.path.split(JOBS, 1)[-1].removeprefix("/" + job.id)) for c in data_calls(sim, path=JOBS)]
    assert calls == [
        ("POST", ""),
        ("PUT", "/batches"),
        ("PATCH", ""),
        ("GET", ""),
        ("GET", ""),
        ("GET", "/successfulResults"),
        ("GET", "/failedResults"),
        ("GET", "/unprocessedrecords"),
    ]
    assert data_calls(sim, path="/composite/") == []
    uploaded = list(csv.reader(io.StringIO(sim.log.calls("PUT", JOBS)[0].body.decode())))
    assert uploaded[0] == ["Activate_Id__c", "Email", "FirstName", "LastName"]
    assert len(uploaded) == 50_001
    assert clock.slept[:2] == [0.5, 1.0]  # polls back off through the clock
    ids = org_ids(sim)
    assert len(ids) == 50_000
    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    # joined by External ID, not position: the simulator returns result rows out of upload order
    assert {r.key: r.destination_id for r in results} == {f"k{i}": ids[f"c-{i}"] for i in range(50_000)}


def test_bulk_rejections_are_joined_to_their_rows_by_external_id(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer(api="bulk")
    missing = {3, 17, 18, 250, 999}
    rows = [contact(i, LastName=DROP) if i in missing else contact(i) for i in range(1000)]

    results = {r.key: r for r in writer.write(WriteBatch(Operation.UPSERT, rows))}

    rejected = {k for k, r in results.items() if r.status == RowStatus.REJECTED}
    assert rejected == {f"k{i}" for i in missing}
    assert {results[k].error_code for k in rejected} == {"REQUIRED_FIELD_MISSING"}
    assert all(results[k].error_message == "Required fields are missing: [LastName]" for k in rejected)
    ids = org_ids(sim)
    assert all(results[f"k{i}"].destination_id == ids[f"c-{i}"] for i in range(1000) if i not in missing)
    assert len(sim.bulk.jobs) == 1


def test_bulk_nulls_a_field_with_na_and_leaves_absent_fields_alone(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    write_all(make_writer(api="bulk"), [contact(1, Title="Boss", Phone="555")])
    writer = make_writer(api="bulk")

    writer.write(WriteBatch(Operation.UPSERT, [contact(1, Title=None, Phone=DROP), contact(2, Title="New")]))

    [record] = sim.org.find("Contact", "Activate_Id__c", "c-1")
    assert (record["Title"], record["Phone"]) == (None, "555")


def test_a_failed_job_leaves_every_row_failed_never_succeeded(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    sim.bulk.fail_next_jobs = 1
    writer = make_writer(api="bulk")

    results = writer.write(WriteBatch(Operation.UPSERT, contacts(300)))

    assert {(r.status, r.error_code) for r in results} == {(RowStatus.FAILED, "BULK_UNPROCESSED")}
    assert "job processing failed" in (results[0].error_message or "")
    assert org_ids(sim) == {}


def test_lock_errors_in_a_bulk_job_are_retried_until_all_succeed(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    sim.org.lock_rate = 0.05
    writer = make_writer(clock=FakeClock())

    results = write_all(writer, contacts(4000))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    assert len(sim.bulk.jobs) == 1  # ~200 locked rows are under the threshold: retried through collections
    retried = [r for r in results if r.attempts > 1]
    assert retried
    assert sum(len(c.json()["records"]) for c in sim.log.calls("PATCH", "/composite/sobjects/")) == sum(
        r.attempts - 1 for r in results
    )
    assert len(org_ids(sim)) == 4000


def test_bulk_insert_and_duplicate_values_go_to_separate_jobs(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer(mode="insert", api="bulk")
    rows = [*contacts(3, operation=Operation.INSERT), contact(1, Operation.INSERT)]
    rows[3] = rows[3].__class__("k1-again", Operation.INSERT, rows[3].fields, match_value="c-1")

    results = {r.key: r for r in writer.write(WriteBatch(Operation.INSERT, rows))}

    assert [j.operation for j in sim.bulk.jobs.values()] == ["insert", "insert"]
    assert [len(j.successful) + len(j.failed) for j in sim.bulk.jobs.values()] == [3, 1]
    assert {k: r.status for k, r in results.items() if k != "k1-again"} == {
        "k0": RowStatus.SUCCEEDED,
        "k1": RowStatus.SUCCEEDED,
        "k2": RowStatus.SUCCEEDED,
    }
    assert (results["k1-again"].status, results["k1-again"].error_code) == (RowStatus.REJECTED, "DUPLICATE_VALUE")


def test_auto_switches_to_bulk_at_the_threshold(make_writer: WriterFactory) -> None:
    auto = make_writer(bulk_threshold=500)
    assert auto.batch_size(Operation.UPSERT, 499) == 200
    assert auto.batch_size(Operation.UPSERT, 500) == 500
    assert auto.batch_size(Operation.INSERT, 800) == 800
    assert auto.batch_size(Operation.UPDATE, 800) == 200
    assert make_writer(api="rest").batch_size(Operation.UPSERT, 100_000) == 200
    assert make_writer(api="bulk").batch_size(Operation.UPSERT, 10) == 10
