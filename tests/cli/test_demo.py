"""The README's first command: `python -m activate demo` runs the whole newcomer path against the simulators."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from activate.cli.scaffold import scaffold
from activate.config import load_project


@pytest.mark.slow
def test_demo_syncs_twice_and_prints_the_audit(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    out = subprocess.run(
        [sys.executable, "-m", "activate", "demo", "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    for sync in ("hubspot_contacts", "salesforce_contacts", "slack_churn_alerts", "webhook_customers"):
        assert f"{sync} run" in text
    assert "25 succeeded" in text  # first run: every customer
    assert "3 succeeded, 0 failed, 0 rejected, 1 skipped" in text  # second run: only the edits
    assert "HubSpot contacts: 25 (3 renamed Katherine)" in text
    assert '"Edsger" → "Katherine"' in text.split("field by field")[1]  # the old -> new of each write
    assert "Webhook endpoint holds 24 customers" in text
    assert "Company 4 is at churn risk 95%" in text
    assert "Company 10 is at churn risk" not in text.split("What landed")[1]  # the resolved alert was deleted
    # a second demo in the same place starts over instead of refusing
    again = subprocess.run(
        [sys.executable, "-m", "activate", "demo", "--dir", str(directory)], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr


def test_init_scaffolds_a_valid_project_and_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    created = scaffold(tmp_path / "p")
    assert Path("activate.yml") in created
    project = load_project(tmp_path / "p", env={})
    assert set(project.syncs) == {"hubspot_contacts", "salesforce_contacts", "slack_churn_alerts", "webhook_customers"}
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "notes.txt").write_text("mine")
    from activate.errors import UsageError

    with pytest.raises(UsageError, match="not empty"):
        scaffold(tmp_path / "q")
