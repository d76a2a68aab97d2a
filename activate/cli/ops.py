"""`activate schedule` and `activate status`: the long-running scheduler and the view of its health.

Registered on the Typer app by `activate/cli/app.py`. Heavy modules are imported inside the commands so `--help`
stays fast.

Overdue rule (`activate status` exits 1 when any scheduled sync is overdue): a sync is overdue when its last
successful run finished more than two cron intervals ago; a sync that never succeeded is overdue when the oldest run
recorded in its state store (the scheduler has been deployed at least that long) is more than two intervals old.
A store with no run at all is a project not deployed yet: nothing is overdue. Unscheduled syncs are never overdue.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from activate.cli.options import Exclude, ProjectDir, Select, Selectors, Target

if TYPE_CHECKING:
    from activate.clock import Clock
    from activate.config import Project


@dataclass(frozen=True)
class SyncStatus:
    """One line of `activate status` (also its `--json` object); times are ISO 8601 UTC."""

    sync: str
    schedule: str | None
    last_status: str | None
    last_started_at: str | None
    next_run_at: str | None
    last_success_at: str | None
    freshness_seconds: float | None
    overdue: bool
    held: str | None = None  # `revert --hold`: why the sync does not run, until `activate resume`


def sync_statuses(project: Project, clock: Clock, names: Sequence[str] | None = None) -> list[SyncStatus]:
    """Each sync's (or each of `names`') last run, next run and freshness, and whether it is overdue (see the module
    docstring)."""
    import sqlalchemy as sa

    from activate.scheduler import aware, cron_interval, next_fire
    from activate.state import schema
    from activate.state.open import open_state_store

    now = clock.now()
    timezone = project.spec.timezone
    statuses: list[SyncStatus] = []
    for name in project.syncs if names is None else names:
        sync = project.sync(name)
        store = open_state_store(project, sync)
        try:
            runs = store.runs(name, limit=1)
            success = store.last_success(name)
            hold = store.hold(name)
            with store.connect() as conn:
                oldest = conn.execute(sa.select(sa.func.min(schema.runs.c.started_at))).scalar()
        finally:
            store.dispose()
        last = runs[0] if runs else None
        succeeded_at = aware(success["finished_at"] or success["started_at"]) if success else None
        schedule = sync.spec.schedule
        overdue = False
        if schedule:
            allowed = 2 * cron_interval(schedule, now, timezone)
            reference = succeeded_at or (aware(oldest) if oldest is not None else None)
            overdue = reference is not None and now - reference > allowed
        statuses.append(
            SyncStatus(
                sync=name,
                schedule=schedule,
                last_status=last["status"] if last else None,
                last_started_at=_iso(aware(last["started_at"])) if last else None,
                next_run_at=_iso(next_fire(schedule, now, timezone)) if schedule else None,
                last_success_at=_iso(succeeded_at),
                freshness_seconds=round((now - succeeded_at).total_seconds(), 3) if succeeded_at else None,
                overdue=overdue,
                held=hold.describe() if hold is not None else None,
            )
        )
    return statuses


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return f"{timedelta(seconds=round(seconds))} ago"


def _fail(exc: Exception) -> typer.Exit:
    from activate.errors import ActivateError

    typer.secho(f"Error: {exc}", err=True, fg="red")
    return typer.Exit(exc.exit_code if isinstance(exc, ActivateError) else 1)


def _load(project_dir: Path | None, target: str | None = None) -> Project:
    from activate.config import load_project
    from activate.errors import ActivateError

    try:
        return load_project(project_dir, target=target)
    except ActivateError as exc:
        raise _fail(exc) from None


def status(
    selectors: Selectors = None,
    select: Select = None,
    exclude: Exclude = None,
    project_dir: ProjectDir = None,
    target: Target = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per sync on stdout.")] = False,
) -> None:
    """Each sync's last run, next run and freshness; exit 1 when a scheduled sync is overdue."""
    from activate.clock import SYSTEM_CLOCK
    from activate.errors import ActivateError
    from activate.selection import select_syncs

    project = _load(project_dir, target)
    try:
        names = select_syncs(project, [*(selectors or []), *(select or [])], exclude or []) if project.syncs else []
    except ActivateError as exc:
        raise _fail(exc) from None
    statuses = sync_statuses(project, SYSTEM_CLOCK, names)
    if project.target is not None and not json_output:
        typer.echo(f"target: {project.target}")
    for s in statuses:
        if json_output:
            entry = asdict(s)
            typer.echo(json.dumps({"target": project.target, **entry} if project.target else entry))
            continue
        last = f"{s.last_status} at {s.last_started_at}" if s.last_status else "never ran"
        line = f"{s.sync}: schedule {s.schedule or 'none'}; last run {last}; next run {s.next_run_at or '-'}; "
        line += f"last success {_ago(s.freshness_seconds)}"
        typer.echo(line + ("; OVERDUE" if s.overdue else "") + (f"; HELD: {s.held}" if s.held else ""))
    if any(s.overdue for s in statuses):
        raise typer.Exit(1)


def schedule(
    project_dir: ProjectDir = None,
    target: Target = None,
    max_workers: Annotated[int, typer.Option("--max-workers", min=1, help="Syncs running at once.")] = 2,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve /metrics and /healthz on this port.")
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            envvar="ACTIVATE_METRICS_HOST",
            help="Interface for /metrics and /healthz (0.0.0.0: every interface, as in a container).",
        ),
    ] = "127.0.0.1",
    poll_seconds: Annotated[float, typer.Option("--poll-seconds", help="Seconds between scheduling passes.")] = 1.0,
    shutdown_timeout: Annotated[
        float, typer.Option("--shutdown-timeout", help="Seconds SIGTERM waits for runs in flight to end.")
    ] = 60.0,
) -> None:
    """Run every sync on its cron until SIGTERM/Ctrl-C; runs in flight then end after their batches in flight."""
    import logging
    import os
    import signal
    import threading

    from activate.logs import FORMAT_ENV, MaskedTextFormatter, configure
    from activate.metrics import Metrics, MetricsServer
    from activate.scheduler import Scheduler

    if (os.environ.get(FORMAT_ENV) or "").lower() == "json":
        configure("json")  # one JSON object per line, secrets masked, as `run --log-format json`
    else:
        # Text logs name the sync and run of each engine record (MaskedTextFormatter), secrets masked.
        text = logging.StreamHandler()
        text.setFormatter(MaskedTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[text])
    project = _load(project_dir, target)
    stop = threading.Event()
    metrics = Metrics()
    try:
        metrics.seed(project)
        scheduler = Scheduler(project, max_workers=max_workers, on_run=metrics.observe)
    except Exception as exc:
        raise _fail(exc) from None
    server = None
    if metrics_port is not None:
        server = MetricsServer(metrics, metrics_port, host=metrics_host, healthy=lambda: not stop.is_set()).start()
        typer.echo(f"metrics on http://{metrics_host}:{server.port}/metrics", err=True)

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    typer.echo(f"scheduling {len(scheduler.next_runs())} syncs; SIGTERM or Ctrl-C to stop", err=True)
    try:
        finished = scheduler.run_forever(stop, poll_seconds=poll_seconds, shutdown_timeout=shutdown_timeout)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.stop()
    typer.echo("scheduler stopped" + ("" if finished else " (runs still in flight were left)"), err=True)
    if not finished:
        raise typer.Exit(1)
