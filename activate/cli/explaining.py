"""`activate explain SYNC KEY`: one row's source values, stored state, every result it had, and what the next run
does with it and why (`activate.explain.explain_row` decides; this module only shows it)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from activate.cli.options import JsonFlag, ProjectDir, Target

if TYPE_CHECKING:
    from rich.console import Console as RichOut

    from activate.explain import RowExplanation

STATUS_STYLE = {"succeeded": "green", "failed": "yellow", "rejected": "red", "skipped": "dim"}


def explain(
    sync: Annotated[str, typer.Argument(metavar="SYNC", help="Sync name.")],
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="The row's primary key (a composite key as JSON: '[1,\"eu\"]').")
    ],
    project_dir: ProjectDir = None,
    target: Target = None,
    json_output: JsonFlag = False,
) -> None:
    """One row: its source values, stored state, every result across runs, and what the next run does and why."""
    from activate.cli.console import make_console

    console = make_console(json_output)
    try:
        from activate.config import load_project
        from activate.explain import explain_row
        from activate.state.reader import StateReader

        project = load_project(project_dir, target=target)
        console.use_target(project.target)
        reader = StateReader(project.spec.state.url, project_root=project.root)
        try:
            console.explanation(explain_row(project, sync, key, reader))
        finally:
            reader.dispose()
    finally:
        console.close()


def render_explanation(out: RichOut, e: RowExplanation) -> None:
    """The explanation for a person: the verdict first, then the evidence."""
    from rich.markup import escape
    from rich.table import Table

    out.print(f"[bold]{escape(e.sync)}[/] row [bold]{escape(e.key)}[/]")
    action = e.next.action
    style = "green" if action == "none" else "red" if action == "reject" else "cyan"
    out.print(f"  next run: [{style}]{action}[/] — {escape(e.next.reason)}")
    for note in e.next.notes:
        out.print(f"  [cyan]note:[/] {escape(note)}")
    if e.next.fields is not None:
        out.print(f"  would send: {escape(json.dumps(e.next.fields, default=str, ensure_ascii=False))}")
    source = e.source
    if source.found:
        out.print(f"  source ({source.lookup}): hash {source.row_hash}")
        for row in source.rows:
            out.print(f"    {escape(json.dumps(row, default=str, ensure_ascii=False))}")
        if source.invalid_reason:
            out.print(f"    [red]cannot be sent:[/] {escape(source.invalid_reason)}")
    else:
        out.print(f"  source ({source.lookup}): [dim]no row with this key[/]")
    if e.state is not None:
        current = "" if e.config_current else " (under an earlier configuration of the sync)"
        out.print(
            f"  state: hash {e.state.row_hash}, destination id {e.state.destination_id or '-'}, "
            f"last synced by run {e.state.last_run_id} at {_when(e.state.synced_at)}{current}"
        )
    else:
        out.print("  state: [dim]not synced (no confirmed write of this row)[/]")
    if e.rejection is not None:
        verdict = "held back until its data changes" if e.held_back else "its data changed since"
        out.print(
            f"  rejected: {e.rejection.error_code or 'no code'} in run {e.rejection.run_id} at "
            f"{_when(e.rejection.rejected_at)}; {verdict}"
        )
    if not e.history:
        out.print("  history: [dim]no run has touched this row[/]")
        return
    table = Table("run_id", "started", "run", "operation", "status", "destination_id", "error", title="history")
    for h in e.history:
        error = " ".join(x for x in (h.error_code, h.error_message) if x)
        style = STATUS_STYLE.get(h.status, "")
        table.add_row(
            h.run_id,
            _when(h.started_at),
            h.run_status,
            h.operation,
            f"[{style}]{h.status}[/]",
            h.destination_id or "",
            escape(error),
        )
    out.print(table)


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else "-"
