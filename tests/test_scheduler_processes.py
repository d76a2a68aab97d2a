"""Two `activate schedule` processes on one Postgres state store: each cron window runs once, never overlapping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget

WINDOW = 3  # seconds: "*/3" in croniter's seconds field; minutes are multiples of 3 s, so windows align


@pytest.fixture
def target(tmp_path: Path) -> Iterator[WebhookConformanceTarget]:
    target = WebhookConformanceTarget()
    target.start(tmp_path)
    yield target
    target.stop()


@pytest.mark.slow
def test_two_scheduler_processes_run_each_window_once(
    tmp_path: Path, target: WebhookConformanceTarget, postgres_url: str
) -> None:
    project = ScratchProject(tmp_path / "p", state_url=postgres_url)
    project.people(20)
    project.add_connection("hooks", target.connection())
    project.add_sync(
        "people_hook", {"connection": "hooks", **target.destination("upsert")}, schedule=f"* * * * * */{WINDOW}"
    )
    target.slow(0.3)  # a run spans a noticeable part of its window, so overlaps would show
    command = [sys.executable, "-m", "activate", "schedule", "-p", str(project.root)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    replicas = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    try:
        # At least four windows, and until two scheduled runs are recorded: on a loaded machine the replicas'
        # start-up alone can take most of four windows.
        started = time.monotonic()
        while time.monotonic() - started < 4 * WINDOW or (
            len(scheduled_runs(project)) < 2 and time.monotonic() - started < 60
        ):
            time.sleep(0.5)
    finally:
        for process in replicas:
            process.send_signal(signal.SIGTERM)
        for process in replicas:
            process.wait(timeout=30)
    outputs = [p.stdout.read() if p.stdout else "" for p in replicas]
    assert [p.returncode for p in replicas] == [0, 0], outputs

    runs = scheduled_runs(project)
    assert len(runs) >= 2, "both replicas were up for several windows"
    windows = Counter(int(r["started_at"].timestamp()) // WINDOW for r in runs)
    assert max(windows.values()) == 1, f"a window ran twice: {windows}"
    spans = sorted((r["started_at"], r["finished_at"] or r["started_at"]) for r in runs)
    assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:], strict=False)), "runs overlapped"
    assert sorted(target.sim.applied.values()) == [1] * 20, "every row landed exactly once"


def scheduled_runs(project: ScratchProject) -> list[dict[str, Any]]:
    reader = project.reader()
    try:
        return [r for r in reader.runs("people_hook", limit=100) if r["trigger"] == "schedule"]
    finally:
        reader.dispose()
