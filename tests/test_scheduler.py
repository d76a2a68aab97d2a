"""The scheduler over real runs against the webhook simulator, driven by a FakeClock: cron windows, no overlap, a
missed window runs once, `after:` order, two replicas on one Postgres store, graceful stop, reloading."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activate.clock import FakeClock
from activate.scheduler import Scheduler
from activate.state.store import StateStore
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget

START = datetime(2026, 1, 1, tzinfo=UTC)
FIVE_MINUTES = 300.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def target(tmp_path: Path, clock: FakeClock) -> Iterator[WebhookConformanceTarget]:
    target = WebhookConformanceTarget(clock=clock)
    target.start(tmp_path)
    yield target
    target.stop()


def _project(
    tmp_path: Path, target: WebhookConformanceTarget, schedules: dict[str, str], *, state_url: str | None = None
) -> ScratchProject:
    project = ScratchProject(tmp_path / "p", state_url=state_url)
    project.people(5)
    project.add_connection("hooks", target.connection())
    for name, schedule in schedules.items():
        destination = {"connection": "hooks", **target.destination("upsert"), "object": name}
        project.add_sync(name, destination, schedule=schedule)
    return project


def _scheduled_runs(project: ScratchProject, sync: str) -> list[dict[str, object]]:
    reader = project.reader()
    try:
        return [r for r in reader.runs(sync, limit=100) if r["trigger"] == "schedule"]
    finally:
        reader.dispose()


def _step(scheduler: Scheduler, clock: FakeClock, seconds: float) -> list[str]:
    clock.advance(seconds)
    started = scheduler.tick()
    assert scheduler.wait_idle(timeout=30)
    return started


def _wait_for_requests(target: WebhookConformanceTarget, count: int) -> None:
    """Until the run is on the wire (and so recorded as started at the clock's current time)."""
    deadline = time.monotonic() + 10
    while target.sim.requests < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert target.sim.requests >= count, "the run started"


def _tick_together(scheduler: Scheduler, barrier: threading.Barrier) -> None:
    barrier.wait()
    scheduler.tick()


def test_fires_each_sync_on_its_cron(tmp_path: Path, clock: FakeClock, target: WebhookConformanceTarget) -> None:
    project = _project(tmp_path, target, {"every5": "*/5 * * * *", "every10": "*/10 * * * *"})
    scheduler = Scheduler(project.load(), clock)
    assert scheduler.tick() == [], "a sync that never ran waits for its first window"
    assert _step(scheduler, clock, 299) == []
    started = [_step(scheduler, clock, 1)] + [_step(scheduler, clock, FIVE_MINUTES) for _ in range(5)]
    assert started == [
        ["every5"],
        ["every10", "every5"],
        ["every5"],
        ["every10", "every5"],
        ["every5"],
        ["every10", "every5"],
    ]
    assert len(_scheduled_runs(project, "every5")) == 6
    assert len(_scheduled_runs(project, "every10")) == 3
    assert [o.summary.status for o in scheduler.history if o.summary] == ["succeeded"] * 9
    assert set(target.sim.rows("every5")) == set(target.sim.rows("every10")) == {"1", "2", "3", "4", "5"}
    assert target.sim.requests == 2, "one batch of 5 rows per sync; later runs find nothing changed"
    scheduler.shutdown()


def test_a_sync_never_overlaps_itself_and_missed_windows_run_once(
    tmp_path: Path, clock: FakeClock, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target, {"every5": "*/5 * * * *"})
    scheduler = Scheduler(project.load(), clock)
    target.slow(0.3)
    clock.advance(FIVE_MINUTES)
    assert scheduler.tick() == ["every5"]
    _wait_for_requests(target, 1)
    clock.advance(3 * FIVE_MINUTES)
    assert scheduler.tick() == [], "still running: three more windows passed, no second run of the same sync"
    assert scheduler.wait_idle(timeout=30)
    target.slow(0.0)
    assert scheduler.tick() == ["every5"], "the missed windows collapse into one run"
    assert scheduler.wait_idle(timeout=30)
    assert scheduler.tick() == []
    assert _step(scheduler, clock, 3 * 3600) == ["every5"], "three hours paused: one run, not 36"
    assert scheduler.tick() == []
    runs = _scheduled_runs(project, "every5")
    assert len(runs) == 3
    assert all(r["status"] == "succeeded" for r in runs)
    scheduler.shutdown()

    clock.advance(3600)
    restarted = Scheduler(project.load(), clock)
    assert restarted.tick() == ["every5"], "after downtime the restarted scheduler runs the sync once"
    assert restarted.wait_idle(timeout=30)
    assert restarted.tick() == []
    assert len(_scheduled_runs(project, "every5")) == 4
    restarted.shutdown()


def test_dependencies_run_first(tmp_path: Path, clock: FakeClock, target: WebhookConformanceTarget) -> None:
    project = _project(tmp_path, target, {"companies": "*/5 * * * *"})
    destination = {"connection": "hooks", **target.destination("upsert"), "object": "contacts"}
    project.add_sync("contacts", destination, schedule="*/5 * * * *", after=["companies"])
    scheduler = Scheduler(project.load(), clock, max_workers=2)
    target.slow(0.2)
    clock.advance(FIVE_MINUTES)
    assert scheduler.tick() == ["companies"], "contacts waits although a worker is free"
    assert scheduler.tick() == []
    assert scheduler.wait_idle(timeout=30)
    assert scheduler.tick() == ["contacts"]
    assert scheduler.wait_idle(timeout=30)
    assert [o.sync for o in scheduler.history] == ["companies", "contacts"]
    companies, contacts = (_scheduled_runs(project, name)[0] for name in ("companies", "contacts"))
    assert contacts["started_at"] >= companies["finished_at"]
    scheduler.shutdown()


def test_two_schedulers_on_one_postgres_store_run_each_window_once(
    tmp_path: Path, clock: FakeClock, target: WebhookConformanceTarget, postgres_url: str
) -> None:
    project = _project(tmp_path, target, {"every5": "*/5 * * * *", "every10": "*/10 * * * *"}, state_url=postgres_url)
    replicas = [Scheduler(project.load(), clock), Scheduler(project.load(), clock)]
    target.slow(0.05)
    for _ in range(6):
        clock.advance(FIVE_MINUTES)
        barrier = threading.Barrier(2)

        threads = [threading.Thread(target=_tick_together, args=(s, barrier)) for s in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for scheduler in replicas:
            assert scheduler.wait_idle(timeout=30)
    assert len(_scheduled_runs(project, "every5")) == 6
    assert len(_scheduled_runs(project, "every10")) == 3
    outcomes = [o for s in replicas for o in s.history]
    assert sum(1 for o in outcomes if o.summary is not None) == 9
    assert sum(1 for o in outcomes if o.skipped is not None) == 9, "the other replica skipped each of those windows"
    assert all(count == 2 for count in target.sim.applied.values()), "each row landed once per object"
    for scheduler in replicas:
        scheduler.shutdown()


def test_stop_during_a_run_exits_in_bounded_time_and_releases_the_lock(
    tmp_path: Path, clock: FakeClock, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target, {"every5": "*/5 * * * *"})
    project.people(300)
    scheduler = Scheduler(project.load(), clock)
    target.slow(0.2)
    clock.advance(FIVE_MINUTES)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run_forever, args=(stop,), kwargs={"poll_seconds": 0.01})
    thread.start()
    _wait_for_requests(target, 1)
    stopped_at = time.monotonic()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 3, "ends after the batches in flight, not after all 30"
    [run] = _scheduled_runs(project, "every5")
    assert run["status"] == "aborted"
    assert target.sim.requests < 30, "the batches not yet sent stay pending"
    reader = project.reader()
    try:
        assert reader.lock_holder("every5") is None
        assert reader.lock_holder("schedule:every5") is None
    finally:
        reader.dispose()
    assert scheduler.tick() == [], "a stopped scheduler starts nothing"


def test_reloads_changed_sync_files_and_keeps_the_old_project_on_a_config_error(
    tmp_path: Path, clock: FakeClock, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target, {"every5": "*/5 * * * *"})
    scheduler = Scheduler(project.load(), clock)
    assert scheduler.reload_if_changed() is False
    hourly = {"connection": "hooks", **target.destination("upsert"), "object": "hourly"}
    project.add_sync("hourly", hourly, schedule="0 * * * *")
    assert scheduler.reload_if_changed() is True
    assert scheduler.next_runs() == {
        "every5": datetime(2026, 1, 1, 0, 5, tzinfo=UTC),
        "hourly": datetime(2026, 1, 1, 1, 0, tzinfo=UTC),
    }
    (project.root / "syncs" / "hourly.yml").write_text('{"name": "hourly", "schedule": "not a cron"}')
    assert scheduler.reload_if_changed() is False
    assert set(scheduler.next_runs()) == {"every5", "hourly"}, "an invalid edit keeps the previous project"
    scheduler.shutdown()


def test_cron_is_read_in_the_project_timezone(
    tmp_path: Path, clock: FakeClock, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target, {"morning": "0 9 * * *"})
    settings = json.loads((project.root / "activate.yml").read_text())
    (project.root / "activate.yml").write_text(json.dumps({**settings, "timezone": "America/New_York"}))
    scheduler = Scheduler(project.load(), clock)
    assert scheduler.next_runs() == {"morning": datetime(2026, 1, 1, 14, 0, tzinfo=UTC)}, "09:00 EST is 14:00 UTC"
    assert _step(scheduler, clock, 14 * 3600 - 1) == []
    assert _step(scheduler, clock, 1) == ["morning"]
    clock.advance(180 * 86400)
    assert scheduler.tick() == ["morning"]
    assert scheduler.wait_idle(timeout=30)
    assert scheduler.next_runs() == {"morning": datetime(2026, 7, 1, 13, 0, tzinfo=UTC)}, "09:00 EDT in summer"
    scheduler.shutdown()


def test_a_sync_locked_by_another_process_skips_the_window(
    tmp_path: Path, clock: FakeClock, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path, target, {"every5": "*/5 * * * *"})
    scheduler = Scheduler(project.load(), clock)
    store = StateStore(project.state_url, project_root=project.root)
    try:
        store.acquire_lock("every5", "manual-run", "elsewhere:1", START, timedelta(hours=1))
    finally:
        store.dispose()
    assert _step(scheduler, clock, FIVE_MINUTES) == ["every5"]
    [outcome] = scheduler.history
    assert outcome.summary is None
    assert outcome.skipped is not None
    assert "already running (run manual-run on elsewhere:1" in outcome.skipped
    assert target.sim.requests == 0
    assert _scheduled_runs(project, "every5") == []
    assert scheduler.tick() == [], "the window is over; the next one is at 00:10"
    scheduler.shutdown()
