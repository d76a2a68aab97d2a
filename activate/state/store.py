"""The state store: a read-only `StateReader` (what `plan` gets) and the writable `StateStore` (what `run` gets).

A dry run cannot write state by construction: `plan` is handed a StateReader, which opens DuckDB files read-only
and has no write methods.

Any SQLAlchemy URL works; DuckDB (the default) and PostgreSQL are tested. A DuckDB file admits one writing process
at a time, so connections are short-lived (no pool) and a busy file is retried for a while: two `activate run`
processes on one DuckDB state store take turns per transaction, and the lock table decides which one writes.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from activate.errors import LockHeldError
from activate.rows import Operation, RowResult, RowStatus
from activate.state import schema
from activate.state.migrations import migrate

T = TypeVar("T")

_DUCKDB_BUSY = ("Could not set lock on file", "Conflicting lock", "database is locked")
_BUSY_TIMEOUT = 60.0


def _is_busy(exc: BaseException) -> bool:
    text = str(exc)
    return any(marker in text for marker in _DUCKDB_BUSY)


@dataclass(frozen=True)
class StateRow:
    """A synced row as the state store remembers it."""

    row_key: str
    row_hash: str
    config_hash: str
    destination_id: str | None


class StateReader:
    """Read-only access to the state tables. Safe to hand to a dry run."""

    read_only = True

    def __init__(self, url: str, *, project_root: Path | None = None) -> None:
        self.url = _resolve_url(url, project_root)
        self._dialect = sa.engine.make_url(self.url).get_backend_name()
        self._engine = self._make_engine()

    @property
    def is_duckdb(self) -> bool:
        return self._dialect == "duckdb"

    @property
    def dialect(self) -> str:
        return self._dialect

    def _make_engine(self) -> sa.Engine:
        if self.is_duckdb:
            database = sa.engine.make_url(self.url).database
            exists = database not in (None, "", ":memory:") and Path(database).exists()
            connect_args: dict[str, Any] = {"read_only": True} if self.read_only and exists else {}
            return sa.create_engine(self.url, poolclass=NullPool, connect_args=connect_args)
        return sa.create_engine(self.url, pool_pre_ping=True)

    def _retry_busy(self, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + _BUSY_TIMEOUT
        delay = 0.01
        while True:
            try:
                return fn()
            except Exception as exc:  # SQLAlchemy or raw duckdb errors alike: only "file busy" is retried
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection for reading (retried while another process holds a DuckDB file)."""
        conn = self._retry_busy(self._engine.connect)
        try:
            yield conn
        finally:
            conn.close()

    def _has_tables(self, conn: sa.Connection) -> bool:
        return sa.inspect(conn).has_table(schema.state.name)

    def _query(self, statement: sa.Executable) -> list[Any]:
        if self.is_duckdb:
            database = sa.engine.make_url(self.url).database
            if database not in (None, "", ":memory:") and not Path(database).exists():
                return []
        with self.connect() as conn:
            if not self._has_tables(conn):
                return []
            return list(conn.execute(statement))

    def state_rows(self, sync_name: str, batch_size: int = 100_000) -> Iterator[list[StateRow]]:
        """Every synced row of a sync, in batches (the diff stages them next to the snapshot)."""
        t = schema.state
        statement = sa.select(t.c.row_key, t.c.row_hash, t.c.config_hash, t.c.destination_id).where(
            t.c.sync_name == sync_name
        )
        if self.is_duckdb:
            rows = self._query(statement)
            for start in range(0, len(rows), batch_size):
                yield [StateRow(r[0], r[1], r[2], r[3]) for r in rows[start : start + batch_size]]
            return
        with self.connect() as conn:
            if not self._has_tables(conn):
                return
            result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(statement)
            for partition in result.partitions(batch_size):
                yield [StateRow(r[0], r[1], r[2], r[3]) for r in partition]

    def rejections(self, sync_name: str) -> list[tuple[str, str, str]]:
        """(row_key, row_hash, config_hash) of rows whose last attempt was rejected."""
        t = schema.rejections
        rows = self._query(sa.select(t.c.row_key, t.c.row_hash, t.c.config_hash).where(t.c.sync_name == sync_name))
        return [(r[0], r[1], r[2]) for r in rows]

    def intents(self, sync_name: str) -> list[tuple[str, str, str]]:
        """(row_key, row_hash, run_id) of non-idempotent writes sent but never recorded."""
        t = schema.intents
        rows = self._query(sa.select(t.c.row_key, t.c.row_hash, t.c.run_id).where(t.c.sync_name == sync_name))
        return [(r[0], r[1], r[2]) for r in rows]

    def state_count(self, sync_name: str) -> int:
        t = schema.state
        rows = self._query(sa.select(sa.func.count()).select_from(t).where(t.c.sync_name == sync_name))
        return int(rows[0][0]) if rows else 0

    def runs(self, sync_name: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        t = schema.runs
        statement = sa.select(t).order_by(t.c.started_at.desc()).limit(limit)
        if sync_name:
            statement = statement.where(t.c.sync_name == sync_name)
        return [dict(r._mapping) for r in self._query(statement)]

    def run(self, run_id: str) -> dict[str, Any] | None:
        t = schema.runs
        rows = self._query(sa.select(t).where(t.c.run_id == run_id))
        if not rows:
            prefix = self._query(sa.select(t).where(t.c.run_id.startswith(run_id)).limit(2))
            rows = prefix if len(prefix) == 1 else []
        return dict(rows[0]._mapping) if rows else None

    def row_results(self, run_id: str, statuses: Sequence[str] = (), limit: int | None = None) -> list[dict[str, Any]]:
        t = schema.row_results
        statement = sa.select(t).where(t.c.run_id == run_id).order_by(t.c.recorded_at, t.c.row_key)
        if statuses:
            statement = statement.where(t.c.status.in_(list(statuses)))
        if limit:
            statement = statement.limit(limit)
        return [dict(r._mapping) for r in self._query(statement)]

    def last_success(self, sync_name: str) -> dict[str, Any] | None:
        t = schema.runs
        rows = self._query(
            sa.select(t)
            .where(t.c.sync_name == sync_name, t.c.status == "succeeded")
            .order_by(t.c.started_at.desc())
            .limit(1)
        )
        return dict(rows[0]._mapping) if rows else None

    def lock_holder(self, sync_name: str) -> dict[str, Any] | None:
        t = schema.locks
        rows = self._query(sa.select(t).where(t.c.sync_name == sync_name))
        return dict(rows[0]._mapping) if rows else None

    def dispose(self) -> None:
        self._engine.dispose()


class StateStore(StateReader):
    """The writable state store. Every method is one transaction."""

    read_only = False

    def __init__(self, url: str, *, project_root: Path | None = None) -> None:
        super().__init__(url, project_root=project_root)
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
        if not rows:
            return
        t = schema.intents
        stmt = self._insert(t)
        with self.transaction() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["sync_name", "row_key"],
                    set_={"row_hash": stmt.excluded.row_hash, "run_id": stmt.excluded.run_id},
                ),
                [
                    {"sync_name": sync_name, "row_key": k, "row_hash": h, "run_id": run_id, "created_at": now}
                    for k, h in rows
                ],
            )

    def record_batch(self, batch: RecordedBatch) -> None:
        """One transaction: the batch's row results, state advanced for confirmed rows only, rejections remembered."""
        self.record_batches([batch])

    def record_batches(self, batches: Sequence[RecordedBatch]) -> None:
        """Several written batches in one transaction."""
        with self.transaction() as conn:
            for batch in batches:
                _record(conn, self._insert, batch)

    def reset(self, sync_name: str) -> int:
        """Forget everything synced for a sync (the next run re-sends every row)."""
        with self.transaction() as conn:
            removed = conn.execute(sa.delete(schema.state).where(schema.state.c.sync_name == sync_name)).rowcount
            conn.execute(sa.delete(schema.rejections).where(schema.rejections.c.sync_name == sync_name))
            conn.execute(sa.delete(schema.intents).where(schema.intents.c.sync_name == sync_name))
            return int(removed)

    def prune_row_results(self, older_than: datetime) -> int:
        t = schema.row_results
        with self.transaction() as conn:
            return int(conn.execute(sa.delete(t).where(t.c.recorded_at < older_than)).rowcount)


