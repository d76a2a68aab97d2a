"""Issue 12, CLI hygiene: --version, completion, init's .gitignore, checked statuses and run ids, --log-file, help
without type noise, and hints that name the command the user typed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import activate
from activate.cli.app import app
from activate.program import program_name
from activate.testing.project import ScratchProject

runner = CliRunner()


def _invoke(project: ScratchProject, *args: str) -> Any:
    return runner.invoke(app, [*args, "--project-dir", str(project.root)], env={"COLUMNS": "200"})


def test_version_and_completion() -> None:
    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.stdout.strip()) == (0, f"activate-etl {activate.__version__}")
    shown = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "--install-completion" in shown.stdout


def test_help_has_no_type_noise() -> None:
    for command in ([], ["run"], ["plan"], ["runs"], ["rows"], ["explain"], ["init"]):
        text = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).stdout
        for noise in ("<bool>", "<str>", "<int>", "<path>", "<list[str]>", "INTEGER", "BOOLEAN"):
            assert noise not in text, (command, noise)


def test_init_writes_a_gitignore(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    ignored = (tmp_path / "p" / ".gitignore").read_text().splitlines()
    assert {".activate/", "warehouse.duckdb"} <= set(ignored)
    assert f"Next: {program_name()} validate" in " ".join(result.stdout.split())


def test_unknown_statuses_and_syncs_are_refused_with_the_choices(crm_project: ScratchProject) -> None:
    rows = _invoke(crm_project, "rows", "x", "--status", "rejectd")
    assert rows.exit_code == 2
    assert "unknown row status 'rejectd' (did you mean 'rejected'?); choose from: succeeded, failed, rejected" in (
        " ".join(rows.output.split())
    )
    runs = _invoke(crm_project, "runs", "--status", "ok")
    assert runs.exit_code == 2
    assert "choose from: running, succeeded, partial, failed, aborted" in " ".join(runs.output.split())
    unknown = _invoke(crm_project, "runs", "hubspot_contact")
    assert unknown.exit_code == 2
    assert "did you mean 'hubspot_contacts'?" in unknown.output


def test_run_ids_full_and_by_unique_prefix(crm_project: ScratchProject, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    result = runner.invoke(
        app, ["run", "tag:crm", "--log-file", str(log), "-p", str(crm_project.root)], env={"COLUMNS": "60"}
    )
    assert result.exit_code == 0, result.output
    logged = log.read_text()
    assert "[hubspot_tickets " in logged, "text logs name the sync (and run)"
    assert "run succeeded" in logged

    narrow = runner.invoke(app, ["runs", "-p", str(crm_project.root)], env={"COLUMNS": "60"})
    ids = [r.run_id for r in crm_project.reader().runs(None, 10)]
    assert len(ids) == 3
    for run_id in ids:
        assert run_id in narrow.stdout, "a narrow terminal still shows every run id in full"
    one = ids[0]
    shown = _invoke(crm_project, "rows", one[: len(one) - 3], "--json")
    assert shown.exit_code == 0, shown.output
    assert {json.loads(line)["run_id"] for line in shown.stdout.splitlines()} == {one}
    shared = _invoke(crm_project, "rows", one[:4])
    assert shared.exit_code == 2
    assert "matches several runs" in shared.output
    missing = _invoke(crm_project, "rows", "nope")
    assert f"list runs with: {program_name()} runs" in " ".join(missing.output.split())


def test_hints_name_the_command_that_was_typed() -> None:
    assert program_name("/venv/bin/activate-etl") == "activate-etl"
    assert program_name("/usr/lib/python3/site-packages/activate/__main__.py") == "python -m activate"
    out = subprocess.run(
        [sys.executable, "-m", "activate", "rows", "abc", "-p", "/nonexistent-project"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "run `python -m activate init`" in out.stderr
