"""`StateStore`: the writable state store (what `run` gets): locks by lease, runs, and recorded results.

Every method is one transaction. A DuckDB file admits one writing process at a time, so connections are
short-lived (no pool) and a busy file is retried for a while: two `activate run` processes on one DuckDB state
store take turns per transaction, and the lock table decides which one writes. What recorded results change in
the per-row tables is `activate.state.changes` (written once, shared with the warehouse-native state).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from activate.errors import LockHeldError
from activate.state import schema
from activate.state.changes import (
    ConnectionStage,
    RecordedBatch,
    StateTables,
    append_results,
    apply_intents,
    apply_state_changes,
)
from activate.state.migrations import migrate
from activate.state.reader import StateReader
from activate.state.records import StateRow

__all__ = ["RecordedBatch", "StateReader", "StateRow", "StateStore", "lock_holder_name"]


class StateStore(StateReader):
    """The writable state store. Every method is one transaction."""

    read_only = False

    def __init__(self, url: str, *, project_root: Path | None = None) -> None:
        super().__init__(url, project_root=project_root)
        # One transaction at a time per store: a run writes from several threads (the recorder, the heartbeat, the
        # main thread's intents), and DuckDB's Python client is not safe registering Arrow data on two connections
        # of one database at once ("Table Function with name python_arrow_scan does not exist"). DuckDB admits one
        # writer anyway, so this costs no parallelism.
        self._transaction_lock = threading.RLock()
        if self.is_duckdb:
            database = sa.engine.make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        self._retry_busy(self._migrate)

    def _migrate(self) -> None:
        with self._engine.begin() as conn:
            migrate(conn)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One transaction; retried as a whole while a DuckDB file is busy only at connect time."""
        with self._transaction_lock:
            conn = self._retry_busy(self._engine.connect)
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.close()

    def _insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        if self._dialect == "sqlite":
            return sqlite.insert(table)
        return postgresql.insert(table)

    @property
    def tables(self) -> StateTables:
        """Where this store keeps the per-row state."""
        return StateTables()

    # -- locks ------------------------------------------------------------------------------------------------------

    def acquire_lock(self, sync_name: str, run_id: str, holder: str, now: datetime, lease: timedelta) -> None:
        """Take the sync's lock, or raise LockHeldError naming the run that holds it.

        A lock whose lease expired belongs to a crashed run: it is taken over and that run is marked `aborted`.
        """
        t = schema.locks
        with self.transaction() as conn:
            inserted = conn.execute(
                self._insert(t)
                .values(sync_name=sync_name, run_id=run_id, holder=holder, acquired_at=now, expires_at=now + lease)
                .on_conflict_do_nothing(index_elements=["sync_name"])
                .returning(t.c.run_id)
            ).first()
            if inserted is not None:
                self._abort_stale_runs(conn, sync_name, except_run=run_id, now=now)
                return
            row = conn.execute(sa.select(t).where(t.c.sync_name == sync_name)).one()
            if _aware(row.expires_at) > now and not _holder_is_dead(row.holder):
                raise LockHeldError(
                    f"sync '{sync_name}' is already running (run {row.run_id} on {row.holder}, "
                    f"since {_aware(row.acquired_at):%Y-%m-%d %H:%M:%S} UTC); use --wait to wait for it"
                )
            taken = conn.execute(
                sa.update(t)
                .where(t.c.sync_name == sync_name, t.c.run_id == row.run_id)
                .values(run_id=run_id, holder=holder, acquired_at=now, expires_at=now + lease)
            ).rowcount
            if taken != 1:
                raise LockHeldError(f"sync '{sync_name}' was just locked by another run; use --wait to wait for it")
            self._abort_stale_runs(conn, sync_name, except_run=run_id, now=now)

    def _abort_stale_runs(self, conn: sa.Connection, sync_name: str, except_run: str, now: datetime) -> None:
        r = schema.runs
        conn.execute(
            sa.update(r)
            .where(r.c.sync_name == sync_name, r.c.status == "running", r.c.run_id != except_run)
            .values(status="aborted", finished_at=now, error="the process running it stopped (its lock lease expired)")
        )

    def heartbeat(self, sync_name: str, run_id: str, now: datetime, lease: timedelta) -> bool:
        """Extend the lease; False when the lock was lost (taken over after an expiry)."""
        t = schema.locks
        with self.transaction() as conn:
            return (
                conn.execute(
                    sa.update(t).where(t.c.sync_name == sync_name, t.c.run_id == run_id).values(expires_at=now + lease)
                ).rowcount
                == 1
            )

    def release_lock(self, sync_name: str, run_id: str) -> None:
        t = schema.locks
        with self.transaction() as conn:
            conn.execute(sa.delete(t).where(t.c.sync_name == sync_name, t.c.run_id == run_id))

    # -- runs -------------------------------------------------------------------------------------------------------

    def start_run(self, run_id: str, sync_name: str, trigger: str, now: datetime, config_hash: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                sa.insert(schema.runs).values(
                    run_id=run_id,
                    sync_name=sync_name,
                    status="running",
                    trigger=trigger,
                    started_at=now,
                    config_hash=config_hash,
                )
            )

    def update_run(self, run_id: str, **values: Any) -> None:
        with self.transaction() as conn:
            conn.execute(sa.update(schema.runs).where(schema.runs.c.run_id == run_id).values(**values))

    # -- per-batch recording ----------------------------------------------------------------------------------------

    def record_intents(self, sync_name: str, run_id: str, rows: Sequence[tuple[str, str]], now: datetime) -> None:
        """Before a non-idempotent write: remember (row_key, row_hash) so a crash is reconciled next run."""
        if rows:
            with self.transaction() as conn:
                apply_intents(ConnectionStage(conn), self.tables, sync_name, run_id, rows, now)

    def record_batch(self, batch: RecordedBatch) -> None:
        """One transaction: the batch's row results, state advanced for confirmed rows only, rejections remembered."""
        self.record_batches([batch])

    def record_batches(self, batches: Sequence[RecordedBatch]) -> None:
        """Several written batches of one run in one transaction: results appended in bulk, state set-based."""
        if not batches:
            return
        with self.transaction() as conn:
            append_results(conn, batches)
            apply_state_changes(ConnectionStage(conn), self.tables, batches)

    def reset(self, sync_name: str) -> int:
        """Forget everything synced for a sync (the next run re-sends every row)."""
        with self.transaction() as conn:
            removed = conn.execute(sa.delete(schema.state).where(schema.state.c.sync_name == sync_name)).rowcount
            conn.execute(sa.delete(schema.rejections).where(schema.rejections.c.sync_name == sync_name))
            conn.execute(sa.delete(schema.intents).where(schema.intents.c.sync_name == sync_name))
            return int(removed)

    # -- holds (`activate revert --hold`, `activate resume`) ---------------------------------------------------------

    def hold_sync(self, sync_name: str, run_id: str, reverted_run_id: str, held_by: str, now: datetime) -> None:
        """Pause a sync until `release_hold`: `activate run` refuses it and the scheduler skips it."""
        t = schema.holds
        with self.transaction() as conn:
            conn.execute(sa.delete(t).where(t.c.sync_name == sync_name))
            conn.execute(
                sa.insert(t).values(
                    sync_name=sync_name, held_at=now, held_by=held_by, run_id=run_id, reverted_run_id=reverted_run_id
                )
            )

    def release_hold(self, sync_name: str) -> bool:
        """Let a held sync run again; False when it was not held."""
        t = schema.holds
        with self.transaction() as conn:
            return bool(conn.execute(sa.delete(t).where(t.c.sync_name == sync_name)).rowcount)

    def prune_row_results(self, older_than: datetime) -> int:
        t = schema.row_results
        with self.transaction() as conn:
            return int(conn.execute(sa.delete(t).where(t.c.recorded_at < older_than)).rowcount)


def lock_holder_name() -> str:
    """`host:pid` of this process, so a lock left by a killed process on this host is recognised at once."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_is_dead(holder: str) -> bool:
    """True when the holder ran on this host and its process is gone (no need to wait for the lease to expire)."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
