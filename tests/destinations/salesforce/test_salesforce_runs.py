"""Whole runs through the engine into the Salesforce simulator: the issue's acceptance, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import auth_for
from salesforce_support import UPSERT_PATH, data_calls, org_ids

from activate.clock import FakeClock
from activate.http.caller import forget_callers
from activate.testing.project import ScratchProject
from activate.testing.salesforce import SalesforceSimulator

CONTACT_MAPPING = {
    "Activate_Id__c": "id",
    "Email": "email",
    "FirstName": "first_name",
    "LastName": "last_name",
}


@pytest.fixture
def project(tmp_path: Path, sim: SalesforceSimulator) -> Iterator[ScratchProject]:
    forget_callers()
    yield ScratchProject(tmp_path / "project")
    forget_callers()


def _setup(project: ScratchProject, sim: SalesforceSimulator, rows: int, method: str = "jwt", **dest: Any) -> None:
    project.people(rows)
    project.add_connection(
        "sf",
        {
            "type": "salesforce",
            "instance_url": sim.url,
            "login_url": sim.url,
            "ca_bundle": str(sim.ca_bundle),
            "auth": auth_for(sim, method),
        },
    )
    project.add_sync(
        "contacts",
        {"connection": "sf", "object": "Contact", "match": "Activate_Id__c", "mapping": CONTACT_MAPPING, **dest},
    )


def _writes(sim: SalesforceSimulator) -> int:
    return sim.write_calls


def test_1000_contacts_in_5_collection_calls_then_a_rerun_writes_nothing(
    project: ScratchProject, sim: SalesforceSimulator
) -> None:
    _setup(project, sim, 1000)

    first = project.run("contacts", clock=FakeClock())

    assert first.status == "succeeded", first.error
    assert first.rows_succeeded == 1000
    assert len(data_calls(sim, "PATCH", UPSERT_PATH)) == 5
    assert len(org_ids(sim)) == 1000
    writes = _writes(sim)
    second = project.run("contacts", clock=FakeClock())
    assert second.status == "succeeded"
    assert (second.rows_succeeded, second.api_calls) == (0, 0)
    assert _writes(sim) == writes


@pytest.mark.parametrize("rows", [2000, pytest.param(50_000, marks=pytest.mark.slow)])
def test_an_operation_at_the_bulk_threshold_goes_through_one_bulk_job_then_a_rerun_writes_nothing(
    project: ScratchProject, sim: SalesforceSimulator, rows: int
) -> None:
    _setup(project, sim, rows)

    first = project.run("contacts", clock=FakeClock())

    assert first.status == "succeeded", first.error
    assert first.rows_succeeded == rows
    assert len(sim.bulk.jobs) == 1
    assert data_calls(sim, path="/composite/") == []
    audit = project.reader().row_results(first.run_id)
    ids = org_ids(sim)
    assert len(audit) == rows
    assert all(r["destination_id"] == ids[str(r["row_key"])] for r in audit)
    writes = _writes(sim)
    second = project.run("contacts", clock=FakeClock())
    assert (second.status, second.rows_succeeded, second.api_calls) == ("succeeded", 0, 0)
    assert _writes(sim) == writes


def test_budget_reached_mid_run_is_partial_and_the_next_day_finishes(
    project: ScratchProject, sim: SalesforceSimulator
) -> None:
    _setup(project, sim, 1000)
    sim.limits.daily_requests = 100
    sim.limits.used = 76
    clock = FakeClock()

    first = project.run("contacts", clock=clock)

    assert first.status == "partial"
    assert first.exit_code == 3
    assert "80/100 daily API requests used" in (first.error or "")
    done = len(org_ids(sim))
    assert 0 < done < 1000
    assert first.rows_succeeded == done

    clock.advance(86_400)  # a new day: Salesforce's allocation and our budget start over
    sim.limits.used = 0
    second = project.run("contacts", clock=clock)

    assert second.status == "succeeded", second.error
    assert second.rows_succeeded == 1000 - done
    assert len(org_ids(sim)) == 1000


def test_an_expired_session_id_fails_the_run_with_a_clear_message(
    project: ScratchProject, sim: SalesforceSimulator
) -> None:
    _setup(project, sim, 600, method="session", api="rest")
    sim.identity.expire_after(2)

    result = project.run("contacts", clock=FakeClock())

    assert result.status == "failed"
    assert "cannot log in again" in (result.error or "")
    audit = project.reader().row_results(result.run_id, ["succeeded"])
    ids = org_ids(sim)
    assert {str(r["row_key"]) for r in audit} <= set(ids)
    assert all(r["destination_id"] == ids[str(r["row_key"])] for r in audit)
