"""Warehouse-native diff: the snapshot, its hashes and the diff run as SQL in the warehouse; only changed rows leave.

Selected when a sync says `state: warehouse` (its per-row state lives in the warehouse, schema `state.schema` or
`activate`), or when the project's `state.url` is the Postgres warehouse the sync reads (the state store's own
tables are diffed in place). The same SQL serves DuckDB, Postgres and Snowflake; `activate.diff.dialects` holds
the per-dialect value rendering.

`NativeDiff` has the read interface of `DiffWorkspace` (`diff`, `planned`, `sample`, `invalid_rows`, `close`), so
the engine's write loop is the same for both. It counts the rows and bytes it fetches (`rows_fetched`,
`bytes_fetched`, plus the few `sample_rows` a plan shows) and logs them when closed: with 0.5% changed rows,
0.5% of the rows travel.

With `state: warehouse`, runs, row results and locks stay in the project's state store and the per-row state
(`activate_state`, `activate_rejections`, `activate_intents`) lives in the warehouse. A batch records its row
results there first, then applies its state changes in one warehouse transaction (bulk-staged rows, then
set-based DELETE and INSERT ... SELECT): a crash between the two re-sends the batch next run, which the idempotent
writes make safe.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from activate.diff.canonical import JsonKind, staged_name
from activate.diff.classify import (
    classify_sql,
    counts_sql,
    dupes_sql,
    duplicate_matches_sql,
    invalid_sql,
    totals_sql,
)
from activate.diff.dialects import DuckDBSession, PostgresSession, SnowflakeSession, WarehouseSession
from activate.diff.workspace import DiffCounts, InvalidRow, MatchField, PlannedRow
from activate.errors import UsageError
from activate.sources.config import DuckDBConnection, PostgresConnection, SnowflakeConnection
from activate.state.store import RecordedBatch, StateStore, state_changes

if TYPE_CHECKING:
    from activate.config import LoadedSync, Project

logger = logging.getLogger(__name__)

DEFAULT_SCHEMA = "activate"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PlannedDiff(Protocol):
    """What the engine reads from a diff, local (`DiffWorkspace`) or warehouse-native (`NativeDiff`)."""

    def planned(self, kinds: Sequence[str], chunk: int = 5_000) -> Iterator[list[PlannedRow]]: ...

    def sample(self, kind: str, limit: int) -> list[PlannedRow]: ...

    def invalid_rows(self, chunk: int = 5_000) -> Iterator[list[InvalidRow]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class NativeTarget:
    """Where a sync's diff runs: the warehouse connection and the schema of its state tables.

    `separate_state`: the per-row state lives in the warehouse apart from the project's state store
    (`state: warehouse`); otherwise the state store is the warehouse and its own tables are diffed.
    """

    connection: DuckDBConnection | PostgresConnection | SnowflakeConnection
    schema: str | None
    separate_state: bool

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}" if self.schema else name


def native_target(project: Project, sync: LoadedSync) -> NativeTarget | None:
    """The warehouse-native target of a sync, or None for the local diff."""
    connection = project.connection(sync.spec.source.connection)
    schema = project.spec.state.schema_
    if sync.spec.state == "warehouse":
        if not isinstance(connection, (DuckDBConnection, PostgresConnection, SnowflakeConnection)):
            raise UsageError(
                f"sync '{sync.name}' has state: warehouse, but its source connection type "
                f"'{getattr(connection, 'type', '?')}' cannot hold state (use duckdb, postgres or snowflake)"
            )
        schema = schema or DEFAULT_SCHEMA
        if not _IDENTIFIER.match(schema):
            raise UsageError(f"state schema {schema!r} must be a plain identifier (letters, digits, '_')")
        return NativeTarget(connection, schema, separate_state=True)
    if isinstance(connection, PostgresConnection) and _same_postgres(connection, project.spec.state.url):
        return NativeTarget(connection, None, separate_state=False)
    return None


def _same_postgres(connection: PostgresConnection, state_url: str) -> bool:
    try:
        source = sa.engine.make_url(connection.url.get_secret_value())
        state = sa.engine.make_url(state_url)
    except sa.exc.ArgumentError:
        return False
    if state.get_backend_name() != "postgresql":
        return False
    where = ("host", "port", "database", "username")
    return all(getattr(source, k) == getattr(state, k) for k in where)


def open_session(target: NativeTarget, project_root: Path, query_tag: str) -> WarehouseSession:
    """A new session on the target's warehouse."""
    connection = target.connection
    if isinstance(connection, DuckDBConnection):
        return DuckDBSession(connection, project_root)
    if isinstance(connection, PostgresConnection):
        return PostgresSession(connection)
    return SnowflakeSession(connection, project_root, query_tag)


