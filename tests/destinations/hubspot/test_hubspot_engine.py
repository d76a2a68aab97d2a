"""Whole runs (`activate run`) into the HubSpot simulator: the issue's acceptance scenarios end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubspot_support import writes

from activate.clock import FakeClock
from activate.http.caller import forget_callers
from activate.testing.hubspot import HubSpotSimulator
from activate.testing.project import ScratchProject

pytestmark = pytest.mark.slow

MAPPING = {"email": "email", "firstname": "first_name", "lastname": "last_name"}


@pytest.fixture
def project(tmp_path: Path, sim: HubSpotSimulator) -> Iterator[ScratchProject]:
    project = ScratchProject(tmp_path / "project")
    project.add_connection("hubspot", {"type": "hubspot", "access_token": sim.token, "base_url": sim.url})
    yield project
    forget_callers()


def contacts_sync(project: ScratchProject, rows: int, mode: str = "upsert") -> None:
    project.people(rows)
    project.add_sync(
        "hubspot_contacts",
        {"connection": "hubspot", "object": "contacts", "mode": mode, "match": "email", "mapping": MAPPING},
    )


def test_2500_contacts_then_a_rerun_with_no_calls_then_10_edits_in_one_call(
    sim: HubSpotSimulator, project: ScratchProject, clock: FakeClock
) -> None:
    contacts_sync(project, 2500)
    first = project.run("hubspot_contacts", clock=clock)
    assert (first.status, first.rows_succeeded, first.api_calls) == ("succeeded", 2500, 25)
    assert len(writes(sim, "upsert")) == 25
    assert len(sim.records("contacts")) == 2500

    second = project.run("hubspot_contacts", clock=clock)
    assert (second.status, second.rows_unchanged, second.api_calls) == ("succeeded", 2500, 0)
    assert len(writes(sim, "upsert")) == 25

    project.execute("update people set first_name = 'Edited' where id <= 10")
    third = project.run("hubspot_contacts", clock=clock)
    assert (third.status, third.rows_changed, third.api_calls) == ("succeeded", 10, 1)
    last = writes(sim, "upsert")[-1].json()["inputs"]
    assert sorted(i["id"] for i in last) == sorted(f"person{i}@example.com" for i in range(1, 11))
    assert {i["properties"]["firstname"] for i in last} == {"Edited"}
    stored = {r["email"]: r["id"] for r in sim.records("contacts")}
    audit = {r["row_key"]: r["destination_id"] for r in project.reader().row_results(third.run_id)}
    assert audit == {str(i): stored[f"person{i}@example.com"] for i in range(1, 11)}


def test_three_invalid_emails_are_rejected_and_audited(
    sim: HubSpotSimulator, project: ScratchProject, clock: FakeClock
) -> None:
    contacts_sync(project, 100)
    project.execute("update people set email = 'broken-' || id where id in (5, 50, 95)")
    result = project.run("hubspot_contacts", clock=clock)

    assert (result.status, result.exit_code) == ("partial", 3)
    assert (result.rows_succeeded, result.rows_rejected, result.api_calls) == (97, 3, 1)
    rejected = project.reader().row_results(result.run_id, ["rejected"])
    assert sorted((r["row_key"], r["error_code"]) for r in rejected) == [
        ("5", "INVALID_EMAIL"),
        ("50", "INVALID_EMAIL"),
        ("95", "INVALID_EMAIL"),
    ]
    assert all("is invalid" in r["error_message"] for r in rejected)


def test_daily_limit_ends_the_run_partial_and_the_next_day_sends_only_pending_rows(
    sim: HubSpotSimulator, project: ScratchProject, clock: FakeClock
) -> None:
    contacts_sync(project, 1000)
    sim.limits.daily = 4
    first = project.run("hubspot_contacts", clock=clock)

    assert first.status == "partial"
    assert first.rows_succeeded == 400
    assert "pending" in (first.error or "")
    # Batches already in flight when the quota ran out got HubSpot's DAILY 429; none was written.
    answered = [c.status for c in writes(sim, "upsert")]
    assert answered.count(200) == 4
    assert set(answered) <= {200, 429}

    clock.advance(24 * 3600)
    sim.limits.daily = 250_000
    second = project.run("hubspot_contacts", clock=clock)
    assert (second.status, second.rows_added, second.rows_succeeded) == ("succeeded", 600, 600)
    assert [c.status for c in writes(sim, "upsert")].count(200) == 10
    assert len(sim.records("contacts")) == 1000


def test_insert_run_killed_after_the_create_call_creates_no_duplicate(
    sim: HubSpotSimulator, project: ScratchProject
) -> None:
    contacts_sync(project, 250, mode="insert")
    sim.faults.latency = 0.4
    env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root)}
    child = subprocess.Popen(
        [sys.executable, "-m", "activate", "run", "hubspot_contacts"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while sim.write_calls < 1 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        assert sim.write_calls >= 1, "the run never reached HubSpot"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    sim.faults.latency = 0.0
    # Requests in flight when the run died still land (as they would in HubSpot); let them, then resume.
    # Quiet for 2 s (five times the injected latency): under a loaded CI machine a request still in flight could
    # otherwise land during the re-run, after its reconcile search, and be refused there as a CONFLICT.
    settled = -1
    while settled != sim.write_calls:
        settled = sim.write_calls
        time.sleep(2.0)
    created_before = len(sim.records("contacts"))
    assert created_before >= 100

    result = project.run("hubspot_contacts")
    assert result.status == "succeeded", result.error
    emails = [r["email"] for r in sim.records("contacts")]
    assert len(emails) == len(set(emails)) == 250, "no contact was created twice"
    assert len(sim.answered.calls("POST", "/search")) >= 1
    audit = project.reader().row_results(result.run_id)
    reconciled = [r for r in audit if "interrupted run" in (r["error_message"] or "")]
    assert len(reconciled) >= 100
