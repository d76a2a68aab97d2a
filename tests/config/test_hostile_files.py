"""Project files that try to hang, crash or escape: each is an ordinary positioned config error.

The corpus (`broken/`) holds one small file per class; these tests cover what a corpus file cannot: a file too
large to commit, symlinks, a file outside the project holding a secret, and warnings on a valid project.
The `timeout` marks are hang guards (a bomb that is expanded never finishes), not performance targets; those
live in `benchmarks/config_bench.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from activate.cli.app import app
from activate.config import load_project
from activate.config.yaml_limits import MAX_FILE_BYTES
from activate.errors import ConfigError

runner = CliRunner()
PROJECT = (
    "connections:\n"
    "  warehouse: {type: duckdb, path: warehouse.duckdb}\n"
    "  hooks: {type: webhook, url: http://127.0.0.1:9}\n"
)
SYNC = (
    "source: {connection: warehouse, table: customers, primary_key: id}\n"
    "destination: {connection: hooks, object: people, mapping: {email: email}}\n"
)


def _project(tmp_path: Path, activate_yml: str = PROJECT, sync: str = SYNC) -> Path:
    (tmp_path / "activate.yml").write_text(activate_yml)
    (tmp_path / "syncs").mkdir()
    (tmp_path / "syncs" / "people.yml").write_text(sync)
    return tmp_path


def _issues(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_project(root, env={})
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.timeout(20)
def test_a_billion_value_alias_bomb_is_refused_at_the_alias(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    root = _project(tmp_path, sync=SYNC + "\n".join(lines) + "\n")
    (issue,) = _issues(root)
    assert issue.startswith("syncs/people.yml:")
    assert "aliases expand this file to more than 100,000 values" in issue


@pytest.mark.timeout(60)
def test_a_20_mb_file_is_refused_by_its_size_before_parsing(tmp_path: Path) -> None:
    root = _project(tmp_path)
    filler = "# " + "x" * 97 + "\n"
    (root / "syncs" / "people.yml").write_text(SYNC + filler * (20_000_000 // len(filler)))
    (issue,) = _issues(root)
    assert issue.startswith("syncs/people.yml:1:1: file is 20.0 MB; a project file may be at most 1024 KB")


def test_a_file_just_under_the_limit_loads(tmp_path: Path) -> None:
    root = _project(tmp_path)
    filler = "# " + "x" * 97 + "\n"
    text = SYNC + filler * ((MAX_FILE_BYTES - len(SYNC)) // len(filler))
    (root / "syncs" / "people.yml").write_text(text)
    assert len(text) <= MAX_FILE_BYTES
    assert list(load_project(root, env={}).syncs) == ["people"]


def test_a_symlink_out_of_the_project_is_refused_and_its_contents_never_shown(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.sql").write_text("select 'TOPSECRET-4417' as id")
    root = tmp_path / "project"
    root.mkdir()
    _project(root, sync=SYNC.replace("table: customers", "file: models/q.sql"))
    (root / "models").mkdir()
    (root / "models" / "q.sql").symlink_to(outside / "secret.sql")

    result = runner.invoke(app, ["validate", "--project-dir", str(root), "--json"])

    assert result.exit_code == 2
    assert "file 'models/q.sql' is outside the project directory" in result.output
    assert "TOPSECRET" not in result.output


def test_a_symlink_inside_the_project_is_followed(tmp_path: Path) -> None:
    root = _project(tmp_path, sync=SYNC.replace("table: customers", "file: models/q.sql"))
    (root / "sql").mkdir()
    (root / "sql" / "real.sql").write_text("select 1 as id, 'a@b.c' as email")
    (root / "models").mkdir()
    (root / "models" / "q.sql").symlink_to(root / "sql" / "real.sql")
    assert load_project(root, env={}).sync("people").query == "select 1 as id, 'a@b.c' as email"


def test_a_symlink_loop_is_an_issue(tmp_path: Path) -> None:
    root = _project(tmp_path, sync=SYNC.replace("table: customers", "file: models/q.sql"))
    (root / "models").mkdir()
    (root / "models" / "q.sql").symlink_to(root / "models" / "q.sql")
    (issue,) = _issues(root)
    assert "source.file: file 'models/q.sql'" in issue


def test_insert_mode_on_a_webhook_warns_unless_the_endpoint_is_declared_idempotent(tmp_path: Path) -> None:
    root = _project(tmp_path, sync=SYNC.replace("object: people,", "object: people, mode: insert,"))
    warned = runner.invoke(app, ["validate", "--project-dir", str(root)], env={"COLUMNS": "300"})
    assert warned.exit_code == 0, warned.output
    assert "syncs/people.yml:2:56: destination.mode: insert mode on connection 'hooks' is only as safe" in " ".join(
        warned.output.split()
    )

    (root / "activate.yml").write_text(
        PROJECT.replace("http://127.0.0.1:9}", "http://127.0.0.1:9, idempotent_inserts: true}")
    )
    quiet = runner.invoke(app, ["validate", "--project-dir", str(root)])
    assert quiet.exit_code == 0
    assert "only as safe" not in quiet.output


def test_a_webhook_connection_caps_the_batch_size_of_its_syncs(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        activate_yml=PROJECT.replace("http://127.0.0.1:9}", "http://127.0.0.1:9, batch_size: 50}"),
        sync=SYNC.replace("object: people,", "object: people, batch_size: 80,"),
    )
    (issue,) = _issues(root)
    assert "destination.batch_size: batch_size 80 is over the maximum of connection 'hooks': 50" in issue


def test_templates_are_checked_against_the_filters_and_tests_the_run_renders_with() -> None:
    from activate.config.templates import environment
    from activate.plan import mapping

    rendering = mapping._ENV
    assert set(environment().filters) == set(rendering.filters)
    assert set(environment().tests) == set(rendering.tests)
