"""Issue 15's HubSpot acceptance through the real engine, hubspot-api-client and HTTP to the simulator: companies
and contacts syncs linked by `destination.associations`, run in dependency order by `run --all`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from activate.cli.app import app
from activate.clock import FakeClock
from activate.http.caller import forget_callers
from activate.testing.hubspot import HubSpotSimulator, PropertyDef
from activate.testing.project import ScratchProject

COMPANIES = 200
CONTACTS = 2000
ASSOCIATIONS = "/crm/v4/associations/"


@pytest.fixture
def project(tmp_path: Path, sim: HubSpotSimulator) -> Iterator[ScratchProject]:
    sim.add_property("companies", PropertyDef("company_ref", label="Company ref", unique=True))
    project = ScratchProject(tmp_path / "project")
    project.add_connection("hubspot", {"type": "hubspot", "access_token": sim.token, "base_url": sim.url})
    project.execute(
        "create table companies as select i as company_id, 'Company ' || i as name "
        f"from range(1, {COMPANIES + 1}) r(i)",
        "create table people as select i as id, 'person' || i || '@example.com' as email, 'First' || i as first_name, "
        f"i % {COMPANIES} + 1 as company_id from range(1, {CONTACTS + 1}) r(i)",
    )
    project.add_sync(
        "hubspot_companies",
        {
            "connection": "hubspot",
            "object": "companies",
            "match": "company_ref",
            "mapping": {"company_ref": "company_id", "name": "name"},
        },
        query="select * from companies",
        primary_key="company_id",
    )
    # named to sort before its companies sync: only the association puts it second
    project.add_sync(
        "a_hubspot_contacts",
        {
            "connection": "hubspot",
            "object": "contacts",
            "match": "email",
            "mapping": {"email": "email", "firstname": "first_name"},
            "associations": [{"to": "companies", "sync": "hubspot_companies", "key": "company_id", "type": 279}],
        },
    )
    yield project
    forget_callers()


def association_calls(sim: HubSpotSimulator, kind: str = "") -> list[Any]:
    return [c for c in sim.answered.calls("POST", ASSOCIATIONS) if c.path.endswith(kind)]


def run_all(project: ScratchProject, clock: FakeClock) -> list[Any]:
    from activate.engine import RunOptions, run_sync

    loaded = project.load()
    return [run_sync(loaded, name, RunOptions(), clock=clock) for name in loaded.run_order()]


def company_ids(sim: HubSpotSimulator) -> dict[str, str]:
    return {str(r["company_ref"]): str(r["id"]) for r in sim.records("companies")}


def links_of(sim: HubSpotSimulator) -> dict[str, set[str]]:
    """contact email -> ids of the companies it is associated with"""
    return {str(r["email"]): set(sim.linked("contacts", r["id"], "companies")) for r in sim.records("contacts")}


def expected_company(email: str) -> str:
    return str(int(email.removeprefix("person").split("@")[0]) % COMPANIES + 1)


def test_run_all_links_every_contact_then_reruns_moves_and_waits_for_a_missing_company(
    sim: HubSpotSimulator, project: ScratchProject, clock: FakeClock
) -> None:
    first_plan = project.plan("a_hubspot_contacts").to_dict()["associations"]
    assert (first_plan["create"], first_plan["remove"]) == (CONTACTS, 0)
    result = CliRunner().invoke(app, ["run", "--all", "--json", "--project-dir", str(project.root)])
    assert result.exit_code == 0, result.output
    order = [json.loads(line)["sync_name"] for line in result.stdout.splitlines() if '"sync_name"' in line]
    assert order == ["hubspot_companies", "a_hubspot_contacts"]

    companies = company_ids(sim)
    links = links_of(sim)
    assert len(links) == CONTACTS
    assert all(linked == {companies[expected_company(email)]} for email, linked in links.items())
    creates = association_calls(sim, "/batch/create")
    assert len(association_calls(sim)) == len(creates) <= 20
    assert all(c.path == "/crm/v4/associations/contacts/companies/batch/create" for c in creates)
    assert sum(len(c.json()["inputs"]) for c in creates) == CONTACTS
    assert creates[0].json()["inputs"][0]["types"] == [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
    ]

    # a re-run: nothing changed, nothing pending -> no call at all
    before = len(sim.answered.calls())
    summaries = run_all(project, clock)
    assert [(s.status, s.api_calls) for s in summaries] == [("succeeded", 0), ("succeeded", 0)]
    assert len(sim.answered.calls()) == before

    # 5 contacts move to another company: 5 archives and 5 creates, nothing else
    project.execute("update people set company_id = 77 where id in (1, 2, 3, 4, 5)")
    planned = project.plan("a_hubspot_contacts").to_dict()["associations"]
    assert (planned["create"], planned["remove"]) == (5, 5)
    assert {(s["operation"], s["to"]) for s in planned["sample"]} == {
        ("associate", "companies"),
        ("dissociate", "companies"),
    }
    shown = CliRunner().invoke(app, ["plan", "a_hubspot_contacts", "--project-dir", str(project.root)])
    assert "associations: 5 to create, 5 to remove" in shown.output
    calls = len(association_calls(sim))
    summaries = run_all(project, clock)
    assert summaries[1].status == "succeeded", summaries[1].error
    made = association_calls(sim)[calls:]
    assert [c.path.rsplit("/", 1)[-1] for c in made] == ["archive", "create"]
    assert sum(len(i["to"]) for i in made[0].json()["inputs"]) == 5
    assert len(made[1].json()["inputs"]) == 5
    moved = links_of(sim)
    for i in range(1, 6):
        assert moved[f"person{i}@example.com"] == {companies["77"]}
    assert sum(len(v) for v in moved.values()) == CONTACTS
    audit = project.reader().row_results(summaries[1].run_id)
    assert sorted((r["operation"], r["status"]) for r in audit) == sorted(
        # only the association key changed: no contact field to send, so the record write is settled without a call
        # (field-level state) and only the links move
        [("upsert", "skipped")] * 5 + [("associate", "succeeded")] * 5 + [("dissociate", "succeeded")] * 5
    )

    # a contact whose company is not synced yet: failed with the reason, the record still written
    project.execute(
        "insert into people values (5001, 'late@example.com', 'Late', 201)",
    )
    summaries = run_all(project, clock)
    contacts_run = summaries[1]
    assert contacts_run.status == "partial"
    failed = project.reader().row_results(contacts_run.run_id, statuses=["failed"])
    assert [(r["row_key"], r["operation"]) for r in failed] == [("5001", "associate")]
    assert failed[0]["error_message"] == (
        "company 201 is not synced yet by hubspot_companies; linked on the run after it is"
    )
    late = next(r for r in sim.records("contacts") if r["email"] == "late@example.com")
    assert sim.linked("contacts", late["id"], "companies") == {}

    # its company appears: the next run --all syncs it first, then links the unchanged contact
    project.execute("insert into companies values (201, 'Company 201')")
    summaries = run_all(project, clock)
    assert [s.status for s in summaries] == ["succeeded", "succeeded"]
    assert summaries[1].rows_unchanged == CONTACTS + 1
    assert set(sim.linked("contacts", late["id"], "companies")) == {company_ids(sim)["201"]}


def test_under_100_requests_per_10_seconds_writes_and_associations_share_the_window(
    sim: HubSpotSimulator, project: ScratchProject, clock: FakeClock
) -> None:
    # 10-row batches: 200 contact writes, 2 company writes and 20 association calls, well over one window's 100
    project.syncs["a_hubspot_contacts"]["destination"]["batch_size"] = 10
    project.write()

    summaries = run_all(project, clock)

    assert [s.status for s in summaries] == ["succeeded", "succeeded"], summaries[1].error
    assert [c for c in sim.answered.calls() if c.status == 429] == []
    assert len(association_calls(sim)) == 20
    admitted = sorted(sim.admitted)
    assert len(admitted) == 222
    assert all(admitted[i + 100] - admitted[i] >= 10.0 for i in range(len(admitted) - 100))
    assert len(links_of(sim)) == CONTACTS
    assert all(len(v) == 1 for v in links_of(sim).values())


def test_a_list_column_links_several_companies_and_null_links_none(
    sim: HubSpotSimulator, project: ScratchProject, clock: FakeClock
) -> None:
    project.execute(
        "create or replace table people as select * from (values "
        "(1, 'one@example.com', 'One', [1, 2, 3]), (2, 'two@example.com', 'Two', null), "
        "(3, 'three@example.com', 'Three', [4])) t(id, email, first_name, company_id)"
    )
    summaries = run_all(project, clock)
    assert [s.status for s in summaries] == ["succeeded", "succeeded"], summaries[1].error
    companies = company_ids(sim)
    assert links_of(sim) == {
        "one@example.com": {companies["1"], companies["2"], companies["3"]},
        "two@example.com": set(),
        "three@example.com": {companies["4"]},
    }
    project.execute("update people set company_id = [2] where id = 1")
    assert run_all(project, clock)[1].status == "succeeded"
    assert links_of(sim)["one@example.com"] == {companies["2"]}


def test_the_scheduler_runs_the_companies_sync_before_the_contacts_linked_to_it(
    sim: HubSpotSimulator, project: ScratchProject, clock: FakeClock
) -> None:
    from activate.scheduler import Scheduler

    project.execute("delete from people where id > 20")
    for name in ("hubspot_companies", "a_hubspot_contacts"):
        project.syncs[name]["schedule"] = "*/5 * * * *"
    project.write()
    scheduler = Scheduler(project.load(), clock, max_workers=2)
    try:
        clock.advance(300)
        assert scheduler.tick() == ["hubspot_companies"], "the contacts sync waits for the sync it links to"
        assert scheduler.wait_idle(timeout=60)
        assert scheduler.tick() == ["a_hubspot_contacts"]
        assert scheduler.wait_idle(timeout=60)
        assert [o.sync for o in scheduler.history] == ["hubspot_companies", "a_hubspot_contacts"]
    finally:
        scheduler.shutdown()
    assert all(len(v) == 1 for v in links_of(sim).values())
    assert len(links_of(sim)) == 20


def test_links_on_a_postgres_state_store(
    sim: HubSpotSimulator, project: ScratchProject, clock: FakeClock, postgres_url: str
) -> None:
    project.state_url = postgres_url
    project.execute("delete from people where id > 30")
    project.write()
    assert [s.status for s in run_all(project, clock)] == ["succeeded", "succeeded"]
    project.execute("update people set company_id = 9 where id = 1")
    assert [s.status for s in run_all(project, clock)] == ["succeeded", "succeeded"]
    companies = company_ids(sim)
    links = links_of(sim)
    assert links["person1@example.com"] == {companies["9"]}
    assert all(
        linked == {companies[expected_company(email)]}
        for email, linked in links.items()
        if email != "person1@example.com"
    )
