"""Issue 12 acceptance 4: `plan` exits 4 on a tripped guardrail; a person can pass `max_deletes` for one run, and
the run records who approved it and why."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from activate.cli.app import app
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget

runner = CliRunner()
REASON = "customers merged into accounts by the CRM migration"


@pytest.fixture
def mirrored(tmp_path: Path, webhook: WebhookConformanceTarget) -> ScratchProject:
    project = ScratchProject(tmp_path / "p")
    project.people(250)
    project.add_connection("hooks", webhook.connection())
    destination = {"connection": "hooks", **webhook.destination("mirror"), "batch_size": 50}
    project.add_sync("people_hook", destination, guardrails={"max_deletes": "5%"})
    assert project.run("people_hook").status == "succeeded"
    project.execute("delete from people where id <= 100")  # 40% of the synced rows
    return project


def _invoke(project: ScratchProject, *args: str, **kwargs: Any) -> Any:
    return runner.invoke(app, [*args, "--project-dir", str(project.root)], env={"COLUMNS": "200"}, **kwargs)


def _last_run(project: ScratchProject) -> dict[str, Any]:
    result: dict[str, Any] = project.reader().runs("people_hook", 1)[0].to_dict()
    return result


def test_plan_exits_4_when_a_guardrail_trips_and_0_otherwise(mirrored: ScratchProject) -> None:
    tripped = _invoke(mirrored, "plan", "people_hook")
    assert tripped.exit_code == 4, tripped.output
    assert "TRIPPED" in tripped.stdout
    assert "--approve-deletes 100 --reason" in " ".join(tripped.stdout.split()), "the way out is named"
    plan = json.loads(_invoke(mirrored, "plan", "people_hook", "--json").stdout.splitlines()[0])
    assert plan["guardrails"][0]["tripped"] is True
    mirrored.execute("insert into people select i, 'p' || i || '@x.com', 'F', 'L', 1 from range(1, 101) r(i)")
    assert _invoke(mirrored, "plan", "people_hook").exit_code == 0


def test_approve_deletes_passes_one_run_records_who_and_why_then_guards_again(
    mirrored: ScratchProject, webhook: WebhookConformanceTarget
) -> None:
    refused = _invoke(mirrored, "run", "people_hook")
    assert refused.exit_code == 1
    assert _last_run(mirrored)["status"] == "failed"
    assert len(webhook.records()) == 250, "a tripped guardrail writes nothing"

    approved = _invoke(mirrored, "run", "people_hook", "--approve-deletes", "100", "--reason", REASON)
    assert approved.exit_code == 0, approved.output
    run = _last_run(mirrored)
    assert (run["status"], run["rows_removed"], run["rows_succeeded"]) == ("succeeded", 100, 100)
    assert (run["approved_deletes"], run["approved_by"], run["approval_reason"]) == (100, getpass.getuser(), REASON)
    assert len(webhook.records()) == 150
    listed = json.loads(_invoke(mirrored, "runs", "people_hook", "--json").stdout.splitlines()[0])
    assert (listed["approved_by"], listed["approval_reason"]) == (getpass.getuser(), REASON)
    assert "approval" in _invoke(mirrored, "runs", "people_hook").stdout, "the table shows the approval column"

    mirrored.execute("delete from people where id <= 200")  # 100 of the 150 left: guarded again
    again = _invoke(mirrored, "run", "people_hook")
    assert again.exit_code == 1
    run = _last_run(mirrored)
    assert run["status"] == "failed"
    assert run["approved_by"] is None
    assert len(webhook.records()) == 150


def test_an_approval_smaller_than_the_deletes_does_not_pass(mirrored: ScratchProject) -> None:
    result = _invoke(mirrored, "run", "people_hook", "--approve-deletes", "99", "--reason", REASON)
    assert result.exit_code == 1
    run = _last_run(mirrored)
    assert run["status"] == "failed"
    assert "--approve-deletes 99 is fewer than that" in run["error"]
    assert run["approved_deletes"] == 99, "the approval given is on record even when it did not suffice"


def test_approve_deletes_needs_a_reason(mirrored: ScratchProject) -> None:
    result = _invoke(mirrored, "run", "people_hook", "--approve-deletes", "100")
    assert result.exit_code == 2
    assert "--approve-deletes needs --reason" in result.output


def test_approve_shows_the_plan_and_asks(mirrored: ScratchProject, webhook: WebhookConformanceTarget) -> None:
    declined = _invoke(mirrored, "run", "people_hook", "--approve", input="n\n")
    assert declined.exit_code == 1
    assert "Approve 100 deletes for this run of 'people_hook'?" in declined.stdout
    assert len(webhook.records()) == 250

    accepted = _invoke(mirrored, "run", "people_hook", "--approve", input=f"y\n{REASON}\n")
    assert accepted.exit_code == 0, accepted.output
    run = _last_run(mirrored)
    assert (run["approved_deletes"], run["approval_reason"]) == (100, REASON)
    assert len(webhook.records()) == 150
