"""Salesforce lookups by external ID (`Account.Ext_Account__c` in the mapping) through the real engine, the real
simple-salesforce and real HTTPS to the simulator: nested references in Collections, the dotted column in Bulk 2.0
CSV, a missing parent rejected per row with Salesforce's message, and `validate --check-connections`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import auth_for
from salesforce_support import UPSERT_PATH, WriterFactory, contact, data_calls

from activate.clock import FakeClock
from activate.destinations.base import RowStatus, WriteBatch
from activate.http.caller import forget_callers
from activate.testing.project import ScratchProject
from activate.testing.salesforce import SalesforceSimulator

ACCOUNTS = 50
MISSING = {"7", "70", "700"}  # contacts naming an Account nobody synced


@pytest.fixture
def project(tmp_path: Path, sim: SalesforceSimulator) -> Iterator[ScratchProject]:
    forget_callers()
    project = ScratchProject(tmp_path / "project")
    project.add_connection(
        "sf",
        {
            "type": "salesforce",
            "instance_url": sim.url,
            "login_url": sim.url,
            "ca_bundle": str(sim.ca_bundle),
            "auth": auth_for(sim, "jwt"),
        },
    )
    yield project
    forget_callers()


def _setup(project: ScratchProject, contacts: int, **contact_destination: str) -> None:
    project.execute(
        "create or replace table accounts as select 'A-' || i as ext, 'Account ' || i as name "
        f"from range(1, {ACCOUNTS + 1}) r(i)",
        "create or replace table people as select i as id, 'Last' || i as last_name, "
        f"case when i::varchar in ('7', '70', '700') then 'A-999' else 'A-' || (i % {ACCOUNTS} + 1) end as account "
        f"from range(1, {contacts + 1}) r(i)",
    )
    project.add_sync(
        "sf_accounts",
        {
            "connection": "sf",
            "object": "Account",
            "match": "Ext_Account__c",
            "mapping": {"Ext_Account__c": "ext", "Name": "name"},
        },
        query="select * from accounts",
        primary_key="ext",
    )
    project.add_sync(
        "sf_contacts",
        {
            "connection": "sf",
            "object": "Contact",
            "match": "Activate_Id__c",
            "mapping": {"Activate_Id__c": "id", "LastName": "last_name", "Account.Ext_Account__c": "account"},
            **contact_destination,
        },
        after=["sf_accounts"],
    )


def _assert_linked(project: ScratchProject, sim: SalesforceSimulator, contacts: int, run_id: str) -> None:
    accounts = {r["Ext_Account__c"]: r["Id"] for r in sim.org.records("Account")}
    linked = {str(r["Activate_Id__c"]): r["AccountId"] for r in sim.org.records("Contact")}
    assert len(linked) == contacts - len(MISSING)
    for key, account_id in linked.items():
        assert account_id == accounts[f"A-{int(key) % ACCOUNTS + 1}"]
    rejected = project.reader().row_results(run_id, statuses=["rejected"])
    assert {r["row_key"] for r in rejected} == MISSING
    for row in rejected:
        assert row["error_code"] == "INVALID_FIELD"
        assert (
            "Foreign key external ID: A-999 not found for field Ext_Account__c in entity Account"
            in (row["error_message"])
        )


def test_1000_contacts_name_their_account_through_collections(
    project: ScratchProject, sim: SalesforceSimulator
) -> None:
    _setup(project, 1000)
    assert project.run("sf_accounts", clock=FakeClock()).status == "succeeded"

    summary = project.run("sf_contacts", clock=FakeClock())

    assert summary.status == "partial", summary.error
    assert (summary.rows_succeeded, summary.rows_rejected) == (997, 3)
    calls = data_calls(sim, "PATCH", UPSERT_PATH)
    assert len(calls) == 5
    # batches go out concurrently: find contact 1 wherever it landed (its account is A-(1 % ACCOUNTS + 1) = A-2)
    [body] = [r for c in calls for r in c.json()["records"] if r["Activate_Id__c"] == 1]
    assert body["Account"] == {"Ext_Account__c": "A-2"}
    assert "AccountId" not in body
    _assert_linked(project, sim, 1000, summary.run_id)


def test_20000_contacts_name_their_account_through_one_bulk_job(
    project: ScratchProject, sim: SalesforceSimulator
) -> None:
    contacts = 20_000
    _setup(project, contacts)
    assert project.run("sf_accounts", clock=FakeClock()).status == "succeeded"

    summary = project.run("sf_contacts", clock=FakeClock())

    assert summary.status == "partial", summary.error
    assert (summary.rows_succeeded, summary.rows_rejected) == (contacts - 3, 3)
    assert len(sim.bulk.jobs) == 1
    [job] = sim.bulk.jobs.values()
    assert "Account.Ext_Account__c" in job.header
    assert data_calls(sim, path="/composite/sobjects/Contact") == []
    _assert_linked(project, sim, contacts, summary.run_id)


def test_validate_checks_the_relationship_and_the_parent_external_id(
    project: ScratchProject, sim: SalesforceSimulator
) -> None:
    from typer.testing import CliRunner

    from activate.cli.app import app

    _setup(project, 10)
    args = ["validate", "--check-connections", "--project-dir", str(project.root)]
    assert CliRunner().invoke(app, args).exit_code == 0

    project.syncs["sf_contacts"]["destination"]["mapping"] = {
        "Activate_Id__c": "id",
        "LastName": "last_name",
        "Acount.Ext_Account__c": "account",
        "Account.Name": "account",
    }
    project.write()
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "Contact has no relationship 'Acount' (did you mean 'Account'?)" in result.output
    assert "field 'Name' on Account is not an External ID field" in result.output


def test_the_simulator_refuses_an_unknown_relationship_and_a_non_external_parent_field(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    sim.org.create("Account", {"Name": "Acme", "Ext_Account__c": "A-1"})
    rows = [
        contact(1, **{"Account.Ext_Account__c": "A-1"}),
        contact(2, **{"Acount.Ext_Account__c": "A-1"}),
        contact(3, **{"Account.Name": "Acme"}),
        contact(4, **{"Account.Ext_Account__c": None}),
    ]
    results = {r.key: r for r in make_writer(api="rest").write(WriteBatch(rows[0].operation, rows))}
    assert results["k1"].status is RowStatus.SUCCEEDED
    assert "No such column 'Acount' on sobject of type Contact" in (results["k2"].error_message or "")
    assert "Field name provided, Name does not match an External ID" in (results["k3"].error_message or "")
    assert results["k4"].status is RowStatus.SUCCEEDED  # a null reference clears the lookup (AccountId: null)
    account = sim.org.records("Account")[0]["Id"]
    assert {r["Activate_Id__c"]: r["AccountId"] for r in sim.org.records("Contact")} == {"c-1": account, "c-4": None}

    bulk = make_writer(api="bulk").write(
        WriteBatch(rows[1].operation, [contact(5, **{"Acount.Ext_Account__c": "A-1"})])
    )
    assert bulk[0].status is RowStatus.FAILED
    assert "Field name not found : Acount.Ext_Account__c" in (bulk[0].error_message or "")
