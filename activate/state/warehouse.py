"""Warehouse-native state: a `state: warehouse` sync's per-row state (`activate_state`, `activate_rejections`,
`activate_intents`) in the warehouse it reads, next to the snapshot the native diff builds there.

Runs, row results and locks stay in the project's state store (`WarehouseStateStore` is a `StateStore` whose
per-row changes go to the warehouse). A batch records its row results in the state store first, then applies its
state changes in one warehouse transaction: a crash between the two re-sends the batch next run, which the
idempotent writes make safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from activate.state.changes import (
    RecordedBatch,
    StateTables,
    append_results,
    apply_intents,
    apply_state_changes,
    create_stage_sql,
    stage_rows,
)
from activate.state.store import StateStore
from activate.warehouse.session import WarehouseSession
from activate.warehouse.target import NativeTarget


class WarehouseState:
    """The per-row state tables of `state: warehouse` syncs, in the warehouse, written set-based.

    Every change is bulk-loaded into a temporary staging table, then applied set-based in one transaction by
    `activate.state.changes` (the same SQL as the local store; not MERGE: fakesnow cannot run a MERGE inside a
    transaction, and delete-then-insert reads the same on all three dialects).
    """

    def __init__(self, session: WarehouseSession | Callable[[], WarehouseSession], target: NativeTarget) -> None:
        # a factory is called on first use: a run opens the warehouse inside its lifecycle, so a refused login is
        # a recorded run that failed `auth` (with its alert), not an error before any run exists
        self._session = session if isinstance(session, WarehouseSession) else None
        self._connect = None if isinstance(session, WarehouseSession) else session
        self.target = target
        self.tables = StateTables.in_schema(target.schema)
        self._ready = False

    @property
    def session(self) -> WarehouseSession:
        if self._session is None:
            assert self._connect is not None
            self._session = self._connect()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def _prepare(self) -> None:
        if self._ready:
            return
        s, ts = self.session, self.session.timestamp_type
        s.execute(f"CREATE SCHEMA IF NOT EXISTS {self.target.schema}")
        s.execute(
            f"CREATE TABLE IF NOT EXISTS {self.target.table('activate_state')} (sync_name VARCHAR NOT NULL, "
            "row_key VARCHAR NOT NULL, row_hash VARCHAR NOT NULL, config_hash VARCHAR NOT NULL, "
            f"destination_id VARCHAR, last_run_id VARCHAR NOT NULL, synced_at {ts} NOT NULL, fields VARCHAR, "
            "PRIMARY KEY (sync_name, row_key))"
        )
        state = self.target.table("activate_state")
        if "fields" not in {name.lower() for name, _ in s.result_columns(f"SELECT * FROM {state} WHERE 1 = 0")}:
            s.execute(f"ALTER TABLE {state} ADD COLUMN fields VARCHAR")  # a table made before field-level state
        s.execute(
            f"CREATE TABLE IF NOT EXISTS {self.target.table('activate_rejections')} (sync_name VARCHAR NOT NULL, "
            "row_key VARCHAR NOT NULL, row_hash VARCHAR NOT NULL, config_hash VARCHAR NOT NULL, "
            f"run_id VARCHAR NOT NULL, error_code VARCHAR, rejected_at {ts} NOT NULL, PRIMARY KEY (sync_name, row_key))"
        )
        s.execute(
            f"CREATE TABLE IF NOT EXISTS {self.target.table('activate_intents')} (sync_name VARCHAR NOT NULL, "
            "row_key VARCHAR NOT NULL, row_hash VARCHAR NOT NULL, run_id VARCHAR NOT NULL, "
            f"created_at {ts} NOT NULL, PRIMARY KEY (sync_name, row_key))"
        )
        s.execute(create_stage_sql())
        self._ready = True

    def apply(self, batches: Sequence[RecordedBatch]) -> None:
        """Advance, delete and reject exactly as the local `StateStore` does (`activate.state.changes`), in one
        warehouse transaction."""
        if not stage_rows(batches):
            return
        self._prepare()
        with self.session.transaction():
            apply_state_changes(self.session, self.tables, batches)

    def record_intents(self, sync_name: str, run_id: str, rows: Sequence[tuple[str, str]], now: datetime) -> None:
        if not rows:
            return
        self._prepare()
        with self.session.transaction():
            apply_intents(self.session, self.tables, sync_name, run_id, rows, now)

    def reset(self, sync_name: str) -> int:
        if not self.session.table_exists(self.target.table("activate_state")):
            return 0
        s = self.session
        sync = s.literal(sync_name)
        count = self.count(sync_name)
        with s.transaction():
            for table in ("activate_state", "activate_rejections", "activate_intents"):
                s.execute(f"DELETE FROM {self.target.table(table)} WHERE sync_name = {sync}")
        return count

    def count(self, sync_name: str) -> int:
        if not self.session.table_exists(self.target.table("activate_state")):
            return 0
        table, sync = self.target.table("activate_state"), self.session.literal(sync_name)
        return int(self.session.fetchone(f"SELECT count(*) FROM {table} WHERE sync_name = {sync}")[0])


class WarehouseStateStore(StateStore):
    """The project's state store (runs, row results, locks) with a `state: warehouse` sync's per-row state in the
    warehouse. The engine uses it exactly like a `StateStore`.
    """

    def __init__(self, url: str, *, project_root: Path | None, warehouse: WarehouseState) -> None:
        super().__init__(url, project_root=project_root)
        self.warehouse = warehouse

    def record_batches(self, batches: Sequence[RecordedBatch]) -> None:
        if not batches:
            return
        with self._transaction_lock:  # the warehouse session is one connection: one thread at a time
            with self.transaction() as conn:
                append_results(conn, batches)
            self.warehouse.apply(batches)

    def record_intents(self, sync_name: str, run_id: str, rows: Sequence[tuple[str, str]], now: datetime) -> None:
        with self._transaction_lock:
            self.warehouse.record_intents(sync_name, run_id, rows, now)

    def reset(self, sync_name: str) -> int:
        super().reset(sync_name)
        return self.warehouse.reset(sync_name)

    def state_count(self, sync_name: str) -> int:
        return self.warehouse.count(sync_name)

    def dispose(self) -> None:
        try:
            self.warehouse.close()
        finally:
            super().dispose()
