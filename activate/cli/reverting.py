"""`activate revert RUN_ID` and `activate resume SYNC` (registered on the app by `activate/cli/app.py`).

`revert` shows the revert plan (what `activate.revert` would restore, delete, re-create and only list) and writes
nothing; `--yes` executes it as a run of the sync with trigger `revert`; `--hold` then keeps the sync from running
(so it does not re-apply what was reverted) until `activate resume SYNC`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from activate.cli.options import JsonFlag, ProjectDir, Target

if TYPE_CHECKING:
    from activate.cli.console import Console
    from activate.plan.plan import Plan
    from activate.revert import RevertPlan

LISTED_KEYS_SHOWN = 5


def revert(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to undo (a unique prefix is enough).")],
    yes: Annotated[bool, typer.Option("--yes", help="Execute the revert (without it: a dry run).")] = False,
    hold: Annotated[
        bool,
        typer.Option("--hold", help="With --yes: hold the sync afterwards so it does not re-apply (see resume)."),
    ] = False,
    project_dir: ProjectDir = None,
    target: Target = None,
    json_output: JsonFlag = False,
) -> None:
    """Undo one run's changes: put back the field values it changed, delete the records it created (mirror; listed
    in other modes), re-create the ones it deleted. Fields a later run changed are kept and listed. Without --yes
    nothing is written."""
    from activate.cli.console import make_console
    from activate.config import load_project
    from activate.errors import UsageError

    console = make_console(json_output)
    try:
        if hold and not yes:
            raise UsageError("--hold holds the sync after the revert is executed: add --yes")
        project = load_project(project_dir, target=target)
        console.use_target(project.target)
        if not yes:
            from activate.revert import preview_revert

            plan = preview_revert(project, run_id)
            show_revert(console, plan, dry_run=True)
            return
        code = _execute(console, project, run_id, hold)
    finally:
        console.close()
    raise typer.Exit(code)


def _execute(console: Console, project: Any, run_id: str, hold: bool) -> int:
    from activate.alerts import send_alerts
    from activate.cli.running import operator
    from activate.revert import execute_revert

    summary = execute_revert(
        project,
        run_id,
        hold_by=operator() if hold else None,
        on_plan=lambda plan: show_revert(console, plan, dry_run=False),
        observer=_Progress(console),
    )
    console.summary(summary)
    send_alerts(project, summary)
    if hold:
        from activate.program import command

        console.message(
            f"'{summary.sync_name}' is held: no run re-applies what was reverted until "
            f"`{command('resume ' + summary.sync_name)}`"
        )
    return summary.exit_code


class _Progress:
    """The engine's observer during a revert: the revert plan is shown by `show_revert`, progress by the console."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def on_plan(self, plan: Plan) -> None:
        return None

    def on_progress(self, done: int, total: int) -> None:
        self.console.on_progress(done, total)


def resume(
    sync: Annotated[str, typer.Argument(metavar="SYNC", help="Sync name.")],
    project_dir: ProjectDir = None,
    target: Target = None,
    json_output: JsonFlag = False,
) -> None:
    """Release a sync held by `revert --hold`: its runs (manual and scheduled) go ahead again."""
    from activate.cli.console import make_console
    from activate.config import load_project
    from activate.revert import resume_sync

    console = make_console(json_output)
    try:
        project = load_project(project_dir, target=target)
        console.use_target(project.target)
        released = resume_sync(project, sync)
        console.message(
            f"Released '{sync}': its next run goes ahead." if released else f"'{sync}' was not held; nothing to do."
        )
    finally:
        console.close()


def show_revert(console: Console, plan: RevertPlan, *, dry_run: bool) -> None:
    """The revert plan as `plan` shows a plan: counts first, then what is only listed and why, then samples."""
    from activate.cli.console import JsonConsole

    if isinstance(console, JsonConsole):
        console.emit("revert_plan", {**plan.to_dict(), "dry_run": dry_run})
        return
    from rich.markup import escape

    for line in revert_lines(plan, dry_run=dry_run):
        console.message(escape(line))


def revert_lines(plan: RevertPlan, *, dry_run: bool) -> list[str]:
    """The revert plan for a person, one line each (no markup: keys and values are user data)."""
    from activate.program import command
    from activate.revert import LISTED_REASONS

    started = f"{plan.run_started_at:%Y-%m-%d %H:%M:%S}"
    lines = [
        f"{'Revert plan' if dry_run else 'Reverting'} run {plan.run_id} of {plan.sync_name} (mode {plan.mode}, "
        f"run started {started})"
    ]
    fields = ", ".join(f"{name} {count}" for name, count in sorted(plan.restored_fields.items()))
    lines.append(f"  restore {len(plan.restore)} rows" + (f" (fields: {fields})" if fields else ""))
    lines.append(f"  delete {len(plan.delete)} created records")
    if plan.recreate:
        lines.append(f"  re-create {len(plan.recreate)} deleted records")
    lines.append(f"  listed {len(plan.listed)} (not written)")
    keys: dict[str, list[str]] = {}
    for row in plan.listed:
        keys.setdefault(row.reason, []).append(row.row_key)
    for reason, found in keys.items():
        shown = ", ".join(found[:LISTED_KEYS_SHOWN]) + (" ..." if len(found) > LISTED_KEYS_SHOWN else "")
        lines.append(f"    {len(found)} {LISTED_REASONS[reason]}: {shown}")
    lines.append(f"  ≈{plan.api_calls} API calls" if plan.writes else "  nothing to write")
    lines += [f"  note: {note}" for note in plan.notes]
    for kind, items in plan.samples.items():
        for item in items:
            lines.append(f"  sample {kind} {item['key']}: {_sample_text(item)}")
    if dry_run:
        lines.append(
            f"Dry run: nothing was written. Apply it with `{command('revert ' + plan.run_id + ' --yes')}` "
            "(add --hold to keep the sync from re-applying it until `resume`)."
        )
    return lines


def _sample_text(item: dict[str, Any]) -> str:
    if "changes" in item:
        return ", ".join(f"{name} {_value(c['old'])} → {_value(c['new'])}" for name, c in item["changes"].items())
    if "fields" in item:
        return json.dumps(item["fields"], default=str, ensure_ascii=False)[:160]
    return f"delete {item.get('destination_id') or ''}".strip()


def _value(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