@dataclass
class RecordedBatch:
    """What one written batch changes in the state store.

    `results` are the audit rows, each stamped with its operation (`RowResult.with_operation`);
    `hashes` gives each row's data hash; `forget` lists keys whose state is dropped without a write (rows removed
    from a non-mirror sync).
    """

    sync_name: str
    run_id: str
    config_hash: str
    now: datetime
    results: Sequence[RowResult]
    hashes: dict[str, str]
    forget: Sequence[str] = ()
    advance_skipped: bool = False


def _record(conn: sa.Connection, insert: Callable[[sa.Table], Any], batch: RecordedBatch) -> None:
    record_results(conn, batch)
    if conn.dialect.name == "duckdb":
        _record_state_duckdb(conn, batch)
    else:
        _record_state(conn, insert, batch)


def _record_state(conn: sa.Connection, insert: Callable[[sa.Table], Any], batch: RecordedBatch) -> None:
    advanced, deleted, rejected, settled = state_changes(batch)
    if advanced:
        stmt = insert(schema.state)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["sync_name", "row_key"],
                set_={
                    "row_hash": stmt.excluded.row_hash,
                    "config_hash": stmt.excluded.config_hash,
                    # a skipped row keeps the id it has; a confirmed write stores the id the destination returned
                    "destination_id": sa.func.coalesce(stmt.excluded.destination_id, schema.state.c.destination_id),
                    "last_run_id": stmt.excluded.last_run_id,
                    "synced_at": stmt.excluded.synced_at,
                },
            ),
            advanced,
        )
    for table, keys in (
        (schema.state, deleted),
        (schema.rejections, settled),
        (schema.intents, settled + deleted),
    ):
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            conn.execute(sa.delete(table).where(table.c.sync_name == batch.sync_name, table.c.row_key.in_(chunk)))
    if rejected:
        stmt = insert(schema.rejections)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["sync_name", "row_key"],
                set_={
                    "row_hash": stmt.excluded.row_hash,
                    "config_hash": stmt.excluded.config_hash,
                    "run_id": stmt.excluded.run_id,
                    "error_code": stmt.excluded.error_code,
                    "rejected_at": stmt.excluded.rejected_at,
                },
            ),
            rejected,
        )


