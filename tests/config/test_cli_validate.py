"""Acceptance 7 through the CLI: `activate validate` on every broken file exits 2 with its file:line:col issues."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests_config_support import make_warehouse
from typer.testing import CliRunner

from activate.cli.app import app

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(p for p in BROKEN.glob("*.yml") if p.name != "base_activate.yml")
runner = CliRunner()


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_validate_reports_each_broken_file_with_position_and_exit_2(case: Path, tmp_path: Path) -> None:
    if case.stem.startswith("project_"):
        shutil.copy(case, tmp_path / "activate.yml")
    else:
        shutil.copy(BROKEN / "base_activate.yml", tmp_path / "activate.yml")
        (tmp_path / "syncs").mkdir()
        shutil.copy(case, tmp_path / "syncs" / case.name)
    if case.stem.startswith("columns_"):
        make_warehouse(tmp_path)
    result = runner.invoke(app, ["validate", "--project-dir", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    expected = case.with_suffix(".expected").read_text().splitlines()
    output = " ".join(result.output.split())
    assert output.startswith("Error:")
    for line in expected:
        assert " ".join(line.split()) in output
