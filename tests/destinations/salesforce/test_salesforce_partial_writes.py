"""Partial updates through the Salesforce writer: rows of one batch carrying different fields. sObject Collections
send each record with exactly its row's fields (None as JSON null, which clears); a Bulk API 2.0 CSV has the union
of the fields as header, an empty cell where a row does not carry a field (Bulk leaves it unchanged) and `#N/A`
where it carries None (Bulk sets null). The simulated org keeps every field a write does not name."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from salesforce_support import UPSERT_PATH, WriterFactory, contacts, data_calls, write_all

from activate.destinations.base import Operation, RowOp, RowStatus, WriteBatch
from activate.testing.salesforce import SalesforceSimulator

FULL = {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "Title": "Analyst", "Phone": "555"}


def partial(i: int, op: Operation, **fields: Any) -> RowOp:
    """Row `i` carrying only the External ID and `fields`, as the engine hands over changed fields."""
    return RowOp(f"k{i}", op, {"Activate_Id__c": f"c-{i}", **fields}, match_value=f"c-{i}")


@pytest.fixture
def seeded(sim: SalesforceSimulator, make_writer: WriterFactory) -> SalesforceSimulator:
    """Contacts c-0..c-2 written in full, then the request log cleared."""
    rows = [
        RowOp(f"k{i}", Operation.UPSERT, {"Activate_Id__c": f"c-{i}", **FULL}, match_value=f"c-{i}") for i in range(3)
    ]
    assert {r.status for r in write_all(make_writer(api="rest"), rows)} == {RowStatus.SUCCEEDED}
    sim.log.clear()
    return sim


def record(sim: SalesforceSimulator, external_id: str) -> dict[str, Any]:
    [found] = sim.org.find("Contact", "Activate_Id__c", external_id)
    return {name: found[name] for name in ("Activate_Id__c", *FULL)}


ROWS = {
    0: {"Title": "Director"},
    1: {"Phone": None, "FirstName": "Augusta"},
    2: {},
}
EXPECTED = {
    "c-0": {"Activate_Id__c": "c-0", **FULL, "Title": "Director"},
    "c-1": {"Activate_Id__c": "c-1", **FULL, "Phone": None, "FirstName": "Augusta"},
    "c-2": {"Activate_Id__c": "c-2", **FULL},
}


def test_collections_upsert_sends_each_rows_fields_and_null_clears(
    seeded: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer(api="rest")

    results = writer.write(WriteBatch(Operation.UPSERT, [partial(i, Operation.UPSERT, **f) for i, f in ROWS.items()]))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    [call] = data_calls(seeded, "PATCH", UPSERT_PATH)
    sent = [{k: v for k, v in r.items() if k != "attributes"} for r in call.json()["records"]]
    assert sent == [
        {"Activate_Id__c": "c-0", "Title": "Director"},
        {"Activate_Id__c": "c-1", "Phone": None, "FirstName": "Augusta"},
        {"Activate_Id__c": "c-2"},
    ]
    assert {value: record(seeded, value) for value in EXPECTED} == EXPECTED


def test_collections_update_sends_each_rows_fields_by_id(
    seeded: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer(mode="update", api="rest")

    results = writer.write(WriteBatch(Operation.UPDATE, [partial(i, Operation.UPDATE, **f) for i, f in ROWS.items()]))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    [call] = [c for c in data_calls(seeded, "PATCH") if c.path.endswith("/composite/sobjects")]
    sent = [{k: v for k, v in r.items() if k not in ("attributes", "Id")} for r in call.json()["records"]]
    assert sent == [
        {"Activate_Id__c": "c-0", "Title": "Director"},
        {"Activate_Id__c": "c-1", "Phone": None, "FirstName": "Augusta"},
        {"Activate_Id__c": "c-2"},
    ]
    assert all(r["Id"] for r in call.json()["records"])
    assert {value: record(seeded, value) for value in EXPECTED} == EXPECTED


def test_bulk_csv_leaves_uncarried_fields_empty_and_nulls_with_na(
    seeded: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer(api="bulk")
    rows = [partial(i, Operation.UPSERT, **f) for i, f in ROWS.items()]
    rows.append(partial(3, Operation.UPSERT, LastName="New", Email=""))  # a new record; "" cannot travel in CSV

    results = writer.write(WriteBatch(Operation.UPSERT, rows))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    [upload] = seeded.log.calls("PUT", "/jobs/ingest")
    assert list(csv.reader(io.StringIO(upload.body.decode()))) == [
        ["Activate_Id__c", "Email", "FirstName", "LastName", "Phone", "Title"],
        ["c-0", "", "", "", "", "Director"],
        ["c-1", "", "Augusta", "", "#N/A", ""],
        ["c-2", "", "", "", "", ""],
        ["c-3", "#N/A", "", "New", "", ""],
    ]
    assert {value: record(seeded, value) for value in EXPECTED} == EXPECTED
    [new] = seeded.org.find("Contact", "Activate_Id__c", "c-3")
    assert (new["LastName"], new["Email"], new["FirstName"]) == ("New", None, None)


def test_full_and_partial_rows_share_one_job(seeded: SalesforceSimulator, make_writer: WriterFactory) -> None:
    writer = make_writer(api="bulk")
    rows = [*contacts(1, start=7), partial(0, Operation.UPSERT, Title=None)]

    assert {r.status for r in writer.write(WriteBatch(Operation.UPSERT, rows))} == {RowStatus.SUCCEEDED}

    [upload] = seeded.log.calls("PUT", "/jobs/ingest")
    assert list(csv.reader(io.StringIO(upload.body.decode()))) == [
        ["Activate_Id__c", "Email", "FirstName", "LastName", "Title"],
        ["c-7", "person7@example.com", "First7", "Last7", ""],
        ["c-0", "", "", "", "#N/A"],
    ]
    assert record(seeded, "c-0") == {"Activate_Id__c": "c-0", **FULL, "Title": None}
    assert record(seeded, "c-7")["FirstName"] == "First7"


def test_bulk_clears_a_lookup_through_its_lookup_field_not_the_relationship_column(
    seeded: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    seeded.org.create("Account", {"Name": "Acme", "Ext_Account__c": "A-1"})
    writer = make_writer(api="bulk")
    writer.write(
        WriteBatch(
            Operation.UPSERT, [partial(i, Operation.UPSERT, **{"Account.Ext_Account__c": "A-1"}) for i in range(2)]
        )
    )
    seeded.log.clear()

    rows = [partial(0, Operation.UPSERT, **{"Account.Ext_Account__c": None}), partial(1, Operation.UPSERT, Title="X")]
    assert {r.status for r in writer.write(WriteBatch(Operation.UPSERT, rows))} == {RowStatus.SUCCEEDED}

    [upload] = seeded.log.calls("PUT", "/jobs/ingest")
    assert list(csv.reader(io.StringIO(upload.body.decode()))) == [
        ["Activate_Id__c", "AccountId", "Title"],
        ["c-0", "#N/A", ""],
        ["c-1", "", "X"],
    ]
    account = seeded.org.records("Account")[0]["Id"]
    linked = {r["Activate_Id__c"]: (r["AccountId"], r["Title"]) for r in seeded.org.records("Contact")}
    assert linked == {"c-0": (None, "Analyst"), "c-1": (account, "X"), "c-2": (None, "Analyst")}
