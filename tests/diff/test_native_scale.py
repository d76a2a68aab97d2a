"""Acceptance: a 1,000,000-row Postgres warehouse with `state: warehouse` and 0.5% changed rows; the run fetches
only the changed rows and its peak RSS stays under 300 MB (measured in a child process, so the test runner and the
destination simulator do not count).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from activate.testing.hubspot.conformance import HubSpotConformanceTarget
from activate.testing.project import ScratchProject

ROWS = 1_000_000
CHANGED = ROWS // 200  # 0.5%

CHILD = r"""
import json, logging, sys

def peak_rss_mb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child would report its parent's peak
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from activate.config import load_project
from activate.engine import run_sync

messages = []
handler = logging.Handler()
handler.emit = lambda record: messages.append(record.getMessage())
logging.getLogger("activate.diff.native").addHandler(handler)
logging.getLogger("activate.diff.native").setLevel(logging.INFO)
summary = run_sync(load_project(sys.argv[1]), "people_sync")
print(json.dumps({"summary": summary.to_dict(), "log": messages,
                  "max_rss_mb": peak_rss_mb()}))
"""


def _seed_state(project: ScratchProject) -> None:
    """The state a previous successful run would have left: every row synced with its current hash."""
    from activate.diff.native import NativeDiff
    from activate.state.warehouse import WarehouseState
    from activate.warehouse.target import native_target, open_session

    loaded = project.load()
    sync = loaded.sync("people_sync")
    target = native_target(loaded, sync)
    assert target is not None
    state = WarehouseState(open_session(target, loaded.root, "activate:seed:-"), target)
    diff = NativeDiff(open_session(target, loaded.root, "activate:seed:-"), target, "people_sync")
    try:
        diff.stage_snapshot(sync.query, ["id"], ["email", "first_name", "id"])
        diff.session.execute("CREATE SCHEMA IF NOT EXISTS activate")
        state._prepare()
        diff.session.execute(
            "INSERT INTO activate.activate_state SELECT 'people_sync', row_key, row_hash, "
            f"'{sync.config_hash}', NULL, 'seed', now() FROM activate_snapshot"
        )
    finally:
        diff.close()
        state.session.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_million_rows_half_percent_changed_fetches_only_changed_rows(postgres_url: str, tmp_path: Path) -> None:
    target = HubSpotConformanceTarget()
    target.start(tmp_path)
    try:
        project = ScratchProject(tmp_path / "p", warehouse_url=postgres_url)
        project.people(ROWS)
        project.add_connection("dest", target.connection())
        project.add_sync("people_sync", {"connection": "dest", **target.destination("upsert")}, state="warehouse")
        _seed_state(project)
        project.execute(f"update people set first_name = 'Changed' || id where id % {ROWS // CHANGED} = 0")

        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(project.root)], capture_output=True, text=True, env=env, timeout=240
        )
        assert child.returncode == 0, child.stderr[-3000:]
        report = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        target.stop()

    summary = report["summary"]
    assert summary["status"] == "succeeded", summary["error"]
    assert (summary["rows_read"], summary["rows_changed"], summary["rows_unchanged"]) == (
        ROWS,
        CHANGED,
        ROWS - CHANGED,
    )
    assert summary["rows_succeeded"] == CHANGED
    assert summary["api_calls"] == CHANGED // 100, "5,000 changed rows are 50 HubSpot batch upserts"
    fetched = [m for m in report["log"] if "fetched" in m]
    assert fetched, report["log"]
    assert f"fetched {CHANGED} rows to write" in fetched[-1], fetched
    print(f"1M rows, {CHANGED} changed: {fetched[-1]}; peak RSS {report['max_rss_mb']:.0f} MB")
    assert report["max_rss_mb"] < 300, f"peak RSS {report['max_rss_mb']:.0f} MB"
    synced = project.execute("select count(*) from activate.activate_state where row_hash is not null")
    assert synced == [(ROWS,)]
