"""Acceptance 7 (config half): every broken file of `broken/` fails with exactly its expected `file:line:col` issues.

A case `x.yml` is a sync file (copied to `syncs/x.yml` next to `broken/base_activate.yml`), or, when its name starts
with `project_`, an `activate.yml`. A `columns_*` case is a valid file mapping columns its query does not return:
what `validate` finds by describing the query against a warehouse (`make_warehouse`). `x.expected` holds one line
per issue, in the order they are reported; each must be contained in the issue's text (a few lines stop before text
that depends on the machine or installed plugins).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests_config_support import make_warehouse

from activate.config import load_project
from activate.errors import ConfigError
from activate.plan.preflight import preflight

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(p for p in BROKEN.glob("*.yml") if p.name != "base_activate.yml")


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 80
    assert all(case.with_suffix(".expected").is_file() for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_file_reports_its_issues(case: Path, tmp_path: Path) -> None:
    if case.stem.startswith("project_"):
        shutil.copy(case, tmp_path / "activate.yml")
    else:
        shutil.copy(BROKEN / "base_activate.yml", tmp_path / "activate.yml")
        (tmp_path / "syncs").mkdir()
        shutil.copy(case, tmp_path / "syncs" / case.name)
    expected = case.with_suffix(".expected").read_text().splitlines()

    if case.stem.startswith("columns_"):
        make_warehouse(tmp_path)
        project = load_project(tmp_path, env={})
        error = ConfigError(preflight(project, list(project.syncs), connect=False).issues)
    else:
        with pytest.raises(ConfigError) as caught:
            load_project(tmp_path, env={})
        error = caught.value
    assert error.exit_code == 2
    actual = [str(issue) for issue in error.issues]
    assert len(actual) == len(expected), "\n".join(actual)
    for want, got in zip(expected, actual, strict=True):
        assert want in got
    assert str(error) == "\n".join(actual)
    for issue in error.issues:
        assert issue.line is not None
        assert issue.column is not None
