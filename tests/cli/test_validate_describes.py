"""`validate` checks what `plan` would: each query is described (never read) against its warehouse, and with
`--check-connections` a networked source is reached too (a missing Postgres database used to pass)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from activate.cli.app import app
from activate.testing.project import ScratchProject

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> ScratchProject:
    scratch = ScratchProject(tmp_path / "project")
    scratch.people(3)
    scratch.add_connection("hooks", {"type": "webhook", "url": "http://127.0.0.1:9"})
    return scratch


def test_a_mapped_column_the_query_lacks_is_a_config_error_before_any_run(project: ScratchProject) -> None:
    project.add_sync(
        "people_hook",
        {"connection": "hooks", "object": "people", "mapping": {"email": "email", "name": "{{ row.frist_name }}"}},
        query="select id, email, first_name from people",
    )
    result = runner.invoke(app, ["validate", "-p", str(project.root)], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "column 'frist_name' is not in the query's result (did you mean 'first_name'?)" in result.stderr
    assert not (project.root / ".activate").exists()  # nothing was planned, nothing recorded


def test_a_query_that_fails_on_the_local_warehouse_is_reported(project: ScratchProject) -> None:
    project.add_sync("people_hook", {"connection": "hooks", "object": "people"}, query="select * from nobody")
    result = runner.invoke(app, ["validate", "-p", str(project.root)])
    assert result.exit_code == 1
    assert "people_hook: source connection 'warehouse':" in result.stderr
    assert "nobody" in result.stderr


def test_a_networked_source_is_only_described_with_check_connections(tmp_path: Path) -> None:
    missing = "postgresql+psycopg://postgres:pw-5521@127.0.0.1:1/no_such_database"
    project = ScratchProject(tmp_path / "project", warehouse_url=missing)
    project.add_connection("hooks", {"type": "webhook", "url": "http://127.0.0.1:9"})
    project.add_sync("people_hook", {"connection": "hooks", "object": "people"})

    offline = runner.invoke(app, ["validate", "-p", str(project.root)])
    assert offline.exit_code == 0, offline.output
    assert "people_hook: columns not checked (postgres source; --check-connections describes it)" in offline.stdout

    online = runner.invoke(app, ["validate", "--check-connections", "-p", str(project.root), "--json"])
    assert online.exit_code == 1
    assert "people_hook: source connection 'warehouse':" in online.stderr
    assert "pw-5521" not in online.stderr + online.stdout


@pytest.mark.postgres
def test_a_missing_postgres_database_fails_check_connections(tmp_path: Path, postgres_url: str) -> None:
    import sqlalchemy as sa

    missing = sa.engine.make_url(postgres_url).set(database="activate_no_such_db")
    project = ScratchProject(tmp_path / "project", warehouse_url=missing.render_as_string(hide_password=False))
    project.add_connection("hooks", {"type": "webhook", "url": "http://127.0.0.1:9"})
    project.add_sync("people_hook", {"connection": "hooks", "object": "people"})

    result = runner.invoke(app, ["validate", "--check-connections", "-p", str(project.root)])

    assert result.exit_code == 1
    assert 'database "activate_no_such_db" does not exist' in result.stderr
