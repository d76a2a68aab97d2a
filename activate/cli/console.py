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

import simplejson

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from activate.engine import RunSummary
    from activate.explain import RowExplanation
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
    """One JSON object per line on stdout; each names the target when the project has one."""

    def __init__(self) -> None:
        self.target: str | None = None

    def use_target(self, target: str | None) -> None:
        """Every object written from now on carries `"target"`."""
        self.target = target

    def emit(self, kind: str, data: Any) -> None:
        body = data if isinstance(data, dict) else {"data": data}
        head: dict[str, Any] = {"type": kind}
        if self.target is not None:
            head["target"] = self.target
        # simplejson writes a Decimal as its exact number (a field's old and new values keep every digit)
        text = simplejson.dumps({**head, **body}, default=_default, use_decimal=True, namedtuple_as_object=False)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def on_plan(self, plan: Plan) -> None:
        self.emit("plan", plan.to_dict())

    def on_progress(self, done: int, total: int) -> None:
        return None

    def plan(self, plan: Plan) -> None:
        self.on_plan(plan)

    def plans(self, plans: Sequence[Plan], *, diff: bool = False) -> None:
        """Each plan as data; its samples (and `--key` rows) always carry their changes, `diff` or not."""
        for plan in plans:
            self.on_plan(plan)

    def explanation(self, explanation: RowExplanation) -> None:
        self.emit("explain", explanation.to_dict())

    def summary(self, summary: RunSummary) -> None:
        self.emit("run", summary.to_dict())
        if summary.error and summary.status in ("failed", "aborted"):
            self.error(summary.error)

    def runs(self, runs: Sequence[dict[str, Any]]) -> None:
        for run in runs:
            self.emit("run", run)

    def rows(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self.emit("row", row)

    def row_changes(self, rows: Sequence[dict[str, Any]]) -> None:
        """`rows RUN --diff --json`: one `row_changes` object per row result (`activate.cli.audit.row_changes`)."""
        for row in rows:
            self.emit("row_changes", row)

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
        self.target: str | None = None

    def use_target(self, target: str | None) -> None:
        """Name the target once, before the command's output."""
        self.target = target
        if target is not None:
            self.out.print(f"[dim]target:[/] [bold]{target}[/]")

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

    def plan(self, plan: Plan, dry_run: bool = True, *, diff: bool = False) -> None:
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
        self.out.print(f"  operations: {ops}" + (f" (≈{plan.api_calls} API calls)" if plan.api_calls else ""))
        if plan.associations is not None:
            links = plan.associations
            self.out.print(f"  associations: {links['create']} to create, {links['remove']} to remove")
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
            for link in (plan.associations or {}).get("sample", []):
                table.add_row("link", link["key"], link["operation"], f"{link['to']} {link['target_key']}")
            self.out.print(table)
        if dry_run and diff:
            self._sample_changes(plan)
        if dry_run and plan.key_samples:
            self._key_changes(plan)

    def _sample_changes(self, plan: Plan) -> None:
        """`plan --diff`: each sample changed row's changed fields, old → new."""
        from rich.markup import escape

        changed = plan.samples.get("changed", []) + plan.samples.get("removed", [])
        if not any("changes" in item for item in changed):
            return
        self.out.print("  changes in sample rows (old → new):")
        for item in changed:
            if "changes" in item:
                self.out.print(f"    [bold]{escape(item['key'])}[/] ({item['operation']})")
                self._changes(item, "      ")

    def _key_changes(self, plan: Plan) -> None:
        """`plan --key K`: each chosen row, what the run does with it and its changed fields, old → new."""
        from rich.markup import escape

        for item in plan.key_samples:
            if "operation" not in item:  # a row the run does not touch: the note says why
                self.out.print(f"  row [bold]{escape(item['key'])}[/]: {escape(item['note'])}", soft_wrap=True)
                continue
            self.out.print(f"  row [bold]{escape(item['key'])}[/]: {item['kind']} ({item['operation']})")
            if item["kind"] == "added" and "fields" in item:
                self.out.print(f"    creates: {escape(_shown(item['fields']))}")
            self._changes(item, "    ")

    def _changes(self, item: dict[str, Any], indent: str) -> None:
        from rich.markup import escape

        if "note" in item:
            self.out.print(f"{indent}[dim]{escape(item['note'])}[/]")
        if "error" in item:
            self.out.print(f"{indent}[red]{escape(item['error'])}[/]")
        for line in change_lines(item.get("changes") or {}):
            self.out.print(f"{indent}{escape(line)}", soft_wrap=True)

    def plans(self, plans: Sequence[Plan], *, diff: bool = False) -> None:
        """One plan: its details. Several: a summary table, one line per sync, then each plan's details."""
        if len(plans) > 1:
            self.out.print(plan_table(plans))
        for plan in plans:
            self.plan(plan, diff=diff)

    def explanation(self, explanation: RowExplanation) -> None:
        from activate.cli.explaining import render_explanation

        render_explanation(self.out, explanation)

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
            # a run that failed or was stopped says why on stderr (one line), where cron and CI look for it
            stream = self.err if summary.status in ("failed", "aborted") else self.out
            stream.print(f"  [{style}]{summary.error}[/]", soft_wrap=True)

    def runs(self, runs: Sequence[dict[str, Any]]) -> None:
        from rich.table import Table

        table = Table()
        # the run id is what `rows` and `explain` take: never truncated or wrapped, whatever the terminal width
        width = max((len(r["run_id"]) for r in runs), default=6)
        table.add_column("run_id", no_wrap=True, min_width=width)
        for column in ("sync", "status", "started"):
            table.add_column(column)
        for column in ("read", "+", "~", "-", "ok", "failed", "rejected", "calls"):
            table.add_column(column, justify="right")
        targets = any(r.get("target") for r in runs)
        approvals = any(r.get("approved_by") for r in runs)
        if targets:
            table.add_column("target")
        if approvals:
            table.add_column("approval", overflow="fold")
        table.add_column("error", overflow="fold")
        for r in runs:
            style = STATUS_STYLE.get(r["status"], "")
            cells = [
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
            ]
            if targets:
                cells.append(r.get("target") or "")
            if approvals:
                cells.append(approval_text(r))
            cells.append((r["error"] or "")[:200])
            table.add_row(*cells)
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

    def row_changes(self, rows: Sequence[dict[str, Any]]) -> None:
        """`rows RUN --diff`: each row result with its changed fields, old → new."""
        from rich.markup import escape
        from rich.table import Table

        table = Table("row_key", "operation", "status", "changes (old → new)")
        for r in rows:
            style = STATUS_STYLE.get(r["status"], "")
            lines = change_lines(r["changes"])
            if r["created"]:
                lines.insert(0, "created by this run")
            elif not lines and r.get("note"):
                lines.append(r["note"])
            table.add_row(escape(str(r["key"])), r["operation"], f"[{style}]{r['status']}[/]", escape("\n".join(lines)))
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


def change_lines(changes: dict[str, dict[str, Any]]) -> list[str]:
    """`field: old → new`, one line per field, values as JSON (`null` a cleared field); an old value not recorded
    (the row was synced before field-level state) shows as `?`."""
    return [
        f"{name}: {_shown(change['old']) if 'old' in change else '?'} → {_shown(change.get('new'))}"
        for name, change in sorted(changes.items())
    ]


def _shown(value: Any) -> str:
    from activate.destinations.encoding import dumps_exact

    return dumps_exact(value)


def approval_text(run: dict[str, Any]) -> str:
    """`up to 100 deletes approved by alice: cleanup after the CRM migration`, or '' for a run nobody approved."""
    if not run.get("approved_by") and run.get("approved_deletes") is None:
        return ""
    text = f"up to {run.get('approved_deletes')} deletes approved by {run.get('approved_by') or 'unknown'}"
    return text + (f": {run['approval_reason']}" if run.get("approval_reason") else "")


def plan_table(plans: Sequence[Plan]) -> Any:
    """The summary of several plans: counts, expected API calls and guardrail verdicts, one line per sync."""
    from rich.table import Table

    table = Table(title="plan", title_justify="left")
    for column in ("sync", "mode", "+added", "~changed", "-removed", "unchanged", "held back", "API calls"):
        table.add_column(column, justify="left" if column in ("sync", "mode") else "right")
    table.add_column("guardrails")
    for plan in plans:
        c = plan.counts
        tripped = [v.name for v in plan.tripped]
        verdict = f"[red]TRIPPED {', '.join(tripped)}[/]" if tripped else "[green]ok[/]"
        table.add_row(
            plan.sync_name,
            plan.mode,
            str(c.added),
            str(c.changed),
            str(c.removed),
            str(c.unchanged),
            str(c.held_back),
            str(plan.api_calls),
            verdict,
        )
    return table


Console = JsonConsole | RichConsole


def make_console(json_output: bool) -> Console:
    """The command's console; also the one the error boundary reports through (`boundary.current_console`)."""
    from activate.cli.boundary import current_console

    console: Console = JsonConsole() if json_output else RichConsole()
    current_console.set(console)
    return console
