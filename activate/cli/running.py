"""`activate run` over a selection of syncs, and a person's approval to pass `max_deletes` once.

`--approve-deletes N --reason TEXT` lets each selected run delete up to N rows past `max_deletes`; `--approve`
first shows the plan and asks. Either way the approval (N, the OS user, the reason) is recorded on the run's row in
`activate_runs`, and it covers that one run only: the next run is guarded again.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from activate.errors import SyncHeldError, UsageError
from activate.exits import FAILED, HELD, INVALID, PARTIAL, SUCCEEDED

if TYPE_CHECKING:
    from activate.cli.console import Console
    from activate.config import Project
    from activate.engine import RunOptions


def operator() -> str:
    """The OS user running the command (who approved), as the audit records it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers): fall back to the environment
        return os.environ.get("USER") or os.environ.get("USERNAME") or f"uid {os.getuid()}"


def approval_options(options: RunOptions, approve_deletes: int | None, reason: str | None) -> RunOptions:
    """`options` carrying a non-interactive approval; a reason is required so the audit says why."""
    if approve_deletes is None:
        if reason:
            raise UsageError("--reason goes with --approve-deletes N or --approve")
        return options
    if approve_deletes < 0:
        raise UsageError("--approve-deletes takes a count of rows, 0 or more")
    if not reason or not reason.strip():
        raise UsageError('--approve-deletes needs --reason "why these deletes are intended" (recorded on the run)')
    return dataclasses.replace(
        options, approve_deletes=approve_deletes, approved_by=operator(), approval_reason=reason.strip()
    )


def run_syncs(
    console: Console,
    project: Project,
    names: Sequence[str],
    options: RunOptions,
    *,
    ask: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Run each sync once, in order; the most severe exit code wins. `ask`: show each plan and ask before passing
    a tripped `max_deletes`. `stop` (set by SIGTERM / Ctrl-C) ends the running sync gracefully and starts no
    other. A sync held by `revert --hold` is refused in one line (exit 5 when nothing worse happened) and the
    others still run."""
    from activate.alerts import send_alerts
    from activate.engine import run_sync

    codes = []
    for name in names:
        if stop is not None and stop.is_set():
            break
        chosen = _ask_approval(console, project, name, options) if ask else options
        try:
            summary = run_sync(project, name, chosen, observer=console, stop=stop)
        except SyncHeldError as exc:
            console.error(str(exc))
            codes.append(HELD)
            continue
        console.summary(summary)
        send_alerts(project, summary)
        codes.append(summary.exit_code)
    return combined_exit(codes)


def _ask_approval(console: Console, project: Project, name: str, options: RunOptions) -> RunOptions:
    import typer

    from activate.cli.planning import plan_syncs
    from activate.plan.builder import PlanOptions

    plan_options = PlanOptions(full_resync=options.full_resync, retry_rejected=options.retry_rejected)
    (plan,) = plan_syncs(project, [name], plan_options)
    console.plan(plan)
    if not any(v.name == "max_deletes" for v in plan.tripped):
        return options
    deletes = plan.counts.removed
    if not typer.confirm(f"Approve {deletes} deletes for this run of '{name}'?", default=False):
        return options  # the run trips the guardrail as planned and writes nothing
    reason = options.approval_reason or typer.prompt("Why are these deletes intended? (recorded on the run)")
    return approval_options(options, deletes, reason)


def combined_exit(codes: Sequence[int]) -> int:
    """Several syncs: the most severe outcome wins (invalid over failed over partial over held over succeeded)."""
    for code in (INVALID, FAILED, PARTIAL, HELD):
        if code in codes:
            return code
    return SUCCEEDED
