"""`ACTIVATE_STATE_URL` overrides `state.url` whatever activate.yml says, and `plan` names the store it read."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from activate.cli.app import app
from activate.config import load_project
from activate.testing.project import ScratchProject

runner = CliRunner()


def test_the_variable_overrides_a_literal_state_url(tmp_path: Path) -> None:
    (tmp_path / "activate.yml").write_text("state:\n  url: duckdb:///from-the-file.duckdb\nconnections: {}\n")

    from_file = load_project(tmp_path, env={})
    overridden = load_project(tmp_path, env={"ACTIVATE_STATE_URL": "postgresql+psycopg://app:pw-7781@db/state"})

    assert from_file.spec.state.url == "duckdb:///from-the-file.duckdb"
    assert from_file.state_store() == "duckdb:///from-the-file.duckdb (from state.url at activate.yml:2:3)"
    assert overridden.spec.state.url == "postgresql+psycopg://app:pw-7781@db/state"
    assert overridden.state_store() == "postgresql+psycopg://app:***@db/state (from ACTIVATE_STATE_URL)"


def test_without_state_url_the_default_is_named(tmp_path: Path) -> None:
    (tmp_path / "activate.yml").write_text("connections: {}\n")
    assert load_project(tmp_path, env={}).state_store() == "duckdb:///.activate/state.duckdb (from the default)"


def test_plan_reads_the_overriding_store_and_names_it(tmp_path: Path) -> None:
    project = ScratchProject(tmp_path / "project")
    project.people(3)
    project.add_connection("hooks", {"type": "webhook", "url": "http://127.0.0.1:9"})
    project.add_sync("people_hook", {"connection": "hooks", "object": "people", "mapping": {"email": "email"}})
    other = tmp_path / "other-state.duckdb"

    result = runner.invoke(
        app,
        ["plan", "people_hook", "-p", str(project.root), "--json"],
        env={"ACTIVATE_STATE_URL": f"duckdb:///{other}"},
    )

    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout.splitlines()[0])
    assert plan["notes"][0] == f"state store: duckdb:///{other} (from ACTIVATE_STATE_URL)"
    assert not (project.root / ".activate" / "state.duckdb").exists()
