"""Issue 12 acceptance 3: `activate explain SYNC KEY` says, for a rejected, a held-back, a synced row and a row not
in the source, what happened and what the next run will do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from activate.cli.app import app
from activate.explain import FILTERED, SCANNED, RowExplanation, explain_row
from activate.state.reader import StateReader
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget

runner = CliRunner()


@pytest.fixture
def synced(tmp_path: Path, webhook: WebhookConformanceTarget) -> ScratchProject:
    """30 people synced; person 7's email refused by the endpoint (rejected)."""
    project = ScratchProject(tmp_path / "p")
    project.people(30)
    project.add_connection("hooks", webhook.connection())
    project.add_sync("people_hook", {"connection": "hooks", **webhook.destination("mirror")})
    webhook.reject({"person7@example.com"})
    assert project.run("people_hook").status == "partial"
    return project


def _explain(project: ScratchProject, key: str) -> RowExplanation:
    loaded = project.load()
    reader = StateReader(loaded.spec.state.url, project_root=loaded.root)
    try:
        return explain_row(loaded, "people_hook", key, reader)
    finally:
        reader.dispose()


def _cli(project: ScratchProject, *args: str) -> Any:
    return runner.invoke(app, ["explain", "people_hook", *args, "-p", str(project.root)], env={"COLUMNS": "200"})


def test_a_synced_row(synced: ScratchProject) -> None:
    first_run = synced.reader().runs("people_hook", 1)[0].run_id
    e = _explain(synced, "12")
    assert (e.source.found, e.source.lookup) == (True, FILTERED)
    assert e.source.rows == [
        {"id": 12, "email": "person12@example.com", "first_name": "First12", "last_name": "Last12", "score": 18.0}
    ]
    assert e.state is not None
    assert e.state.last_run_id == first_run
    assert e.state.destination_id
    assert e.source.row_hash == e.state.row_hash
    assert e.config_current
    assert [(h.run_id, h.operation, h.status) for h in e.history] == [(first_run, "upsert", "succeeded")]
    assert (e.next.action, e.held_back) == ("none", False)
    assert e.next.reason == f"unchanged since run {first_run} synced it: no API call"

    synced.execute("update people set first_name = 'Changed' where id = 12")
    changed = _explain(synced, "12")
    assert changed.next.action == "upsert"
    assert changed.next.reason == f"its data changed since run {first_run} synced it"
    assert changed.next.fields == {"id": 12, "email": "person12@example.com", "first_name": "Changed"}


def test_a_rejected_row_is_held_back_until_its_data_changes(synced: ScratchProject) -> None:
    run_id = synced.reader().runs("people_hook", 1)[0].run_id
    e = _explain(synced, "7")
    assert e.state is None
    assert e.rejection is not None
    assert e.rejection.run_id == run_id
    (result,) = e.history
    assert (result.status, result.run_id) == ("rejected", run_id)
    assert result.error_code, "the destination's code is shown"
    assert result.error_message, "and its message"
    assert e.held_back
    assert e.next.action == "none"
    assert e.next.reason.startswith(f"held back: rejected {e.rejection.error_code} in run {run_id} with this same data")

    synced.execute("update people set email = 'seven@example.com' where id = 7")
    retried = _explain(synced, "7")
    assert not retried.held_back
    assert retried.next.action == "upsert"
    assert retried.next.reason == f"rejected in run {run_id}, and its data changed since: sent again"


def test_a_row_not_in_the_source(synced: ScratchProject) -> None:
    synced.execute("delete from people where id = 3")
    removed = _explain(synced, "3")
    assert not removed.source.found
    assert removed.state is not None
    assert removed.next.action == "delete"
    assert removed.next.reason.startswith("no longer in the source; mode mirror deletes record")

    never = _explain(synced, "999")
    assert (never.source.found, never.state, never.history) == (False, None, [])
    assert (never.next.action, never.next.reason) == ("none", "not in the source and not synced: nothing to send")


def test_a_key_the_warehouse_cannot_compare_is_looked_up_by_scanning(synced: ScratchProject) -> None:
    # `id = 'abc'` on an integer column is a conversion error in DuckDB: explain scans the query instead
    e = _explain(synced, "abc")
    assert (e.source.lookup, e.source.found, e.next.action) == (SCANNED, False, "none")


def test_explain_cli_text_and_json(synced: ScratchProject) -> None:
    text = _cli(synced, "7")
    assert text.exit_code == 0, text.output
    flat = " ".join(text.stdout.split())
    assert "next run: none — held back: rejected" in flat
    assert "history" in flat
    assert "rejected" in flat

    data = json.loads(_cli(synced, "12", "--json").stdout.splitlines()[0])
    assert (data["type"], data["sync"], data["key"], data["next"]["action"]) == ("explain", "people_hook", "12", "none")
    assert data["history"][0]["status"] == "succeeded"

    missing = runner.invoke(app, ["explain", "people_hok", "1", "-p", str(synced.root)])
    assert missing.exit_code == 2
    assert "unknown sync 'people_hok' (did you mean 'people_hook'?)" in missing.output


def test_a_sync_with_its_state_in_the_warehouse(tmp_path: Path, webhook: WebhookConformanceTarget) -> None:
    project = ScratchProject(tmp_path / "w")
    project.people(10)
    project.add_connection("hooks", webhook.connection())
    project.add_sync("people_hook", {"connection": "hooks", **webhook.destination("upsert")}, state="warehouse")
    run = project.run("people_hook")
    assert run.status == "succeeded", run.error
    assert project.reader().synced_row("people_hook", "4") is None, "the per-row state lives in the warehouse"
    e = _explain(project, "4")
    assert e.state is not None
    assert e.state.last_run_id == run.run_id
    assert [h.run_id for h in e.history] == [run.run_id]
    assert (e.next.action, e.next.reason) == ("none", f"unchanged since run {run.run_id} synced it: no API call")
