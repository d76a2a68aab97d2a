"""Consoles: how the CLI shows plans, runs and audits. Core code never prints; it reports to a console.

`RichConsole` draws tables and a progress bar on a terminal; `JsonConsole` writes one JSON object per line for
machines (`--json`). Both implement the engine's RunObserver.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from activate.engine import RunSummary
    from activate.plan.plan import Plan

STATUS_STYLE = {
    "succeeded": "green",
    "partial": "yellow",
    "failed": "red",
    "aborted": "red",
    "running": "cyan",
    "rejected": "red",
    "skipped": "dim",
}


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


class JsonConsole:
    """One JSON object per line on stdout."""

    def emit(self, kind: str, data: Any) -> None:
        sys.stdout.write(
            json.dumps({"type": kind, **(data if isinstance(data, dict) else {"data": data})}, default=_default) + "\n"
        )
        sys.stdout.flush()

    def on_plan(self, plan: Plan) -> None:
        self.emit("plan", plan.to_dict())

    def on_progress(self, done: int, total: int) -> None:
        return None

    def plan(self, plan: Plan) -> None:
        self.on_plan(plan)

    def summary(self, summary: RunSummary) -> None:
        self.emit("run", summary.to_dict())

    def runs(self, runs: Sequence[dict[str, Any]]) -> None:
        for run in runs:
            self.emit("run", run)

    def rows(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self.emit("row", row)

    def message(self, text: str) -> None:
        self.emit("message", {"message": text})

    def error(self, text: str) -> None:
        sys.stderr.write(json.dumps({"type": "error", "error": text}) + "\n")

    def warning(self, text: str) -> None:
        self.emit("warning", {"warning": text})

    def close(self) -> None:
        return None


class RichConsole:
    """Tables and a progress bar for people."""

    def __init__(self) -> None:
        from rich.console import Console

        # piped output (CI logs, `| less`) gets room for the audit tables instead of Rich's 80-column default
        self.out = Console(width=None if sys.stdout.isatty() else 160)
        self.err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def on_plan(self, plan: Plan) -> None:
        self.plan(plan, dry_run=False)

    def on_progress(self, done: int, total: int) -> None:
        if total < 1000 or not self.out.is_terminal:
            return
        from rich.progress import Progress

        if self._progress is None:
            self._progress = Progress(console=self.out, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("writing", total=total)
        assert self._task is not None
        self._progress.update(self._task, completed=done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def plan(self, plan: Plan, dry_run: bool = True) -> None:
        from rich.table import Table

        c = plan.counts
        title = f"{'Plan' if dry_run else 'Run'} for [bold]{plan.sync_name}[/] (mode {plan.mode})"
        self.out.print(title)
        self.out.print(
            f"  read {c.rows_read}: [green]+{c.added} added[/]  [yellow]~{c.changed} changed[/]  "
            f"[red]-{c.removed} removed[/]  {c.unchanged} unchanged"
            + (f"  [red]{c.invalid} invalid[/]" if c.invalid else "")
            + (f"  {c.held_back} held back" if c.held_back else "")
        )
        ops = ", ".join(f"{n} {k}" for k, n in plan.operations.items()) or "nothing to send"
        self.out.print(f"  operations: {ops}")
        for note in plan.notes:
            self.out.print(f"  [cyan]note:[/] {note}")
        for verdict in plan.verdicts:
            mark = "[red]TRIPPED[/]" if verdict.tripped else "[green]ok[/]"
            self.out.print(f"  guardrail {verdict.name}: {mark} {verdict.message}")
        if dry_run and plan.samples:
            table = Table("kind", "key", "operation", "payload", title="sample payloads", title_justify="left")
            for kind, items in plan.samples.items():
                for item in items:
                    payload = item.get("fields", item.get("error", ""))
                    table.add_row(kind, item["key"], item["operation"], json.dumps(payload, default=str)[:120])
            self.out.print(table)

    def summary(self, summary: RunSummary) -> None:
        self.close()
        style = STATUS_STYLE.get(summary.status, "")
        self.out.print(
            f"[bold]{summary.sync_name}[/] run {summary.run_id}: [{style}]{summary.status}[/]  "
            f"{summary.rows_succeeded} succeeded, {summary.rows_failed} failed, {summary.rows_rejected} rejected, "
            f"{summary.rows_skipped} skipped; {summary.api_calls} API calls"
            + (f", {summary.throttled_seconds:.1f}s throttled" if summary.throttled_seconds else "")
        )
        if summary.error:
            self.out.print(f"  [{style}]{summary.error}[/]")

    def runs(self, runs: Sequence[dict[str, Any]]) -> None:
        from rich.table import Table

        table = Table(
            "run_id", "sync", "status", "started", "read", "+", "~", "-", "ok", "failed", "rejected", "calls", "error"
        )
        for r in runs:
            style = STATUS_STYLE.get(r["status"], "")
            table.add_row(
                r["run_id"],
                r["sync_name"],
                f"[{style}]{r['status']}[/]",
                f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                str(r["rows_read"]),
                str(r["rows_added"]),
                str(r["rows_changed"]),
                str(r["rows_removed"]),
                str(r["rows_succeeded"]),
                str(r["rows_failed"]),
                str(r["rows_rejected"]),
                str(r["api_calls"]),
                (r["error"] or "")[:60],
            )
        self.out.print(table)

    def rows(self, rows: Sequence[dict[str, Any]]) -> None:
        from rich.table import Table

        table = Table("row_key", "operation", "status", "destination_id", "error_code", "error_message", "attempts")
        for r in rows:
            style = STATUS_STYLE.get(r["status"], "")
            table.add_row(
                str(r["row_key"]),
                r["operation"],
                f"[{style}]{r['status']}[/]",
                r["destination_id"] or "",
                r["error_code"] or "",
                (r["error_message"] or "")[:80],
                str(r["attempts"]),
            )
        self.out.print(table)

    def message(self, text: str) -> None:
        self.out.print(text)

    def warning(self, text: str) -> None:
        from rich.markup import escape

        self.err.print(f"[bold yellow]Warning:[/] {escape(text)}", soft_wrap=True)

    def error(self, text: str) -> None:
        self.close()
        from rich.markup import escape

        lines = text.splitlines() or [text]
        # soft_wrap: an error is one line however long (a log collector or `grep` sees it whole)
        self.err.print(f"[bold red]Error:[/] {escape(lines[0])}", soft_wrap=True)
        for line in lines[1:]:
            self.err.print(f"  {escape(line)}", soft_wrap=True)


Console = JsonConsole | RichConsole


def make_console(json_output: bool) -> Console:
    """The command's console; also the one the error boundary reports through (`boundary.current_console`)."""
    from activate.cli.boundary import current_console

    console: Console = JsonConsole() if json_output else RichConsole()
    current_console.set(console)
    return console
