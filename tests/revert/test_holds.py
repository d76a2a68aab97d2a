"""Holds (`revert --hold`) in the state store: migration v6 on a store made by an earlier activate, a hold placed and
released, and a reader of a store no writer migrated yet."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from activate.state import schema
from activate.state.migrations import LATEST, current_version
from activate.state.reader import StateReader
from activate.state.store import StateStore


def _url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'state.duckdb'}"


def test_v6_migrates_a_v5_store_and_holds_round_trip(tmp_path: Path) -> None:
    url = _url(tmp_path)
    store = StateStore(url)
    with store.transaction() as conn:  # back to what a v5 activate left: no holds table, no reverted_run_id
        conn.exec_driver_sql("DROP TABLE activate_holds")
        # (DuckDB drops no column of an indexed table: the table is rebuilt without it)
        conn.exec_driver_sql("CREATE TABLE runs_v5 AS SELECT * EXCLUDE (reverted_run_id) FROM activate_runs")
        conn.exec_driver_sql("DROP TABLE activate_runs")
        conn.exec_driver_sql("ALTER TABLE runs_v5 RENAME TO activate_runs")
        conn.exec_driver_sql("DELETE FROM activate_schema_version WHERE version = 6")
    store.dispose()

    reader = StateReader(url)
    assert reader.hold("s") is None, "a reader of an unmigrated store finds no hold (and no error)"
    reader.dispose()

    store = StateStore(url)
    try:
        with store.connect() as conn:
            assert current_version(conn) == LATEST == 6
            assert "reverted_run_id" in set(conn.execute(sa.select(schema.runs).limit(0)).keys())
        now = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
        store.hold_sync("s", "R2", "R1", "alice", now)
        hold = store.hold("s")
        assert hold is not None
        assert (hold.run_id, hold.reverted_run_id, hold.held_by) == ("R2", "R1", "alice")
        assert hold.describe().startswith(
            "sync 's' is held since the revert of run R1 at 2026-12-06 04:00:00 UTC by alice; release it with: "
        )
        assert set(store.holds()) == {"s"}
        assert store.release_hold("s") is True
        assert store.release_hold("s") is False
        assert store.hold("s") is None
    finally:
        store.dispose()
