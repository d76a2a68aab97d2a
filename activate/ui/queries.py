"""The read-only queries behind `activate ui`, over a `StateReader`'s connection.

Everything here reads the public state tables (DESIGN §4) with SQLAlchemy Core, so one code path serves DuckDB and
Postgres state stores. The reader opens a DuckDB state file read-only, so a page cannot write by construction.
A run page stays fast on a 1M-row run: it counts and pages with the filters pushed into SQL (no Python per row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from activate.state import schema

if TYPE_CHECKING:
    from activate.state.reader import StateReader

PER_PAGE = 50


@dataclass(frozen=True)
class RunPoint:
    """One run of a sync, as the history table and its plots show it."""

    run_id: str
    status: str
    trigger: str
    started_at: datetime
    duration_seconds: float | None
    rows_read: int
    succeeded: int
    failed: int
    rejected: int
    skipped: int
    api_calls: int
    throttled_seconds: float
    error: str | None


@dataclass(frozen=True)
class RowPage:
    """One page of a run's row results, with the counts that drive the filters."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    by_status: dict[str, int]
    by_error_code: dict[str, int]


def _exists(reader: StateReader, conn: sa.Connection) -> bool:
    return sa.inspect(conn).has_table(schema.runs.name)


def sync_names(reader: StateReader) -> list[str]:
    """Every sync that has a run in the store (a sync removed from the project still has its history)."""
    t = schema.runs
    with reader.connect() as conn:
        if not _exists(reader, conn):
            return []
        return [r[0] for r in conn.execute(sa.select(t.c.sync_name).distinct().order_by(t.c.sync_name))]


def run_history(reader: StateReader, sync_name: str, limit: int = 200) -> list[RunPoint]:
    """The sync's last `limit` runs, oldest first (the order a time axis wants)."""
    t = schema.runs
    statement = sa.select(t).where(t.c.sync_name == sync_name).order_by(t.c.started_at.desc()).limit(limit)
    with reader.connect() as conn:
        if not _exists(reader, conn):
            return []
        rows = [r._mapping for r in conn.execute(statement)]
    points = [
        RunPoint(
            run_id=r["run_id"],
            status=r["status"],
            trigger=r["trigger"],
            started_at=r["started_at"],
            duration_seconds=(r["finished_at"] - r["started_at"]).total_seconds() if r["finished_at"] else None,
            rows_read=int(r["rows_read"] or 0),
            succeeded=int(r["rows_succeeded"] or 0),
            failed=int(r["rows_failed"] or 0),
            rejected=int(r["rows_rejected"] or 0),
            skipped=int(r["rows_skipped"] or 0),
            api_calls=int(r["api_calls"] or 0),
            throttled_seconds=float(r["throttled_seconds"] or 0.0),
            error=r["error"],
        )
        for r in rows
    ]
    return points[::-1]


def row_page(
    reader: StateReader,
    run_id: str,
    *,
    status: str | None = None,
    error_code: str | None = None,
    key: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> RowPage:
    """One page of a run's row results, filtered by status, error code and key (a substring of the key)."""
    t = schema.row_results
    run_filter = t.c.run_id == run_id
    filters = [run_filter]
    if status:
        filters.append(t.c.status == status)
    if error_code:
        filters.append(t.c.error_code == error_code)
    if key:
        filters.append(t.c.row_key.contains(key, autoescape=True))
    with reader.connect() as conn:
        total = int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*filters)).scalar() or 0)
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(t)
                .where(*filters)
                .order_by(t.c.recorded_at, t.c.row_key)
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
        ]
        by_status = {
            str(s): int(n)
            for s, n in conn.execute(
                sa.select(t.c.status, sa.func.count()).where(run_filter).group_by(t.c.status).order_by(t.c.status)
            )
        }
        codes = conn.execute(
            sa.select(t.c.error_code, sa.func.count().label("n"))
            .where(run_filter, t.c.error_code.is_not(None))
            .group_by(t.c.error_code)
            .order_by(sa.desc("n"), t.c.error_code)
            .limit(20)
        )
        by_error_code = {str(c): int(n) for c, n in codes}
    return RowPage(rows, total, page, pages, by_status, by_error_code)
