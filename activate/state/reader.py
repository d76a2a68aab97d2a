"""`StateReader`: read-only access to the state tables, returning typed records (`activate.state.records`).

A dry run cannot write state by construction: `plan` is handed a StateReader, which opens DuckDB files read-only
and has no write methods. Any SQLAlchemy URL works; DuckDB (the default) and PostgreSQL are tested. A DuckDB file
admits one writing process at a time, so a busy file is retried for a while.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from activate.state import schema
from activate.state.records import (
    HoldRecord,
    Intent,
    LockRecord,
    Rejection,
    RejectionRecord,
    RowHistoryRecord,
    RowResultRecord,
    RunChange,
    RunRecord,
    StateRow,
    SyncedRowRecord,
    record_from_row,
)

T = TypeVar("T")

_DUCKDB_BUSY = ("Could not set lock on file", "Conflicting lock", "database is locked")
_BUSY_TIMEOUT = 60.0


def is_busy(exc: BaseException) -> bool:
    text = str(exc)
    return any(marker in text for marker in _DUCKDB_BUSY)


class StateReader:
    """Read-only access to the state tables. Safe to hand to a dry run."""

    read_only = True

    def __init__(self, url: str, *, project_root: Path | None = None) -> None:
        self.url = resolve_url(url, project_root)
        self._dialect = sa.engine.make_url(self.url).get_backend_name()
        self._engine_made: sa.Engine | None = None

    @property
    def _engine(self) -> sa.Engine:
        """Made on first use: a plan whose diff attaches a DuckDB state file directly never loads the SQLAlchemy
        dialect (half a second of a 1M-row plan)."""
        if self._engine_made is None:
            self._engine_made = self._make_engine()
        return self._engine_made

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
                if not is_busy(exc) or time.monotonic() > deadline:
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

    def state_fields(self, sync_name: str, keys: Sequence[str]) -> dict[str, tuple[str | None, str]]:
        """For some synced rows: row key -> (the field values last confirmed, as JSON: None for a row synced before
        field-level state; the run that confirmed them). Keys not synced are absent."""
        if not keys:
            return {}
        t = schema.state
        statement = sa.select(t.c.row_key, t.c.fields, t.c.last_run_id).where(
            t.c.sync_name == sync_name, t.c.row_key.in_(list(keys))
        )
        return {r[0]: (r[1], r[2]) for r in self._query(statement)}

    def synced_rows(self, sync_name: str, keys: Sequence[str], chunk: int = 5_000) -> dict[str, SyncedRowRecord]:
        """The stored state of some rows (hash, destination id, confirmed fields, last run), by key; keys not
        synced are absent (`revert` reads the rows a run wrote)."""
        t = schema.state
        found: dict[str, SyncedRowRecord] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), chunk):
            statement = sa.select(t).where(t.c.sync_name == sync_name, t.c.row_key.in_(unique[start : start + chunk]))
            for row in self._query(statement):
                record = record_from_row(SyncedRowRecord, row._mapping)
                found[record.row_key] = record
        return found

    def rejections(self, sync_name: str) -> list[Rejection]:
        """Rows whose last attempt was rejected, with the hashes they were rejected with."""
        t = schema.rejections
        rows = self._query(sa.select(t.c.row_key, t.c.row_hash, t.c.config_hash).where(t.c.sync_name == sync_name))
        return [Rejection(r[0], r[1], r[2]) for r in rows]

    def intents(self, sync_name: str) -> list[Intent]:
        """Non-idempotent writes sent but never recorded."""
        t = schema.intents
        rows = self._query(sa.select(t.c.row_key, t.c.row_hash, t.c.run_id).where(t.c.sync_name == sync_name))
        return [Intent(r[0], r[1], r[2]) for r in rows]

    def state_count(self, sync_name: str) -> int:
        t = schema.state
        rows = self._query(sa.select(sa.func.count()).select_from(t).where(t.c.sync_name == sync_name))
        return int(rows[0][0]) if rows else 0

    def runs(self, sync_name: str | None = None, limit: int = 20, *, statuses: Sequence[str] = ()) -> list[RunRecord]:
        """The latest runs (of one sync, in some statuses), newest first."""
        t = schema.runs
        statement = sa.select(t).order_by(t.c.started_at.desc()).limit(limit)
        if sync_name:
            statement = statement.where(t.c.sync_name == sync_name)
        if statuses:
            statement = statement.where(t.c.status.in_(list(statuses)))
        return [record_from_row(RunRecord, r._mapping) for r in self._query(statement)]

    def runs_with_prefix(self, prefix: str, limit: int) -> list[RunRecord]:
        """Runs whose id starts with `prefix` (at most `limit`, newest first)."""
        t = schema.runs
        statement = sa.select(t).where(t.c.run_id.startswith(prefix, autoescape=True))
        rows = self._query(statement.order_by(t.c.started_at.desc()).limit(limit))
        return [record_from_row(RunRecord, r._mapping) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        """One run by id, or by an unambiguous id prefix."""
        t = schema.runs
        rows = self._query(sa.select(t).where(t.c.run_id == run_id))
        if not rows:
            prefix = self._query(sa.select(t).where(t.c.run_id.startswith(run_id)).limit(2))
            rows = prefix if len(prefix) == 1 else []
        return record_from_row(RunRecord, rows[0]._mapping) if rows else None

    def row_results(self, run_id: str, statuses: Sequence[str] = (), limit: int | None = None) -> list[RowResultRecord]:
        """A run's recorded row results, in the order they were recorded."""
        t = schema.row_results
        statement = sa.select(t).where(t.c.run_id == run_id).order_by(t.c.recorded_at, t.c.row_key)
        if statuses:
            statement = statement.where(t.c.status.in_(list(statuses)))
        if limit:
            statement = statement.limit(limit)
        return [record_from_row(RowResultRecord, r._mapping) for r in self._query(statement)]

    def run_changes(self, run_id: str, sync_name: str) -> list[RunChange]:
        """Each row a run wrote and the destination confirmed (its last succeeded result, links left out), joined
        with the row's state now: one query, in key order."""
        r, t = schema.row_results, schema.state
        statement = (
            sa.select(
                r.c.row_key,
                r.c.operation,
                r.c.changed_fields,
                r.c.previous_hash,
                t.c.row_hash,
                t.c.destination_id,
                t.c.fields,
                t.c.last_run_id,
            )
            .select_from(r.outerjoin(t, sa.and_(t.c.sync_name == sync_name, t.c.row_key == r.c.row_key)))
            .where(r.c.run_id == run_id, r.c.status == "succeeded", r.c.operation.not_in(["associate", "dissociate"]))
            .order_by(r.c.row_key, r.c.recorded_at)
        )
        latest = {row[0]: RunChange(*row) for row in self._query(statement)}  # a key twice: the later result
        return list(latest.values())

    def row_result_count(self, run_id: str, statuses: Sequence[str] = (), *, links: bool = True) -> int:
        """How many row results a run recorded (in some statuses; `links=False`: association links left out)."""
        t = schema.row_results
        statement = sa.select(sa.func.count()).select_from(t).where(t.c.run_id == run_id)
        if statuses:
            statement = statement.where(t.c.status.in_(list(statuses)))
        if not links:
            statement = statement.where(t.c.operation.not_in(["associate", "dissociate"]))
        rows = self._query(statement)
        return int(rows[0][0]) if rows else 0

    # -- one row (`activate explain`, the UI's row page) ---------------------------------------------------------

    def synced_row(self, sync_name: str, row_key: str) -> SyncedRowRecord | None:
        """The row's stored state: the hash and destination id last confirmed, by which run and when."""
        t = schema.state
        rows = self._query(sa.select(t).where(t.c.sync_name == sync_name, t.c.row_key == row_key))
        return record_from_row(SyncedRowRecord, rows[0]._mapping) if rows else None

    def rejection(self, sync_name: str, row_key: str) -> RejectionRecord | None:
        """The data the row was last refused with (the row is held back while its data is the same)."""
        t = schema.rejections
        rows = self._query(sa.select(t).where(t.c.sync_name == sync_name, t.c.row_key == row_key))
        return record_from_row(RejectionRecord, rows[0]._mapping) if rows else None

    def intent(self, sync_name: str, row_key: str) -> Intent | None:
        """A non-idempotent write of this row sent by a run that never recorded its result."""
        t = schema.intents
        rows = self._query(
            sa.select(t.c.row_key, t.c.row_hash, t.c.run_id).where(t.c.sync_name == sync_name, t.c.row_key == row_key)
        )
        return Intent(rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def row_history(self, sync_name: str, row_key: str, limit: int = 200) -> list[RowHistoryRecord]:
        """Every result the row had across runs, newest first, each with its run's start, trigger and status."""
        results, runs = schema.row_results, schema.runs
        statement = (
            sa.select(
                results.c.run_id,
                results.c.operation,
                results.c.status,
                results.c.destination_id,
                results.c.error_code,
                results.c.error_message,
                results.c.attempts,
                results.c.recorded_at,
                runs.c.started_at,
                runs.c.trigger,
                runs.c.status.label("run_status"),
            )
            .join(runs, runs.c.run_id == results.c.run_id)
            .where(results.c.sync_name == sync_name, results.c.row_key == row_key)
            .order_by(results.c.recorded_at.desc())
            .limit(limit)
        )
        return [record_from_row(RowHistoryRecord, r._mapping) for r in self._query(statement)]

    def last_success(self, sync_name: str) -> RunRecord | None:
        t = schema.runs
        rows = self._query(
            sa.select(t)
            .where(t.c.sync_name == sync_name, t.c.status == "succeeded")
            .order_by(t.c.started_at.desc())
            .limit(1)
        )
        return record_from_row(RunRecord, rows[0]._mapping) if rows else None

    def hold(self, sync_name: str) -> HoldRecord | None:
        """The hold `revert --hold` placed on a sync (None: the sync runs)."""
        t = schema.holds
        rows = self._query_v6(sa.select(t).where(t.c.sync_name == sync_name))
        return record_from_row(HoldRecord, rows[0]._mapping) if rows else None

    def holds(self) -> dict[str, HoldRecord]:
        """Every held sync, by name."""
        rows = self._query_v6(sa.select(schema.holds))
        return {r.sync_name: r for r in (record_from_row(HoldRecord, row._mapping) for row in rows)}

    def _query_v6(self, statement: sa.Executable) -> list[Any]:
        """`_query` of `activate_holds`, which a reader of a store no writer has migrated to v6 yet lacks."""
        if self.is_duckdb:
            database = sa.engine.make_url(self.url).database
            if database not in (None, "", ":memory:") and not Path(database).exists():
                return []
        with self.connect() as conn:
            if not sa.inspect(conn).has_table(schema.holds.name):
                return []
            return list(conn.execute(statement))

    def schema_applied_at(self, version: int) -> datetime | None:
        """When the state store reached a schema version (None: not yet, or before versions were recorded)."""
        t = schema.schema_version
        rows = self._query(sa.select(t.c.applied_at).where(t.c.version == version))
        return rows[0][0] if rows else None

    def lock_holder(self, sync_name: str) -> LockRecord | None:
        t = schema.locks
        rows = self._query(sa.select(t).where(t.c.sync_name == sync_name))
        return record_from_row(LockRecord, rows[0]._mapping) if rows else None

    def dispose(self) -> None:
        if self._engine_made is not None:
            self._engine_made.dispose()


def resolve_url(url: str, project_root: Path | None) -> str:
    """Relative DuckDB/SQLite paths are relative to the project directory, not the shell's cwd."""
    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("duckdb", "sqlite") and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute() and project_root is not None:
            return parsed.set(database=str((project_root / path).resolve())).render_as_string(hide_password=False)
    return url
