"""The state store on DuckDB and Postgres: migrations, leases, per-batch recording, read-only reader."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activate.errors import LockHeldError
from activate.rows import Operation, RowResult
from activate.state.migrations import LATEST, current_version
from activate.state.store import RecordedBatch, StateReader, StateStore, lock_holder_name

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture(params=["duckdb", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'state.duckdb'}"
    else:
        yield request.getfixturevalue("postgres_url")


def test_migrations_are_idempotent(state_url: str) -> None:
    StateStore(state_url)
    store = StateStore(state_url)
    with store.connect() as conn:
        assert current_version(conn) == LATEST


def test_a_held_lock_names_its_run_and_an_expired_one_is_taken_over(state_url: str) -> None:
    store = StateStore(state_url)
    store.start_run("run-a", "s", "manual", NOW, "cfg")
    store.acquire_lock("s", "run-a", "elsewhere:1", NOW, LEASE)
    with pytest.raises(LockHeldError, match="run-a"):
        store.acquire_lock("s", "run-b", "elsewhere:2", NOW + timedelta(seconds=10), LEASE)
    store.acquire_lock("s", "run-b", "elsewhere:2", NOW + timedelta(seconds=61), LEASE)
    assert store.lock_holder("s")["run_id"] == "run-b"
    assert store.run("run-a")["status"] == "aborted"


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_at_once(state_url: str) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = lock_holder_name().rpartition(":")[0]
    store = StateStore(state_url)
    store.acquire_lock("s", "run-a", f"{host}:{dead.stdout.strip()}", NOW, LEASE)
    store.acquire_lock("s", "run-b", lock_holder_name(), NOW + timedelta(seconds=1), LEASE)
    assert store.lock_holder("s")["run_id"] == "run-b"


def test_heartbeat_extends_and_detects_a_lost_lease(state_url: str) -> None:
    store = StateStore(state_url)
    store.acquire_lock("s", "run-a", "elsewhere:1", NOW, LEASE)
    assert store.heartbeat("s", "run-a", NOW + timedelta(seconds=50), LEASE)
    with pytest.raises(LockHeldError):
        store.acquire_lock("s", "run-b", "elsewhere:2", NOW + timedelta(seconds=100), LEASE)
    store.acquire_lock("s", "run-b", "elsewhere:2", NOW + timedelta(seconds=200), LEASE)
    assert not store.heartbeat("s", "run-a", NOW + timedelta(seconds=201), LEASE)


def test_state_advances_only_for_confirmed_rows(state_url: str) -> None:
    store = StateStore(state_url)
    store.record_intents("s", "r1", [("c", "hc")], NOW)
    store.record_batch(
        RecordedBatch(
            "s",
            "r1",
            "cfg",
            NOW,
            [
                RowResult.ok("a", "id-a").with_operation(Operation.UPSERT),
                RowResult.failed("b", "TRANSIENT", "timeout", 3).with_operation(Operation.UPSERT),
                RowResult.rejected("c", "INVALID_EMAIL", "bad email").with_operation(Operation.UPSERT),
            ],
            {"a": "ha", "b": "hb", "c": "hc"},
        )
    )
    reader = StateReader(state_url)
    rows = [r for chunk in reader.state_rows("s") for r in chunk]
    assert [(r.row_key, r.row_hash, r.destination_id) for r in rows] == [("a", "ha", "id-a")]
    assert reader.rejections("s") == [("c", "hc", "cfg")]
    assert reader.intents("s") == []  # settled by the rejection
    statuses = {r["row_key"]: (r["status"], r["attempts"]) for r in reader.row_results("r1")}
    assert statuses == {"a": ("succeeded", 1), "b": ("failed", 3), "c": ("rejected", 1)}

    store.record_batch(
        RecordedBatch("s", "r2", "cfg", NOW, [RowResult.ok("a", "id-a").with_operation(Operation.DELETE)], {"a": ""})
    )
    assert [r for chunk in reader.state_rows("s") for r in chunk] == []


def test_reader_of_a_missing_duckdb_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nothing.duckdb"
    reader = StateReader(f"duckdb:///{path}")
    assert list(reader.state_rows("s")) == []
    assert reader.runs() == []
    assert not path.exists()
