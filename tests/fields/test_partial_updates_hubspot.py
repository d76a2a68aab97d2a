"""Acceptance 1 of issue #11, end to end over real HTTP to the HubSpot simulator: a 20-field sync matched on a
unique custom property with `update: changed_fields` sends, for 100 rows whose one field changed, inputs carrying
only that field and the id property; matched on `email` (whose batch upsert cannot take a partial row) it sends
the full row and `plan` says why. What the destination confirmed is kept per row, merged over what it had."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from field_support import EXTRA_FIELDS, customers_table, hubspot_project, upsert_inputs, wide_mapping

from activate.clock import FakeClock
from activate.testing.hubspot import HubSpotSimulator
from activate.testing.project import ScratchProject

pytestmark = pytest.mark.slow

ROWS = 300


def wide_sync(project: ScratchProject, match: str) -> None:
    customers_table(project, ROWS)
    project.add_sync(
        "customers",
        {
            "connection": "hubspot",
            "object": "contacts",
            "mode": "upsert",
            "match": match,
            "update": "changed_fields",
            "mapping": wide_mapping(),
        },
        query="select * from customers",
    )


def records_by_customer(sim: HubSpotSimulator) -> dict[str, dict[str, str]]:
    return {r["customer_id"]: r for r in sim.records("contacts")}


def test_editing_one_field_on_100_rows_sends_only_that_field_and_the_id_property(
    tmp_path: Path, hubspot: HubSpotSimulator, clock: FakeClock
) -> None:
    project = hubspot_project(tmp_path / "p", hubspot)
    wide_sync(project, "customer_id")
    first = project.run("customers", clock=clock)
    assert (first.status, first.rows_succeeded) == ("succeeded", ROWS), first.error
    assert all(len(i["properties"]) == 20 for i in upsert_inputs(hubspot))
    hubspot.answered.clear()

    project.execute("update customers set f07 = 'edited-' || id where id % 3 = 0")  # 100 rows
    plan = project.plan("customers")
    assert (plan.counts.changed, plan.partial_updates) == (100, True)
    assert "update: changed_fields: changed rows send only the fields that changed plus customer_id" in plan.notes
    second = project.run("customers", clock=clock)

    assert (second.status, second.rows_succeeded, second.api_calls) == ("succeeded", 100, 1)
    inputs = upsert_inputs(hubspot)
    assert len(inputs) == 100
    assert {i["idProperty"] for i in inputs} == {"customer_id"}
    for i in inputs:
        n = int(i["objectWriteTraceId"])
        assert i["properties"] == {"customer_id": f"C-{n}", "f07": f"edited-{n}"}
    after = records_by_customer(hubspot)
    assert after["C-3"]["f07"] == "edited-3"
    assert after["C-3"]["f08"] == "f08-3", "a partial upsert leaves every other property as it was"
    # the row's confirmed values: all 20 fields, the sent one merged over what was confirmed before
    stored = project.reader().synced_row("customers", "3")
    assert json.loads(stored.fields) == {
        "customer_id": "C-3",
        "email": "person3@example.com",
        "phone": "555-3",
        **{n: f"{n}-3" for n in EXTRA_FIELDS},
        "f07": "edited-3",
    }
    results = {r.row_key: r for r in project.reader().row_results(second.run_id)}
    assert json.loads(results["3"].changed_fields) == {"f07": {"old": "f07-3", "new": "edited-3"}}
    assert results["3"].previous_hash is not None

    # another field on a few of the same rows: the merged confirmed values make only it differ
    project.execute("update customers set f12 = 'again' where id in (3, 6)")
    hubspot.answered.clear()
    third = project.run("customers", clock=clock)
    assert (third.rows_succeeded, third.api_calls) == (2, 1)
    assert [i["properties"] for i in upsert_inputs(hubspot)] == [
        {"customer_id": "C-3", "f12": "again"},
        {"customer_id": "C-6", "f12": "again"},
    ]
    hubspot.answered.clear()
    assert project.run("customers", clock=clock).api_calls == 0
    assert upsert_inputs(hubspot) == []


def test_email_as_id_property_sends_the_full_row_and_plan_says_why(
    tmp_path: Path, hubspot: HubSpotSimulator, clock: FakeClock
) -> None:
    project = hubspot_project(tmp_path / "p", hubspot)
    wide_sync(project, "email")
    assert project.run("customers", clock=clock).status == "succeeded"
    hubspot.answered.clear()

    project.execute("update customers set f07 = 'edited-' || id where id % 3 = 0")
    plan = project.plan("customers")
    assert plan.partial_updates is False
    assert (
        "update: changed_fields: the full row is sent: HubSpot's batch upsert by email does not support partial "
        "upserts: the full row is sent (match on a unique custom property to send only changed fields)"
    ) in plan.notes
    [sample, *_] = plan.samples["changed"]
    assert len(sample["fields"]) == 20
    assert sample["changes"] == {"f07": {"old": f"f07-{sample['key']}", "new": f"edited-{sample['key']}"}}
    second = project.run("customers", clock=clock)

    assert (second.status, second.rows_succeeded, second.api_calls) == ("succeeded", 100, 1)
    inputs = upsert_inputs(hubspot)
    assert len(inputs) == 100
    assert {i["idProperty"] for i in inputs} == {"email"}
    for i in inputs:
        assert set(i["properties"]) | {"email"} == set(wide_mapping()), "the full row is sent"
        assert i["properties"]["f07"] == f"edited-{i['objectWriteTraceId']}"