class NativeDiff:
    """Snapshot and diff of one sync inside the warehouse, in temporary tables of one session."""

    def __init__(self, session: WarehouseSession, target: NativeTarget, sync_name: str) -> None:
        self.session = session
        self.target = target
        self.sync_name = sync_name
        self.rows_fetched = 0
        self.bytes_fetched = 0
        self.sample_rows = 0
        self._hashed: list[str] = []
        self._kinds: dict[str, JsonKind] = {}
        self._has_state = session.table_exists(target.table("activate_state"))

    def stage_snapshot(self, query: str, key_columns: Sequence[str], hashed_columns: Sequence[str]) -> None:
        """Materialise the snapshot (key, hash, canonical texts) as a temporary table: nothing is fetched."""
        self._hashed = sorted(hashed_columns)
        select, self._kinds = self.session.snapshot_select(query, key_columns, self._hashed)
        self.session.execute(f"CREATE TEMPORARY TABLE activate_snapshot AS {select}")

    def _sync_rows(self, table: str, columns: str) -> str:
        if not self._has_state:
            # first run: no state table yet (and a dry run must not create one)
            empty = {
                "activate_state": "row_key, row_hash, config_hash, destination_id",
                "activate_rejections": "row_key, row_hash, config_hash",
                "activate_intents": "row_key, row_hash",
            }[table]
            nulls = ", ".join(f"CAST(NULL AS VARCHAR) AS {c.strip()}" for c in empty.split(","))
            return f"(SELECT {nulls} WHERE 1 = 0)"
        name = self.session.literal(self.sync_name)
        return f"(SELECT {columns} FROM {self.target.table(table)} WHERE sync_name = {name})"

    def diff(
        self,
        config_hash: str,
        *,
        full_resync: bool = False,
        retry_rejected: bool = False,
        match: MatchField | None = None,
    ) -> DiffCounts:
        """Classify every row in the warehouse; only added, changed and removed rows are kept in `activate_ops`."""
        state = self._sync_rows("activate_state", "row_key, row_hash, config_hash, destination_id")
        rejections = self._sync_rows("activate_rejections", "row_key, row_hash, config_hash")
        intents = self._sync_rows("activate_intents", "row_key, row_hash")
        run = self.session.execute
        staged_match = None
        if match is not None and match[0] in self._hashed:
            staged_match = (staged_name(self._hashed.index(match[0])), match[1])
        dupes = dupes_sql("activate_snapshot", staged_match, self.session.literal)
        run(f"CREATE TEMPORARY TABLE activate_dupes AS {dupes}")
        classified = classify_sql(
            snapshot="activate_snapshot",
            dupes="activate_dupes",
            state=state,
            rejections=rejections,
            intents=intents,
            config_hash=self.session.literal(config_hash),
            full_resync=full_resync,
            retry_rejected=retry_rejected,
        )
        run(f"CREATE TEMPORARY TABLE activate_ops AS {classified}")
        ops = self.session.fetchone(counts_sql("activate_ops"))
        added, changed, removed, held_back, config_changed = (int(c or 0) for c in ops)
        totals = self.session.fetchone(totals_sql("activate_snapshot", "activate_dupes"))
        rows_read, valid = int(totals[0] or 0), int(totals[1] or 0)
        state_rows = int(self.session.fetchone(f"SELECT count(*) FROM {state} st")[0] or 0)
        duplicate_match = int(self.session.fetchone(duplicate_matches_sql("activate_dupes"))[0] or 0)
        return DiffCounts(
            rows_read=rows_read,
            added=added,
            changed=changed,
            removed=removed,
            unchanged=valid - added - changed - held_back,
            invalid=rows_read - valid,
            held_back=held_back,
            config_changed=config_changed,
            state_rows=state_rows,
            duplicate_match=duplicate_match,
        )

    def _fetch(self, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        for rows in self.session.stream(sql, chunk):
            self.rows_fetched += len(rows)
            self.bytes_fetched += sum(len(v) for row in rows for v in row if isinstance(v, str))
            yield rows

    def _select_planned(self) -> str:
        payload = self.session.payload_sql(self._hashed, self._kinds, "s")
        return (
            "SELECT o.row_key, o.kind, o.row_hash, "
            f"CASE WHEN s.row_number IS NULL THEN NULL ELSE {payload} END AS payload, "
            "o.destination_id, o.has_intent, o.intent_hash "
            "FROM activate_ops o LEFT JOIN activate_snapshot s ON s.row_number = o.row_number"
        )

    def planned(self, kinds: Sequence[str], chunk: int = 5_000) -> Iterator[list[PlannedRow]]:
        """Rows to write, in chunks, held-back rows excluded, ordered by key: the only rows that leave.

        Payloads are built here, in the warehouse, only for these rows.
        """
        kind_list = ", ".join(self.session.literal(k) for k in kinds)
        sql = f"{self._select_planned()} WHERE o.kind IN ({kind_list}) AND NOT o.held_back ORDER BY o.row_key"
        for rows in self._fetch(sql, chunk):
            yield [_planned(r) for r in rows]

    def sample(self, kind: str, limit: int) -> list[PlannedRow]:
        sql = (
            f"{self._select_planned()} WHERE o.kind = {self.session.literal(kind)} AND NOT o.held_back "
            f"ORDER BY o.row_key LIMIT {int(limit)}"
        )
        rows = [_planned(r) for r in self.session.fetchall(sql)]
        self.sample_rows += len(rows)
        return rows

    def invalid_rows(self, chunk: int = 5_000) -> Iterator[list[InvalidRow]]:
        """Rows that cannot be sent, each with its reason."""
        for rows in self._fetch(invalid_sql("activate_snapshot", "activate_dupes"), chunk):
            yield [InvalidRow(r[0], r[1], r[2]) for r in rows]

    def close(self) -> None:
        logger.info(
            "sync %s: warehouse-native diff (%s) fetched %d rows to write or reject (%d bytes) and %d sample rows",
            self.sync_name,
            self.session.dialect,
            self.rows_fetched,
            self.bytes_fetched,
            self.sample_rows,
        )
        self.session.close()


def _planned(row: Sequence[Any]) -> PlannedRow:
    key, kind, row_hash, payload, destination_id, has_intent, intent_hash = row
    return PlannedRow(key, kind, row_hash, payload, destination_id, bool(has_intent), intent_hash)


class WarehouseState:
    """The per-row state tables of `state: warehouse` syncs, in the warehouse, written set-based.

    Every change is bulk-loaded into a temporary staging table, then applied with one DELETE ... IN (SELECT) and
    one INSERT ... SELECT per table, in one transaction: never one statement per row. (Not MERGE: fakesnow cannot
    run a MERGE inside a transaction, and delete-then-insert reads the same on all three dialects.)
    """

    _STAGE_COLUMNS = ("action", "row_key", "row_hash", "destination_id", "error_code")

    def __init__(self, session: WarehouseSession, target: NativeTarget) -> None:
        self.session = session
        self.target = target
        self._ready = False

    def _prepare(self) -> None:
        if self._ready:
            return
        s, ts = self.session, self.session.timestamp_type
        s.execute(f"CREATE SCHEMA IF NOT EXISTS {self.target.schema}")
        s.execute(
            f"CREATE TABLE IF NOT EXISTS {self.target.table('activate_state')} (sync_name VARCHAR NOT NULL, "
            "row_key VARCHAR NOT NULL, row_hash VARCHAR NOT NULL, config_hash VARCHAR NOT NULL, "
            f"destination_id VARCHAR, last_run_id VARCHAR NOT NULL, synced_at {ts} NOT NULL, "
            "PRIMARY KEY (sync_name, row_key))"
        )
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
        columns = ", ".join(f"{c} VARCHAR" for c in self._STAGE_COLUMNS)
        s.execute(f"CREATE TEMPORARY TABLE activate_stage ({columns})")
        self._ready = True

    def apply(self, batch: RecordedBatch) -> None:
        """Advance, delete and reject exactly as `StateStore.record_batch` does, in one warehouse transaction."""
        advanced, deleted, rejected, settled = state_changes(batch)
        rows: list[tuple[str | None, ...]] = []
        rows += [("advance", r["row_key"], r["row_hash"], r["destination_id"], None) for r in advanced]
        rows += [("delete", key, None, None, None) for key in deleted]
        rows += [("reject", r["row_key"], r["row_hash"], None, r["error_code"]) for r in rejected]
        rows += [("settle", key, None, None, None) for key in settled]
        if not rows:
            return
        self._prepare()
        s = self.session
        sync, cfg, run_id = s.literal(batch.sync_name), s.literal(batch.config_hash), s.literal(batch.run_id)
        now = f"CAST({s.literal(batch.now.isoformat())} AS {s.timestamp_type})"
        state, rejections = self.target.table("activate_state"), self.target.table("activate_rejections")
        intents = self.target.table("activate_intents")
        with s.transaction():
            s.execute("DELETE FROM activate_stage")
            s.insert_rows("activate_stage", self._STAGE_COLUMNS, rows)
            if advanced:
                # a skipped row keeps the id it has; a confirmed write stores the id the destination returned
                s.execute(
                    f"UPDATE activate_stage SET destination_id = t.destination_id FROM {state} t "
                    "WHERE activate_stage.action = 'advance' AND activate_stage.destination_id IS NULL "
                    f"AND t.sync_name = {sync} AND t.row_key = activate_stage.row_key"
                )
            for table, actions in (
                (state, "'advance', 'delete'"),
                (rejections, "'settle', 'reject'"),
                (intents, "'settle', 'delete'"),
            ):
                s.execute(
                    f"DELETE FROM {table} WHERE sync_name = {sync} "
                    f"AND row_key IN (SELECT row_key FROM activate_stage WHERE action IN ({actions}))"
                )
            if advanced:
                s.execute(
                    f"INSERT INTO {state} (sync_name, row_key, row_hash, config_hash, destination_id, last_run_id, "
                    f"synced_at) SELECT {sync}, row_key, row_hash, {cfg}, destination_id, {run_id}, {now} "
                    "FROM activate_stage WHERE action = 'advance'"
                )
            if rejected:
                s.execute(
                    f"INSERT INTO {rejections} (sync_name, row_key, row_hash, config_hash, run_id, error_code, "
                    f"rejected_at) SELECT {sync}, row_key, row_hash, {cfg}, {run_id}, error_code, {now} "
                    "FROM activate_stage WHERE action = 'reject'"
                )

    def record_intents(self, sync_name: str, run_id: str, rows: Sequence[tuple[str, str]], now_iso: str) -> None:
        if not rows:
            return
        self._prepare()
        s = self.session
        sync, run = s.literal(sync_name), s.literal(run_id)
        now = f"CAST({s.literal(now_iso)} AS {s.timestamp_type})"
        with s.transaction():
            s.execute("DELETE FROM activate_stage")
            s.insert_rows("activate_stage", self._STAGE_COLUMNS, [("intent", k, h, None, None) for k, h in rows])
            table = self.target.table("activate_intents")
            s.execute(
                f"DELETE FROM {table} WHERE sync_name = {sync} "
                "AND row_key IN (SELECT row_key FROM activate_stage WHERE action = 'intent')"
            )
            s.execute(
                f"INSERT INTO {table} (sync_name, row_key, row_hash, run_id, created_at) "
                f"SELECT {sync}, row_key, row_hash, {run}, {now} FROM activate_stage WHERE action = 'intent'"
            )

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
        from activate.state.store import record_results

        with self.transaction() as conn:
            for batch in batches:
                record_results(conn, batch)
        for batch in batches:
            self.warehouse.apply(batch)

    def record_intents(self, sync_name: str, run_id: str, rows: Sequence[tuple[str, str]], now: Any) -> None:
        self.warehouse.record_intents(sync_name, run_id, rows, now.isoformat())

    def reset(self, sync_name: str) -> int:
        super().reset(sync_name)
        return self.warehouse.reset(sync_name)

    def state_count(self, sync_name: str) -> int:
        return self.warehouse.count(sync_name)

    def dispose(self) -> None:
        try:
            self.warehouse.session.close()
        finally:
            super().dispose()


def open_state_store(project: Project, sync: LoadedSync, run_id: str | None = None) -> StateStore:
    """The store a run of `sync` records into: the project's, with the per-row state in the warehouse when the
    sync says `state: warehouse`.
    """
    from activate.sources.snowflake import query_tag

    url = project.spec.state.url
    target = native_target(project, sync)
    if target is None or not target.separate_state:
        return StateStore(url, project_root=project.root)
    if isinstance(target.connection, DuckDBConnection) and target.connection.read_only:
        raise UsageError(f"sync '{sync.name}' has state: warehouse, but its DuckDB warehouse is opened read_only")
    session = open_session(target, project.root, query_tag(sync.name, run_id))
    return WarehouseStateStore(url, project_root=project.root, warehouse=WarehouseState(session, target))