def record_results(conn: sa.Connection, batch: RecordedBatch) -> None:
    """Insert a batch's rows into `activate_row_results` (through Arrow on DuckDB, where executemany costs
    milliseconds per row)."""
    if not batch.results:
        return
    if conn.dialect.name != "duckdb":
        _record_results(conn, batch)
        return
    import pyarrow as pa

    native = conn.connection.driver_connection
    assert native is not None
    table = pa.table(
        {
            name: pa.array(values, pa.int64() if name == "attempts" else pa.string())
            for name, values in _result_columns(batch.results).items()
        }
    )
    native.register("activate_in_results", table)
    try:
        conn.exec_driver_sql(
            "INSERT INTO activate_row_results (run_id, sync_name, row_key, operation, status, destination_id, "
            "error_code, error_message, attempts, recorded_at) SELECT ?, ?, row_key, operation, status, "
            "destination_id, error_code, error_message, attempts, ? FROM activate_in_results",
            (batch.run_id, batch.sync_name, batch.now),
        )
    finally:
        native.unregister("activate_in_results")


def _record_state_duckdb(conn: sa.Connection, batch: RecordedBatch) -> None:
    """The same state changes as `_record_state`, loaded through Arrow: DuckDB's executemany costs milliseconds
    per row."""
    import pyarrow as pa

    native = conn.connection.driver_connection
    assert native is not None

    def load(name: str, rows: list[dict[str, Any]] | pa.Table) -> str:
        table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
        native.register(name, table)
        return name

    try:
        advanced, deleted, rejected, settled = state_changes(batch)
        if advanced:
            load("activate_in_state", advanced)
            conn.exec_driver_sql(
                "INSERT INTO activate_state (sync_name, row_key, row_hash, config_hash, destination_id, last_run_id, "
                "synced_at) SELECT sync_name, row_key, row_hash, config_hash, destination_id, last_run_id, synced_at "
                "FROM activate_in_state ON CONFLICT (sync_name, row_key) DO UPDATE SET row_hash = excluded.row_hash, "
                "config_hash = excluded.config_hash, "
                "destination_id = coalesce(excluded.destination_id, activate_state.destination_id), "
                "last_run_id = excluded.last_run_id, synced_at = excluded.synced_at"
            )
        for table_name, keys in (
            ("activate_state", deleted),
            ("activate_rejections", settled),
            ("activate_intents", settled + deleted),
        ):
            if keys:
                load("activate_in_keys", pa.table({"row_key": pa.array(keys, pa.string())}))
                conn.exec_driver_sql(
                    f"DELETE FROM {table_name} WHERE sync_name = ? "
                    "AND row_key IN (SELECT row_key FROM activate_in_keys)",
                    (batch.sync_name,),
                )
                native.unregister("activate_in_keys")
        if rejected:
            load("activate_in_rejections", rejected)
            conn.exec_driver_sql(
                "INSERT INTO activate_rejections (sync_name, row_key, row_hash, config_hash, run_id, error_code, "
                "rejected_at) SELECT sync_name, row_key, row_hash, config_hash, run_id, error_code, rejected_at "
                "FROM activate_in_rejections ON CONFLICT (sync_name, row_key) DO UPDATE SET "
                "row_hash = excluded.row_hash, config_hash = excluded.config_hash, run_id = excluded.run_id, "
                "error_code = excluded.error_code, rejected_at = excluded.rejected_at"
            )
    finally:
        for name in ("activate_in_state", "activate_in_rejections"):
            try:
                native.unregister(name)
            except Exception:  # never registered in this batch
                continue


