"""Moving state is visible: when a sync's state store is empty but its last run left state (in this store or in
another one), `plan` warns that change detection and mirror deletes start from zero, and a mirror sync refuses to
run until `--full-resync` or `reset` acknowledges it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activate.cli.app import app
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

runner = CliRunner()


@pytest.fixture
def hooks() -> Iterator[WebhookSimulator]:
    with WebhookSimulator() as simulator:
        yield simulator


@pytest.fixture
def project(tmp_path: Path, hooks: WebhookSimulator) -> ScratchProject:
    scratch = ScratchProject(tmp_path / "project")
    scratch.people(6)
    scratch.add_connection("hooks", {"type": "webhook", "url": hooks.url})
    destination = {"connection": "hooks", "object": "people", "mode": "mirror", "mapping": {"email": "email"}}
    scratch.add_sync("people_hook", destination)
    return scratch


def _cli(project: ScratchProject, *args: str, state: Path | None = None) -> tuple[int, str, str]:
    env = {"ACTIVATE_STATE_URL": f"duckdb:///{state}"} if state is not None else {}
    result = runner.invoke(app, [*args, "-p", str(project.root)], env={"ACTIVATE_DEBUG": "0", **env})
    return result.exit_code, result.stdout, result.stderr


def test_a_switched_state_store_is_warned_about_and_a_mirror_run_refused(
    project: ScratchProject, hooks: WebhookSimulator, tmp_path: Path
) -> None:
    assert _cli(project, "run", "people_hook")[0] == 0
    elsewhere = tmp_path / "elsewhere.duckdb"

    code, stdout, _ = _cli(project, "plan", "people_hook", "--json", state=elsewhere)
    notes = json.loads(stdout.splitlines()[0])["notes"]
    assert code == 0
    assert notes[0] == f"state store: duckdb:///{elsewhere} (from ACTIVATE_STATE_URL)"
    assert notes[1].startswith("warning: sync 'people_hook' starts from zero: its last run kept 6 rows of state in ")
    assert "rows deleted meanwhile are never deleted at the destination" in notes[1]

    project.execute("delete from people where id = 1")
    code, _, stderr = _cli(project, "run", "people_hook", state=elsewhere)
    assert code == 1
    assert "refusing to run: sync 'people_hook' starts from zero" in stderr
    assert len(hooks.rows("people")) == 6  # nothing was sent

    assert _cli(project, "run", "people_hook", "--full-resync", state=elsewhere)[0] == 0
    code, stdout, _ = _cli(project, "plan", "people_hook", "--json", state=elsewhere)
    assert not any(note.startswith("warning:") for note in json.loads(stdout.splitlines()[0])["notes"])


def test_an_emptied_store_is_noticed_and_reset_acknowledges_it(project: ScratchProject) -> None:
    assert _cli(project, "run", "people_hook")[0] == 0
    (project.root / ".activate" / "state.duckdb").unlink()  # the store replaced by an empty one

    code, _, stderr = _cli(project, "run", "people_hook")
    assert code == 1
    assert "its last run left 6 rows of state in" in stderr
    assert "which now holds none (replaced or emptied)" in stderr

    assert _cli(project, "reset", "people_hook", "--yes")[0] == 0
    assert _cli(project, "run", "people_hook")[0] == 0


def test_reset_then_run_in_the_same_store_is_not_a_move(project: ScratchProject) -> None:
    assert _cli(project, "run", "people_hook")[0] == 0
    assert _cli(project, "reset", "people_hook", "--yes")[0] == 0
    code, stdout, stderr = _cli(project, "run", "people_hook")
    assert code == 0, stdout + stderr
