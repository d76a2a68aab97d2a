"""The pages of `activate ui`, rendered with Jinja2 (autoescaped) from the read-only queries.

Each function takes the request's parameters and returns HTML; `NotFound` becomes a 404 page. Nothing here writes:
the state store is reached only through a `StateReader`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jinja2

from activate.ui import charts, queries

if TYPE_CHECKING:
    from activate.clock import Clock
    from activate.config import Project
    from activate.explain import RowExplanation
    from activate.state.reader import StateReader
    from activate.state.records import RejectionRecord, SyncedRowRecord

COLORS = {"succeeded": "#2da44e", "failed": "#cf222e", "rejected": "#bc4c00", "skipped": "#8c959f"}


class NotFound(Exception):
    """The page names a sync, run or row the store does not know."""


@dataclass(frozen=True)
class OverviewLine:
    """One sync on the overview."""

    sync: str
    destination: str
    schedule: str | None
    last_status: str | None
    last_started_at: str | None
    next_run_at: str | None
    freshness: str
    overdue: bool


def environment() -> jinja2.Environment:
    """Templates from the package (shipped in the wheel), autoescaped: every value from the store is text."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("activate.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = _when
    return env


class Pages:
    """Renders every page of the audit for one project and its state store."""

    def __init__(self, project: Project, reader: StateReader, clock: Clock, *, command: str) -> None:
        self.project = project
        self.reader = reader
        self.clock = clock
        self.command = command
        self.env = environment()
        url = _masked_url(reader.url)
        self.base: dict[str, Any] = {"project_name": project.root.name, "target": project.target, "state_label": url}

    def _render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**self.base, **context)

    def overview(self) -> str:
        from activate.cli.ops import sync_statuses

        lines = []
        for status in sync_statuses(self.project, self.clock):
            destination = self.project.sync(status.sync).spec.destination
            lines.append(
                OverviewLine(
                    sync=status.sync,
                    destination=f"{destination.connection} · {destination.object}",
                    schedule=status.schedule,
                    last_status=status.last_status,
                    last_started_at=_when(status.last_started_at) if status.last_started_at else None,
                    next_run_at=_when(status.next_run_at) if status.next_run_at else None,
                    freshness=_ago(status.freshness_seconds),
                    overdue=status.overdue,
                )
            )
        orphans = [name for name in queries.sync_names(self.reader) if name not in self.project.syncs]
        return self._render("overview.html", syncs=lines, orphans=orphans)

    def sync(self, name: str) -> str:
        history = queries.run_history(self.reader, name)
        if name not in self.project.syncs and not history:
            raise NotFound(f"no sync named '{name}' in this project or its state store")
        labels = [p.started_at.strftime("%m-%d %H:%M") for p in history]
        sent = [
            charts.Series(status, COLORS[status], [float(getattr(p, status)) for p in history])
            for status in ("succeeded", "failed", "rejected", "skipped")
        ]
        plots = [
            charts.stacked_columns("Rows sent, by status", labels, sent),
            charts.line("API calls", labels, [float(p.api_calls) for p in history], "#0969da"),
            charts.line("Throttled", labels, [p.throttled_seconds for p in history], "#9a6700", " s"),
            charts.line("Duration", labels, [p.duration_seconds or 0.0 for p in history], "#8250df", " s"),
        ]
        description = ""
        if name in self.project.syncs:
            spec = self.project.sync(name).spec
            description = (
                f"{spec.destination.mode} into {spec.destination.connection} · {spec.destination.object}; "
                f"schedule {spec.schedule or 'none'}"
            )
        return self._render(
            "sync.html", sync=name, description=description, charts=plots, runs=history[::-1], command=self.command
        )

    def run(self, run_id: str, *, status: str | None, code: str | None, key: str | None, page: int) -> str:
        run = self.reader.run(run_id)
        if run is None:
            raise NotFound(f"no run '{run_id}' in the state store")
        rows = queries.row_page(self.reader, run["run_id"], status=status, error_code=code, key=key, page=page)

        def query(number: int) -> str:
            chosen = {"status": status, "code": code, "key": key, "page": number}
            return urlencode({k: v for k, v in chosen.items() if v})

        return self._render(
            "run.html",
            run=run,
            page=rows,
            all_count=sum(rows.by_status.values()),
            status=status,
            code=code,
            key=key,
            query=query,
        )

    def row(self, sync: str, key: str) -> str:
        """The row's story: `activate explain` for a sync of the project, the stored history otherwise."""
        from activate.errors import ActivateError
        from activate.explain import explain_row

        if sync in self.project.syncs:
            try:
                explained = explain_row(self.project, sync, key, self.reader)
            except ActivateError as exc:  # warehouse unreachable, state: warehouse: the stored story still shows
                note = f"The source and the next run cannot be shown: {exc}"
            else:
                sections = _explained(explained)
                return self._render(
                    "row.html", sync=sync, key=explained.key, explained=sections, history=explained.history, note=None
                )
        else:
            note = "This sync is no longer in the project: its stored history only."
        history = self.reader.row_history(sync, key)
        if sync not in self.project.syncs and not history:
            raise NotFound(f"no sync named '{sync}' in this project or its state store")
        state, rejection = self.reader.synced_row(sync, key), self.reader.rejection(sync, key)
        return self._render(
            "row.html", sync=sync, key=key, explained=_stored(state, rejection), history=history, note=note
        )

    def error(self, status: str, message: str) -> str:
        return self._render("error.html", status=status, message=message)


def _explained(explained: RowExplanation) -> list[dict[str, Any]]:
    """`activate explain`'s record as the page's sections."""
    source = explained.source
    values = source.rows[0] if source.rows else {}
    nxt = explained.next
    return [
        {
            "title": "Next run",
            "entries": [("action", nxt.action), ("why", nxt.reason)]
            + [("note", note) for note in nxt.notes]
            + [(f"sends {name}", value) for name, value in (nxt.fields or {}).items()],
            "empty": "",
        },
        {
            "title": f"Source ({source.lookup})",
            "entries": [(str(name), value) for name, value in values.items()]
            + ([("duplicates", f"{len(source.rows)} rows carry this key")] if len(source.rows) > 1 else [])
            + ([("cannot be sent", source.invalid_reason)] if source.invalid_reason else []),
            "empty": "Not in the source: the sync's query returns no row with this key.",
        },
    ] + _stored(explained.state, explained.rejection if explained.held_back else None)


def _stored(state: SyncedRowRecord | None, rejection: RejectionRecord | None) -> list[dict[str, Any]]:
    """The stored state and the hold, when the source cannot be read (or the sync left the project)."""
    return [
        {
            "title": "Stored state",
            "entries": [
                ("row hash", state.row_hash),
                ("destination id", state.destination_id or "—"),
                ("last synced run", state.last_run_id),
                ("synced at", _when(state.synced_at)),
            ]
            if state
            else [],
            "empty": "Not synced: the destination holds no record of this row from this sync.",
        },
        {
            "title": "Held back",
            "entries": [
                ("rejected in run", rejection.run_id),
                ("error code", rejection.error_code or "—"),
                ("since", _when(rejection.rejected_at)),
            ]
            if rejection
            else [],
            "empty": "Not held back.",
        },
    ]


def _when(value: datetime | str | None) -> str:
    """A timestamp to the second, in UTC, as a person reads it."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _masked_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _ago(seconds: float | None) -> str:
    return "never" if seconds is None else f"{timedelta(seconds=round(seconds))} ago"