def _record_results(conn: sa.Connection, batch: RecordedBatch) -> None:
    if batch.results:
        conn.execute(
            sa.insert(schema.row_results),
            [
                {"run_id": batch.run_id, "sync_name": batch.sync_name, "recorded_at": batch.now, **row}
                for row in _result_dicts(batch.results)
            ],
        )


def state_changes(batch: RecordedBatch) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]], list[str]]:
    """What a batch changes in the per-row tables: (state rows advanced, keys deleted, rejections, keys settled).

    Shared with the warehouse-native state (`activate.diff.native`), which applies the same changes with MERGE.
    """
    advanced: list[dict[str, Any]] = []
    deleted: list[str] = list(batch.forget)
    rejected: list[dict[str, Any]] = []
    settled: list[str] = []
    for result in batch.results:
        key, status = result.key, result.status
        if status is RowStatus.SUCCEEDED and result.operation is Operation.DELETE:
            deleted.append(key)
        elif status is RowStatus.SUCCEEDED or (status is RowStatus.SKIPPED and batch.advance_skipped):
            advanced.append(
                {
                    "sync_name": batch.sync_name,
                    "row_key": key,
                    "row_hash": batch.hashes[key],
                    "config_hash": batch.config_hash,
                    "destination_id": result.destination_id,
                    "last_run_id": batch.run_id,
                    "synced_at": batch.now,
                }
            )
        elif status is RowStatus.REJECTED:
            rejected.append(
                {
                    "sync_name": batch.sync_name,
                    "row_key": key,
                    "row_hash": batch.hashes.get(key, ""),
                    "config_hash": batch.config_hash,
                    "run_id": batch.run_id,
                    "error_code": result.error_code,
                    "rejected_at": batch.now,
                }
            )
        if status is not RowStatus.FAILED:
            settled.append(key)
    return advanced, deleted, rejected, settled


def _result_dicts(results: Sequence[RowResult]) -> list[dict[str, Any]]:
    """The `activate_row_results` columns of each result (operation and status as their stored text)."""
    return [
        {
            "row_key": r.key,
            "operation": _operation_text(r),
            "status": r.status.value,
            "destination_id": r.destination_id,
            "error_code": r.error_code,
            "error_message": r.error_message,
            "attempts": r.attempts,
        }
        for r in results
    ]


def _result_columns(results: Sequence[RowResult]) -> dict[str, list[Any]]:
    """The same columns, column-wise (for an Arrow table)."""
    return {
        "row_key": [r.key for r in results],
        "operation": [_operation_text(r) for r in results],
        "status": [r.status.value for r in results],
        "destination_id": [r.destination_id for r in results],
        "error_code": [r.error_code for r in results],
        "error_message": [r.error_message for r in results],
        "attempts": [r.attempts for r in results],
    }


def _operation_text(result: RowResult) -> str:
    if result.operation is None:
        raise ValueError(f"row result for {result.key!r} has no operation; stamp it with with_operation()")
    return result.operation.value


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


def _resolve_url(url: str, project_root: Path | None) -> str:
    """Relative DuckDB/SQLite paths are relative to the project directory, not the shell's cwd."""
    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("duckdb", "sqlite") and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute() and project_root is not None:
            return parsed.set(database=str((project_root / path).resolve())).render_as_string(hide_password=False)
    return url
