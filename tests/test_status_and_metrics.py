"""`/metrics` and `/healthz` scraped over real HTTP after scheduled runs; `activate status` through the CLI, with its
overdue exit code; `activate schedule` as a process stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from activate.cli.app import app
from activate.clock import FakeClock
from activate.metrics import Metrics, MetricsServer
from activate.scheduler import Scheduler
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget

START = datetime(2026, 1, 1, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[WebhookConformanceTarget]:
    target = WebhookConformanceTarget()
    target.start(tmp_path)
    yield target
    target.stop()


def _project(tmp_path: Path, target: WebhookConformanceTarget, schedule: str | None = "*/5 * * * *") -> ScratchProject:
    project = ScratchProject(tmp_path / "p")
    project.people(12)
    project.add_connection("hooks", target.connection())
    extra = {"schedule": schedule} if schedule else {}
    project.add_sync("people_hook", {"connection": "hooks", **target.destination("upsert")}, **extra)
    return project


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_are_served_with_the_values_of_the_runs(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    clock = FakeClock(START)
    project = _project(tmp_path, target)
    target.reject({"person3@example.com"})
    target.storm(1, retry_after=2)
    metrics = Metrics()
    scheduler = Scheduler(project.load(), clock, on_run=metrics.observe)
    server = MetricsServer(metrics, 0, host="127.0.0.1").start()
    try:
        clock.advance(300)
        assert scheduler.tick() == ["people_hook"]
        assert scheduler.wait_idle(timeout=30)
        target.reject(set())
        project.execute("update people set first_name = 'Changed' where id in (1, 2)")
        clock.advance(300)
        assert scheduler.tick() == ["people_hook"]
        assert scheduler.wait_idle(timeout=30)
        first, second = (o.summary for o in scheduler.history)
        assert first is not None
        assert second is not None
        assert (first.status, first.rows_succeeded, first.rows_rejected, first.throttled_seconds) == (
            "partial",
            11,
            1,
            2,
        )
        assert (second.status, second.rows_succeeded) == ("succeeded", 2), "the two changed rows"

        found = _scrape(f"http://127.0.0.1:{server.port}/metrics")
        sync = (("sync", "people_hook"),)
        assert found[("activate_rows_total", (("status", "succeeded"), *sync))] == 13
        assert found[("activate_rows_total", (("status", "rejected"), *sync))] == 1
        assert found[("activate_api_calls_total", sync)] == first.api_calls + second.api_calls == target.sim.requests
        assert found[("activate_throttled_seconds_total", sync)] == 2
        assert found[("activate_runs_total", (("status", "partial"), *sync))] == 1
        assert found[("activate_runs_total", (("status", "succeeded"), *sync))] == 1
        assert found[("activate_run_duration_seconds", sync)] == scheduler.history[-1].duration_seconds
        finished = scheduler.history[-1].finished_at
        assert finished == START + timedelta(seconds=602)
        assert found[("activate_last_success_timestamp_seconds", sync)] == finished.timestamp()

        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as response:
            assert (response.status, response.read()) == (200, b"ok\n")
    finally:
        server.stop()
        scheduler.shutdown()


def test_status_shows_runs_and_exits_non_zero_when_a_sync_is_overdue(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target)
    args = ["status", "--project-dir", str(project.root)]
    empty = runner.invoke(app, args)
    assert empty.exit_code == 0, "nothing ran yet: a project not deployed is not overdue"
    assert "never ran" in empty.output

    assert project.run("people_hook").status == "succeeded"
    fresh = runner.invoke(app, [*args, "--json"])
    assert fresh.exit_code == 0, fresh.output
    [line] = [json.loads(text) for text in fresh.output.splitlines()]
    assert (line["sync"], line["last_status"], line["overdue"]) == ("people_hook", "succeeded", False)
    assert 0 <= line["freshness_seconds"] < 60
    assert datetime.fromisoformat(line["next_run_at"]) - datetime.now(UTC) <= timedelta(minutes=5)

    old = ScratchProject(tmp_path / "old")
    old.people(3)
    old.add_connection("hooks", target.connection())
    old.add_sync("stale", {"connection": "hooks", **target.destination("upsert")}, schedule="*/5 * * * *")
    old.add_sync("manual", {"connection": "hooks", **target.destination("upsert"), "object": "manual"})
    eleven_minutes_ago = FakeClock(datetime.now(UTC) - timedelta(minutes=11))
    assert old.run("stale", clock=eleven_minutes_ago).status == "succeeded"
    assert old.run("manual", clock=eleven_minutes_ago).status == "succeeded"
    overdue = runner.invoke(app, ["status", "--project-dir", str(old.root)])
    assert overdue.exit_code == 1, overdue.output
    manual, stale = overdue.output.splitlines()
    assert "stale: schedule */5 * * * *; last run succeeded" in stale
    assert stale.endswith("; OVERDUE")
    assert "manual: schedule none" in manual
    assert "OVERDUE" not in manual, "an unscheduled sync is never overdue"


def test_never_succeeded_sync_is_overdue_once_two_intervals_passed(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target)
    target.sim.faults.error_rate = 1.0
    twenty_minutes_ago = FakeClock(datetime.now(UTC) - timedelta(minutes=20))
    assert project.run("people_hook", clock=twenty_minutes_ago).status != "succeeded"
    result = runner.invoke(app, ["status", "--project-dir", str(project.root)])
    assert result.exit_code == 1, result.output
    assert "last success never; OVERDUE" in result.output


def test_schedule_process_stops_on_sigterm_and_serves_metrics(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    project = _project(tmp_path, target, schedule="* * * * * */1")
    project.people(1000)
    target.slow(0.2)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "activate", "schedule", "-p", str(project.root), "--metrics-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        port = 0
        deadline = time.monotonic() + 20
        while not port and time.monotonic() < deadline:
            line = process.stdout.readline()
            if "metrics on http://127.0.0.1:" in line:
                port = int(line.rsplit(":", 1)[1].split("/")[0])
        assert port, "the scheduler announced its metrics port"
        while target.sim.requests == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert target.sim.requests >= 1, "a scheduled run started within a second of its window"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        assert time.monotonic() - signalled < 10
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    reader = project.reader()
    try:
        runs = reader.runs("people_hook", limit=10)
        assert runs
        assert all(r["status"] in ("aborted", "succeeded") for r in runs)
        assert runs[0]["status"] == "aborted", "the run in flight ended after its batches in flight"
        assert reader.lock_holder("people_hook") is None
        assert reader.lock_holder("schedule:people_hook") is None
    finally:
        reader.dispose()


def test_metrics_start_from_the_last_success_in_the_state_store(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target)
    summary = project.run("people_hook", clock=FakeClock(START))
    assert summary.status == "succeeded"
    metrics = Metrics()
    metrics.seed(project.load())
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
    }
    assert found[("activate_last_success_timestamp_seconds", (("sync", "people_hook"),))] == START.timestamp()
    assert ("activate_runs_total", (("status", "succeeded"), ("sync", "people_hook"))) not in found
