"""`activate schedule`: run every sync on its `schedule:` cron, in the project's timezone.

Invariants:
- a sync has at most one run at a time in this process, and at most `max_workers` syncs run at once;
- a window (one cron fire time) starts at most one scheduled run of a sync across every scheduler replica sharing the
  state store: a replica first takes a short-lived claim lock (`schedule:<sync>`) and, holding it, skips the window
  when a scheduled run already started at or after the window's fire time; the engine's own per-sync lock still
  keeps manual runs and scheduled runs apart (a held lock skips the window; it is not an error);
- missed windows (downtime, a pause, a run longer than its interval) collapse into ONE run, started at the next tick;
- a sync whose `after:` names another waits while that sync is due or running, so on a shared fire time the
  dependency runs first; it does not wait for a dependency that has no schedule, and it runs even when the
  dependency's run failed (each sync's own status shows that);
- a DuckDB state file admits one user per process at a time (the engine attaches it into the warehouse
  connection), so with DuckDB state the scheduler's runs take turns; Postgres state runs `max_workers` at once;
- a sync held by `activate revert --hold` is skipped (one log line per window) until `activate resume`;
- `stop` ends in-flight runs after their batches in flight (status `aborted`, locks released) and starts none.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from activate.clock import SYSTEM_CLOCK, Clock
from activate.errors import ActivateError, LockHeldError, SyncHeldError

if TYPE_CHECKING:
    from activate.config import Project
    from activate.engine import RunSummary
    from activate.state.store import StateStore

log = logging.getLogger("activate.scheduler")

# Only has to cover "check the window, then record the run's start"; once started, the run itself is the evidence.
CLAIM_LEASE = timedelta(minutes=10)
SCHEDULE_TRIGGER = "schedule"


def next_fire(expression: str, after: datetime, timezone: str) -> datetime:
    """The first fire time of `expression` strictly after `after`, evaluated in `timezone`, returned in UTC."""
    from croniter import croniter

    local = after.astimezone(ZoneInfo(timezone))
    fire: datetime = croniter(expression, local).get_next(datetime)
    return fire.astimezone(UTC)


def cron_interval(expression: str, at: datetime, timezone: str) -> timedelta:
    """The gap between the two fire times following `at` (what "one interval" means for freshness)."""
    first = next_fire(expression, at, timezone)
    return next_fire(expression, first, timezone) - first


def aware(value: datetime) -> datetime:
    """State stores hand back naive UTC timestamps on some dialects."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ScheduledRun:
    """What the scheduler did with one due window of one sync: a run (`summary`) or a skip (`skipped` says why)."""

    sync: str
    window: datetime
    summary: RunSummary | None = None
    skipped: str | None = None
    duration_seconds: float = 0.0
    finished_at: datetime | None = None


@dataclass
class _Slot:
    schedule: str
    timezone: str
    due: datetime


