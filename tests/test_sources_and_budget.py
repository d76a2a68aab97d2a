"""The rest of the core's edges end to end: SQLite as a warehouse, a failing query, and a daily API budget that
stops a run as `partial` and lets the next day's run finish the pending rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from activate.clock import FakeClock
from activate.http.caller import forget_callers
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget


@pytest.fixture
def target(tmp_path: Path) -> Iterator[WebhookConformanceTarget]:
    target = WebhookConformanceTarget()
    target.start(tmp_path)
    yield target
    target.stop()


def test_sqlite_warehouse_syncs(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    project = ScratchProject(tmp_path / "p")
    with sqlite3.connect(tmp_path / "p" / "shop.sqlite") as db:
        db.execute("create table people (id integer primary key, email text, first_name text)")
        db.executemany("insert into people values (?, ?, ?)", [(i, f"p{i}@x.io", f"F{i}") for i in range(1, 31)])
    project.connections["warehouse"] = {"type": "sqlite", "path": "shop.sqlite"}
    project.add_connection("hooks", target.connection())
    project.add_sync("people_hook", {"connection": "hooks", **target.destination("mirror")})
    result = project.run("people_hook")
    assert (result.status, result.rows_succeeded) == ("succeeded", 30)
    assert target.records()["7"]["email"] == "p7@x.io"


def test_a_failing_query_fails_the_run_naming_the_sync_and_the_database_message(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = ScratchProject(tmp_path / "p")
    project.people(3)
    project.add_connection("hooks", target.connection())
    project.add_sync(
        "people_hook", {"connection": "hooks", **target.destination("upsert")}, query="select * from peeple"
    )
    result = project.run("people_hook")
    assert (result.status, result.exit_code) == ("failed", 1)
    assert "sync 'people_hook': the query failed" in result.error
    assert "peeple" in result.error
    assert target.write_calls() == 0


def test_daily_budget_stops_the_run_partial_and_the_next_day_finishes(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    forget_callers()
    project = ScratchProject(tmp_path / "p")
    project.people(100)
    connection = target.connection()
    connection["rate_limit"] = {**connection["rate_limit"], "daily_budget": 5, "max_concurrency": 1}
    project.add_connection("hooks", connection)
    project.add_sync("people_hook", {"connection": "hooks", **target.destination("upsert")})  # 10 rows a batch
    target.sim.quota(1_000_000, used=999_000)
    clock = FakeClock()
    first = project.run("people_hook", clock=clock)
    assert (first.status, first.exit_code) == ("partial", 3)
    assert first.rows_succeeded == 50
    assert first.api_calls == 5
    assert "daily_budget" in first.error
    assert "pending" in first.error
    assert len(project.reader().row_results(first.run_id)) == 50, "unsent rows are not recorded as failed"

    clock.advance(timedelta(days=1).total_seconds())
    second = project.run("people_hook", clock=clock)
    assert (second.status, second.rows_added, second.rows_succeeded) == ("succeeded", 50, 50)  # 5 calls: the budget
    clock.advance(timedelta(days=1).total_seconds())
    assert project.run("people_hook", clock=clock).rows_succeeded == 0
    assert len(target.records()) == 100
    forget_callers()
