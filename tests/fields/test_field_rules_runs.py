"""Acceptance 2 of issue #11 over real HTTP: an `on: create` field is in every create and in no update, and a
`nulls: skip` field never travels as a null (HubSpot's empty string, Salesforce's JSON null or Bulk `#N/A`),
asserted on request bodies. A changed row whose only change is in such a field is settled with no call, counted
as skipped, and its hash advances so the next run does not send it either."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from field_support import customers_table, hubspot_project, upsert_inputs

from activate.clock import FakeClock
from activate.testing.hubspot import HubSpotSimulator
from activate.testing.project import ScratchProject
from activate.testing.salesforce import SalesforceSimulator

pytestmark = pytest.mark.slow

HUBSPOT_MAPPING: dict[str, Any] = {
    "customer_id": "customer_id",
    "email": "email",
    "f01": {"column": "f01", "on": "create"},  # a lead source: set once
    "phone": {"column": "phone", "nulls": "skip"},
    "f02": "f02",
}
# rows 1-20 exist; 5 and 6 start with no phone; then: 1-4 change only f01 (on: create), 7-8 only lose their
# phone (nulls: skip), 9-12 change f02 and f01 and lose their phone, 21-22 are new (one without a phone)
EDITS = (
    "update customers set f01 = 'changed' where id <= 4",
    "update customers set phone = null where id in (7, 8)",
    "update customers set f02 = 'edited', f01 = 'changed', phone = null where id between 9 and 12",
    "insert into customers (id, customer_id, email, phone, f01, f02) values "
    "(21, 'C-21', 'p21@example.com', '555-21', 'web', 'x'), (22, 'C-22', 'p22@example.com', null, 'web', 'y')",
)


def hubspot_sync(project: ScratchProject, update: str) -> None:
    customers_table(project, 20)
    project.execute("update customers set phone = null where id in (5, 6)")
    project.add_sync(
        "customers",
        {
            "connection": "hubspot",
            "object": "contacts",
            "match": "customer_id",
            "update": update,
            "mapping": HUBSPOT_MAPPING,
        },
        query="select * from customers",
    )


@pytest.mark.parametrize("update", ["all", "changed_fields"])
def test_hubspot_on_create_and_nulls_skip_on_request_bodies(
    tmp_path: Path, hubspot: HubSpotSimulator, clock: FakeClock, update: str
) -> None:
    project = hubspot_project(tmp_path / "p", hubspot)
    hubspot_sync(project, update)
    first = project.run("customers", clock=clock)
    assert (first.status, first.rows_succeeded) == ("succeeded", 20), first.error
    created = {i["objectWriteTraceId"]: i["properties"] for i in upsert_inputs(hubspot)}
    assert all(p["f01"] == f"f01-{k}" for k, p in created.items()), "on: create fields travel in every create"
    assert "phone" not in created["5"], "a null of a nulls: skip field is left out"
    assert "phone" not in created["6"]
    hubspot.answered.clear()

    project.execute(*EDITS)
    second = project.run("customers", clock=clock)

    # 1-4 and 7-8 have nothing this sync may send: settled without a call, counted as skipped
    assert (second.status, second.rows_changed, second.rows_added) == ("succeeded", 10, 2), second.error
    assert (second.rows_succeeded, second.rows_skipped, second.api_calls) == (6, 6, 2)
    sent = {i["objectWriteTraceId"]: i["properties"] for i in upsert_inputs(hubspot)}
    assert set(sent) == {"9", "10", "11", "12", "21", "22"}
    for key in ("9", "10", "11", "12"):
        assert "f01" not in sent[key], "an update never carries an on: create field"
        assert "phone" not in sent[key], "a null never clears a nulls: skip field"
        assert sent[key]["f02"] == "edited"
        if update == "changed_fields":
            assert sent[key] == {"customer_id": f"C-{key}", "f02": "edited"}
    assert sent["21"]["f01"] == "web"
    assert sent["21"]["phone"] == "555-21"
    assert sent["22"]["f01"] == "web"
    assert "phone" not in sent["22"]
    every = [*created.values(), *sent.values()]
    assert all(properties.get("phone", "absent") not in (None, "") for properties in every)
    records = {r["customer_id"]: r for r in hubspot.records("contacts")}
    assert (records["C-1"]["f01"], records["C-7"]["phone"], records["C-9"]["phone"]) == ("f01-1", "555-7", "555-9")
    results = {r.row_key: r for r in project.reader().row_results(second.run_id)}
    assert {k for k, r in results.items() if r.status == "skipped"} == {"1", "2", "3", "4", "7", "8"}
    for key in ("1", "7"):
        assert results[key].changed_fields is None
        assert results[key].previous_hash is not None

    # the skipped rows' hashes advanced: nothing is planned or sent again
    hubspot.answered.clear()
    assert project.plan("customers").counts.changed == 0
    third = project.run("customers", clock=clock)
    assert (third.rows_changed, third.api_calls) == (0, 0)
    assert hubspot.answered.calls("POST", "/batch/") == []


SALESFORCE_MAPPING: dict[str, Any] = {
    "Activate_Id__c": "customer_id",
    "LastName": "f02",
    "Title": {"column": "f01", "on": "create"},
    "Phone": {"column": "phone", "nulls": "skip"},
    "Email": "email",
}


def salesforce_project(root: Path, sim: SalesforceSimulator, api: str) -> ScratchProject:
    project = ScratchProject(root)
    project.add_connection(
        "sf",
        {
            "type": "salesforce",
            "instance_url": sim.url,
            "login_url": sim.url,
            "ca_bundle": str(sim.ca_bundle),
            "auth": {"method": "session", "session_id": sim.issue_session()},
        },
    )
    customers_table(project, 20)
    project.execute("update customers set phone = null where id in (5, 6)")
    project.add_sync(
        "contacts",
        {
            "connection": "sf",
            "object": "Contact",
            "match": "Activate_Id__c",
            "update": "changed_fields",
            "api": api,
            "mapping": SALESFORCE_MAPPING,
        },
        query="select * from customers",
    )
    return project


def sent_records(sim: SalesforceSimulator, api: str) -> list[dict[str, Any]]:
    """Every record the writes carried: Collections bodies, or Bulk CSV rows without their empty cells (which
    leave a field unchanged: not sent)."""
    if api == "rest":
        calls = [c for c in sim.log.calls("PATCH") if "/composite/sobjects" in c.path]
        return [{k: v for k, v in r.items() if k != "attributes"} for c in calls for r in c.json()["records"]]
    rows: list[dict[str, Any]] = []
    for upload in sim.log.calls("PUT", "/jobs/ingest"):
        for row in csv.DictReader(io.StringIO(upload.body.decode())):
            rows.append({k: (None if v == "#N/A" else v) for k, v in row.items() if v != ""})
    return rows


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_salesforce_on_create_and_nulls_skip_on_request_bodies(
    tmp_path: Path, salesforce: SalesforceSimulator, api: str
) -> None:
    project = salesforce_project(tmp_path / "p", salesforce, api)
    first = project.run("contacts", clock=FakeClock())
    assert (first.status, first.rows_succeeded) == ("succeeded", 20), first.error
    created = {r["Activate_Id__c"]: r for r in sent_records(salesforce, api)}
    assert all(r["Title"] == f"f01-{k[2:]}" for k, r in created.items())
    assert "Phone" not in created["C-5"]
    assert "Phone" not in created["C-6"]
    salesforce.log.clear()

    project.execute(*EDITS)
    second = project.run("contacts", clock=FakeClock())

    assert (second.status, second.rows_succeeded, second.rows_skipped) == ("succeeded", 6, 6), second.error
    sent = {r["Activate_Id__c"]: r for r in sent_records(salesforce, api)}
    assert set(sent) == {"C-9", "C-10", "C-11", "C-12", "C-21", "C-22"}
    for key in ("C-9", "C-10", "C-11", "C-12"):
        assert sent[key] == {"Activate_Id__c": key, "LastName": "edited"}
    assert (sent["C-21"]["Title"], sent["C-21"]["Phone"]) == ("web", "555-21")
    assert sent["C-22"]["Title"] == "web"
    assert "Phone" not in sent["C-22"]
    if api == "bulk":
        headers = [next(csv.reader(io.StringIO(u.body.decode()))) for u in salesforce.log.calls("PUT", "/jobs/ingest")]
        assert any("Title" not in header for header in headers), "the update job has no on: create column"
    [c9] = salesforce.org.find("Contact", "Activate_Id__c", "C-9")
    [c1] = salesforce.org.find("Contact", "Activate_Id__c", "C-1")
    assert (c9["Phone"], c9["Title"], c9["LastName"], c1["Title"]) == ("555-9", "f01-9", "edited", "f01-1")

    salesforce.log.clear()
    third = project.run("contacts", clock=FakeClock())
    assert (third.rows_changed, third.api_calls) == (0, 0)
    assert sent_records(salesforce, api) == []