class Scheduler:
    """Fires each scheduled sync of `project` on its cron through `run_sync`, on a bounded worker pool.

    Drive it with `tick()` (one pass: start what is due) or `run_forever(stop)`. `history` lists every
    `ScheduledRun` in completion order; `on_run` (e.g. `Metrics.observe`) is called with each, from the worker.
    The first window of a sync follows its last recorded run (so a restart after downtime runs it once at once), or
    follows now when it never ran.
    """

    def __init__(
        self,
        project: Project,
        clock: Clock = SYSTEM_CLOCK,
        max_workers: int = 2,
        *,
        on_run: Callable[[ScheduledRun], None] | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.project = project
        self.clock = clock
        self.max_workers = max_workers
        self.on_run = on_run
        self.history: list[ScheduledRun] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="activate-schedule")
        self._slots: dict[str, _Slot] = {}
        self._running: dict[str, Future[ScheduledRun]] = {}
        self._mtimes = _project_mtimes(project.root)
        self._serial = threading.Lock() if project.spec.state.url.startswith("duckdb") else None
        self._plan_slots()

    # -- planning ---------------------------------------------------------------------------------------------------

    def next_runs(self) -> dict[str, datetime]:
        """Each scheduled sync's next window (already due when in the past)."""
        return {name: slot.due for name, slot in self._slots.items()}

    def _plan_slots(self) -> None:
        timezone = self.project.spec.timezone
        slots: dict[str, _Slot] = {}
        for name, sync in self.project.syncs.items():
            schedule = sync.spec.schedule
            if not schedule:
                continue
            kept = self._slots.get(name)
            if kept is not None and (kept.schedule, kept.timezone) == (schedule, timezone):
                slots[name] = kept
                continue
            slots[name] = _Slot(schedule, timezone, next_fire(schedule, self._last_run_start(name), timezone))
        self._slots = slots

    def _last_run_start(self, name: str) -> datetime:
        with self._state_turn():
            store = self._store(name)
            try:
                runs = store.runs(name, limit=1)
            finally:
                store.dispose()
        return aware(runs[0]["started_at"]) if runs else self.clock.now()

    def _state_turn(self) -> AbstractContextManager[object]:
        return self._serial if self._serial is not None else nullcontext()

    def _store(self, name: str) -> StateStore:
        from activate.state.open import open_state_store

        return open_state_store(self.project, self.project.sync(name))

    # -- reloading --------------------------------------------------------------------------------------------------

    def reload_if_changed(self) -> bool:
        """Reload the project when a project or sync file was added, removed or modified; True when reloaded.

        An invalid edit keeps the previous project running (logged), so one typo never stops every schedule.
        """
        from activate.config import load_project

        mtimes = _project_mtimes(self.project.root)
        if mtimes == self._mtimes:
            return False
        self._mtimes = mtimes
        try:
            project = load_project(self.project.root, target=self.project.target)
        except ActivateError as exc:
            log.error("project files changed but do not load; keeping the previous project: %s", exc)
            return False
        with self._lock:
            self.project = project
            self._plan_slots()
        log.info("project reloaded: %d scheduled syncs", len(self._slots))
        return True

    # -- running ----------------------------------------------------------------------------------------------------

    def tick(self) -> list[str]:
        """Start every due sync whose dependencies are neither due nor running, while workers are free.

        Returns the names started. A due sync left waiting (busy pool, dependency) stays due for the next tick.
        """
        self._reap()
        if self._stop.is_set():
            return []
        now = self.clock.now()
        started: list[str] = []
        with self._lock:
            project = self.project
            for name in project.run_order():
                slot = self._slots.get(name)
                if slot is None or slot.due > now or name in self._running:
                    continue
                if any(self._pending(dependency, now) for dependency in project.syncs[name].spec.dependencies):
                    continue
                if len(self._running) >= self.max_workers:
                    break
                window = slot.due
                slot.due = next_fire(slot.schedule, now, project.spec.timezone)
                self._running[name] = self._pool.submit(self._run, project, name, window)
                started.append(name)
        return started

    def _pending(self, name: str, now: datetime) -> bool:
        slot = self._slots.get(name)
        return name in self._running or (slot is not None and slot.due <= now)

    def _reap(self) -> None:
        with self._lock:
            for name, future in list(self._running.items()):
                if future.done():
                    del self._running[name]

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for the runs in flight; True when none is left."""
        with self._lock:
            futures = list(self._running.values())
        _, pending = wait_futures(futures, timeout=timeout)
        self._reap()
        return not pending

    def _run(self, project: Project, name: str, window: datetime) -> ScheduledRun:
        with self._state_turn():
            outcome = self._claim_and_run(project, name, window)
        self._report(outcome)
        return outcome

    def _claim_and_run(self, project: Project, name: str, window: datetime) -> ScheduledRun:
        from activate.alerts import send_alerts
        from activate.engine import RunOptions, run_sync
        from activate.state.store import lock_holder_name

        claim = f"schedule:{name}"
        claim_id = f"{window:%Y%m%dT%H%M%S}-{threading.get_ident()}"
        started = self.clock.monotonic()
        outcome: ScheduledRun
        store = self._store(name)
        try:
            try:
                store.acquire_lock(claim, claim_id, lock_holder_name(), self.clock.now(), CLAIM_LEASE)
            except LockHeldError:
                outcome = ScheduledRun(name, window, skipped="another scheduler is starting this window")
            else:
                try:
                    hold = store.hold(name)
                    if hold is not None:
                        outcome = ScheduledRun(name, window, skipped=f"held: {hold.describe()}")
                    elif _ran_since(store, name, window):
                        outcome = ScheduledRun(name, window, skipped="already ran in this window (another scheduler)")
                    else:
                        summary = run_sync(
                            project, name, RunOptions(trigger=SCHEDULE_TRIGGER), clock=self.clock, stop=self._stop
                        )
                        duration = self.clock.monotonic() - started
                        send_alerts(project, summary, clock=self.clock)
                        outcome = ScheduledRun(name, window, summary, None, duration, self.clock.now())
                except (LockHeldError, SyncHeldError) as exc:  # held: a revert --hold landed since the check
                    outcome = ScheduledRun(name, window, skipped=str(exc))
                except ActivateError as exc:  # invalid config reaching the engine: this window fails, the rest goes on
                    outcome = ScheduledRun(name, window, skipped=f"did not start: {exc}")
                finally:
                    store.release_lock(claim, claim_id)
        finally:
            store.dispose()
        return outcome

    def _report(self, outcome: ScheduledRun) -> None:
        if outcome.summary is not None:
            s = outcome.summary
            log.info(
                "sync %s run %s %s (window %s, %d rows succeeded, %d failed, %d rejected)",
                s.sync_name,
                s.run_id,
                s.status,
                f"{outcome.window:%Y-%m-%d %H:%M:%S}",
                s.rows_succeeded,
                s.rows_failed,
                s.rows_rejected,
            )
        else:
            log.info("sync %s skipped window %s: %s", outcome.sync, f"{outcome.window:%H:%M:%S}", outcome.skipped)
        with self._lock:
            self.history.append(outcome)
        if self.on_run is not None:
            try:
                self.on_run(outcome)
            except Exception:  # a metrics hiccup must never kill a worker
                log.exception("on_run callback failed")

    def run_forever(self, stop: threading.Event, *, poll_seconds: float = 1.0, shutdown_timeout: float = 60.0) -> bool:
        """Reload, tick and wait `poll_seconds` until `stop` is set; then let runs in flight end (they see `stop`
        too, so they end after their batches in flight) for at most `shutdown_timeout` seconds.

        Returns True when every run ended within that time.
        """
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    self.reload_if_changed()
                    self.tick()
                except Exception:  # e.g. the state store briefly unreachable: the next pass tries again
                    log.exception("scheduling pass failed; retrying in %.1f s", poll_seconds)
                stop.wait(poll_seconds)
        finally:
            finished = self.shutdown(shutdown_timeout)
        return finished

    def shutdown(self, timeout: float = 60.0) -> bool:
        """Stop starting runs, wait up to `timeout` seconds for the ones in flight; True when all ended."""
        self._stop.set()
        finished = self.wait_idle(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if not finished:
            log.warning("runs still in flight after %.0f s; exiting anyway (their locks expire)", timeout)
        return finished


def _ran_since(store: StateStore, name: str, window: datetime) -> bool:
    return any(
        run["trigger"] == SCHEDULE_TRIGGER and aware(run["started_at"]) >= window for run in store.runs(name, limit=5)
    )


def _project_mtimes(root: Path) -> dict[str, int]:
    files = [root / "activate.yml", root / "activate.yaml"]
    syncs = root / "syncs"
    if syncs.is_dir():
        files += [p for p in syncs.rglob("*") if p.is_file()]
    return {str(p): p.stat().st_mtime_ns for p in files if p.is_file()}


__all__ = ["ScheduledRun", "Scheduler", "aware", "cron_interval", "next_fire"]
