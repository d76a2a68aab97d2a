"""Run alerts (`alerts:` in `activate.yml`): one message per matching alert after a run, sent through the Slack or
webhook destination's own writer, so alerts reuse its client, auth, retries and rate limits instead of a third HTTP
client.

Invariants: an alert never changes a run's outcome (a send that fails is logged at WARNING and the caller goes on);
every text leaving here is masked with the project's secrets.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from activate.clock import SYSTEM_CLOCK, Clock
from activate.config.models import AlertSpec, DestinationSpec
from activate.destinations.base import RowOp, WriteBatch, WriteContext
from activate.destinations.registry import destination_plugin
from activate.http.stats import RunStats
from activate.rows import Operation, RowStatus

if TYPE_CHECKING:
    from activate.config import Project
    from activate.engine import RunSummary

log = logging.getLogger("activate.alerts")

WEBHOOK_OBJECT = "alerts"


def outcomes(summary: RunSummary) -> set[str]:
    """What a run's outcome counts as for `on:`: failed, partial, guardrail (a guardrail stopped the run before any
    write) and error_rate (`max_error_rate` failed it). A guardrail or error-rate failure is also `failed`.
    Decided from the run's typed status and failure kind, never from its error text."""
    from activate.engine.outcome import FailureKind, RunStatus

    found: set[str] = set()
    if summary.status in (RunStatus.FAILED, RunStatus.ABORTED):
        found.add("failed")
    if summary.status == RunStatus.PARTIAL:
        found.add("partial")
    if summary.status == RunStatus.FAILED and summary.failure_kind is FailureKind.ERROR_RATE:
        found.add("error_rate")
    if summary.status == RunStatus.FAILED and summary.failure_kind is FailureKind.GUARDRAIL:
        found.add("guardrail")
    return found


def alert_text(summary: RunSummary) -> str:
    """The alert message: sync, status, error, counts and run id, on a few short lines."""
    s = summary
    lines = [
        f"activate: sync {s.sync_name} {s.status}",
        f"run {s.run_id}",
        f"rows: {s.rows_succeeded} succeeded, {s.rows_failed} failed, {s.rows_rejected} rejected, "
        f"{s.rows_invalid} invalid (read {s.rows_read}: {s.rows_added} added, {s.rows_changed} changed, "
        f"{s.rows_removed} removed)",
    ]
    if s.error:
        lines.insert(1, f"error: {s.error}")
    return "\n".join(lines)


def send_alerts(project: Project, summary: RunSummary, *, clock: Clock = SYSTEM_CLOCK) -> list[AlertSpec]:
    """Send every alert of `project` whose `on:` matches the run; returns the alerts that were delivered."""
    matched = outcomes(summary)
    delivered = []
    for alert in project.spec.alerts:
        if not matched.intersection(alert.on):
            continue
        try:
            problem = _send(project, alert, summary, clock)
        except Exception as exc:  # an alert must never fail the run it reports on
            problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            delivered.append(alert)
        else:
            log.warning(
                project.secrets.mask(f"alert through '{alert.connection}' for run {summary.run_id} not sent: {problem}")
            )
    return delivered


def _send(project: Project, alert: AlertSpec, summary: RunSummary, clock: Clock) -> str | None:
    connection = project.connection(alert.connection)
    plugin = destination_plugin(connection.type)
    if plugin is None or connection.type not in ("slack", "webhook"):
        return f"connection type '{connection.type}' cannot carry alerts"
    text = project.secrets.mask(alert_text(summary))
    fields: dict[str, object] = {"text": text}
    if connection.type == "webhook":
        fields.update(
            sync=summary.sync_name,
            status=summary.status,
            run_id=summary.run_id,
            error=project.secrets.mask(summary.error) if summary.error else None,
            counts={k: v for k, v in summary.to_dict().items() if k.startswith("rows_")},
        )
    target = alert.channel if connection.type == "slack" else WEBHOOK_OBJECT
    if not target:
        return "a slack alert needs channel:"
    spec = DestinationSpec(connection=alert.connection, object=target, mode="insert")
    context = WriteContext(summary.sync_name, summary.run_id, spec, RunStats(), clock)
    destination = plugin.create(connection, context)
    try:
        row = RowOp(key=f"alert:{summary.run_id}", operation=Operation.INSERT, fields=fields)
        results = destination.write(WriteBatch(Operation.INSERT, [row]))
    finally:
        destination.close()
    if results and results[0].status == RowStatus.SUCCEEDED:
        return None
    if not results:
        return "the destination returned no result"
    return f"{results[0].error_code}: {results[0].error_message}"
