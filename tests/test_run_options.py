"""Modes and run options end to end over real HTTP: insert skips changes, update refuses unknown rows,
--retry-rejected, --full-resync, --wait, --all and exit codes through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activate.cli.app import app
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget


@pytest.fixture
def target(tmp_path: Path) -> Iterator[WebhookConformanceTarget]:
    target = WebhookConformanceTarget()
    target.start(tmp_path)
    yield target
    target.stop()


def _project(tmp_path: Path, target: WebhookConformanceTarget, mode: str, rows: int = 20) -> ScratchProject:
    project = ScratchProject(tmp_path / "p")
    project.people(rows)
    project.add_connection("hooks", target.connection())
    project.add_sync("people_hook", {"connection": "hooks", **target.destination(mode)})
    return project


def test_insert_mode_records_changed_rows_as_skipped_once(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    project = _project(tmp_path, target, "insert")
    assert project.run("people_hook").rows_succeeded == 20
    project.execute("update people set first_name = 'Changed' where id = 4")
    calls = target.write_calls()
    result = project.run("people_hook")
    assert (result.status, result.rows_skipped, result.api_calls) == ("succeeded", 1, 0)
    [row] = project.reader().row_results(result.run_id)
    assert (row["row_key"], row["status"]) == ("4", "skipped")
    assert "never updates" in row["error_message"]
    assert target.write_calls() == calls
    assert project.run("people_hook").rows_skipped == 0, "a skipped change is recorded once, not every run"
    assert target.records()["4"]["first_name"] == "First4"


def test_update_mode_rejects_rows_the_destination_does_not_have(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target, "update", rows=5)
    result = project.run("people_hook")
    assert (result.status, result.rows_rejected) == ("partial", 5)
    assert all("no record" in r["error_message"] for r in project.reader().row_results(result.run_id))


def test_retry_rejected_resends_unchanged_rejected_rows(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    project = _project(tmp_path, target, "upsert")
    target.reject({"person3@example.com"})
    assert project.run("people_hook").rows_rejected == 1
    target.reject(set())
    assert project.run("people_hook").rows_succeeded == 0, "unchanged rejected rows wait"
    retried = project.run("people_hook", retry_rejected=True)
    assert (retried.rows_succeeded, retried.rows_rejected) == (1, 0)
    assert "3" in target.records()


def test_full_resync_resends_every_row_without_duplicates(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    project = _project(tmp_path, target, "mirror")
    project.run("people_hook")
    result = project.run("people_hook", full_resync=True)
    assert (result.rows_changed, result.rows_succeeded) == (20, 20)
    assert len(target.records()) == 20
    assert not [k for k in target.records() if "#" in k]


def test_cli_run_all_json_and_exit_codes(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    project = _project(tmp_path, target, "mirror")
    project.add_sync("second", {"connection": "hooks", **target.destination("upsert")}, after=["people_hook"])
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--all", "--json", "--project-dir", str(project.root)])
    assert result.exit_code == 0, result.output
    runs = [line for line in result.output.splitlines() if line.startswith('{"type": "run"')]
    assert [r.split('"sync_name": "')[1].split('"')[0] for r in runs] == ["people_hook", "second"]
    target.reject({"person1@example.com"})
    project.execute("update people set first_name = 'X' where id = 1")
    partial = runner.invoke(app, ["run", "second", "--project-dir", str(project.root)])
    assert partial.exit_code == 3
    missing = runner.invoke(app, ["run", "--project-dir", str(project.root)])
    assert missing.exit_code == 2


def test_wait_waits_for_the_running_run_then_sends_nothing_twice(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target, "mirror", rows=60)
    target.slow(0.5)
    env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root)}
    first = subprocess.Popen([sys.executable, "-m", "activate", "run", "people_hook"], env=env)
    deadline = time.monotonic() + 30
    while target.write_calls() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(
        [sys.executable, "-m", "activate", "run", "people_hook", "--wait", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.wait(timeout=120) == 0
    assert second.returncode == 0, second.stderr
    assert '"rows_succeeded": 0' in second.stdout, "the waiting run found everything already synced"
    assert sum(target.sim.applied.values()) == 60


def test_validate_check_connections_names_a_missing_hubspot_property(tmp_path: Path) -> None:
    from activate.testing.hubspot import HubSpotSimulator

    with HubSpotSimulator() as hubspot:
        project = ScratchProject(tmp_path / "p")
        project.people(3)
        project.add_connection("crm", {"type": "hubspot", "access_token": hubspot.token, "base_url": hubspot.url})
        mapping = {"email": "email", "firstname": "first_name", "favourite_colour": "last_name"}
        project.add_sync("contacts", {"connection": "crm", "object": "contacts", "match": "email", "mapping": mapping})
        result = CliRunner().invoke(
            app, ["validate", "--check-connections", "--project-dir", str(project.root)], env={"COLUMNS": "300"}
        )
    assert result.exit_code == 1, result.output
    assert "favourite_colour" in result.output


def test_reset_forgets_state_so_the_next_run_resends_every_row_once(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target, "upsert")
    project.run("people_hook")
    result = CliRunner().invoke(app, ["reset", "people_hook", "--yes", "--project-dir", str(project.root)])
    assert result.exit_code == 0, result.output
    assert "Forgot 20 rows" in result.output
    assert project.plan("people_hook").counts.added == 20
    again = project.run("people_hook")
    assert again.rows_succeeded == 20
    assert not [k for k in target.records() if "#" in k], "re-sent rows are upserts, never duplicates"
