"""What recorded results change in the per-row state tables, written once for every state store.

A flush of written batches (`RecordedBatch`) becomes rows of a staging table (`activate_stage`: action, row_key,
row_hash, destination_id, error_code, stamped_at, fields), loaded in bulk; then a handful of set-based statements apply
them: DELETE ... IN (SELECT from the stage) and INSERT ... SELECT, one per table, never one statement per row.
The same SQL runs on the local DuckDB or Postgres state store (`ConnectionStage`, over a SQLAlchemy connection)
and on a warehouse's per-row state (`activate.state.warehouse`, over a `WarehouseSession`): both are a `Stage`.

Rules (the state invariants):
- state advances only for `succeeded` rows (and `skipped` ones when the batch says `advance_skipped`), to the data
  hash that was sent; a succeeded delete, or a key in `forget`, drops the row's state;
- a row keeps its stored destination id when its result carries none (a skipped row, an update without an id),
  and its confirmed field values when the write brings none (a skipped row, a row reconciled after a crash);
- a `rejected` row is remembered with the hash it was rejected with, until it succeeds or is skipped;
- any settled row (not `failed`) clears its rejection and its intent; a deleted row clears its intent.
Delete-then-insert (not MERGE or ON CONFLICT) reads the same on every dialect; the caller runs it in one
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from activate.rows import Operation, RowResult, RowStatus

if TYPE_CHECKING:
    import sqlalchemy as sa

STAGE = "activate_stage"
STAGE_COLUMNS = ("action", "row_key", "row_hash", "destination_id", "error_code", "stamped_at", "fields")


@dataclass(frozen=True)
class WrittenRow:
    """What one row's write leaves field by field, should it succeed (`activate.fieldstate` builds it).

    `fields`: the confirmed field values after the write, canonical JSON (None: keep the stored ones).
    `changes`: the audit's `changed_fields` JSON (None: nothing known field by field, e.g. a created record).
    `previous_hash`: the row's state hash before the run (None: the row had no state).
    """

    fields: str | None = None
    changes: str | None = None
    previous_hash: str | None = None


@dataclass(frozen=True)
class RecordedBatch:
    """What one written batch changes in the state store.

    `results` are the audit rows, each stamped with its operation (`RowResult.with_operation`); `hashes` gives each
    row's data hash; `forget` lists keys whose state is dropped without a write (rows removed from a non-mirror
    sync); `advance_skipped` advances state for skipped rows too (insert mode's changed rows).
    """

    sync_name: str
    run_id: str
    config_hash: str
    now: datetime
    results: Sequence[RowResult]
    hashes: dict[str, str]
    forget: Sequence[str] = ()
    advance_skipped: bool = False
    written: Mapping[str, WrittenRow] = field(default_factory=dict)


class Stage(Protocol):
    """Where staged changes are loaded and applied: a SQL connection inside a transaction."""

    timestamp_type: str

    def literal(self, text: str) -> str: ...

    def execute(self, sql: str) -> None: ...

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...


@dataclass(frozen=True)
class StateTables:
    """The (schema-qualified) names of the per-row state tables a stage applies to."""

    state: str = "activate_state"
    rejections: str = "activate_rejections"
    intents: str = "activate_intents"

    @classmethod
    def in_schema(cls, schema: str | None) -> StateTables:
        prefix = f"{schema}." if schema else ""
        return cls(f"{prefix}activate_state", f"{prefix}activate_rejections", f"{prefix}activate_intents")


def create_stage_sql() -> str:
    columns = ", ".join(f"{c} VARCHAR" for c in STAGE_COLUMNS)
    return f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} ({columns})"


def stage_rows(batches: Sequence[RecordedBatch]) -> list[tuple[str | None, ...]]:
    """The staged actions of some batches: advance, delete, reject and settle rows (see the module's rules).

    A key staged twice for one action (in two batches of one flush) is staged once: the later batch wins.
    """
    rows: list[tuple[str | None, ...]] = []
    append = rows.append  # a flush stages tens of thousands of rows: this loop is the recorder's hot path
    succeeded, skipped, rejected, failed, delete = (
        RowStatus.SUCCEEDED,
        RowStatus.SKIPPED,
        RowStatus.REJECTED,
        RowStatus.FAILED,
        Operation.DELETE,
    )
    for batch in batches:
        stamped = _stamp(batch.now)
        hashes, written_rows, advance_skipped = batch.hashes, batch.written, batch.advance_skipped
        rows += [("delete", key, None, None, None, stamped, None) for key in batch.forget]
        for result in batch.results:
            operation = result.operation
            if operation is not None and operation in _LINK_OPERATIONS:
                continue  # a link's outcome lives in activate_associations, never in the row's own state
            key, status = result.key, result.status
            if status is succeeded and operation is delete:
                append(("delete", key, None, None, None, stamped, None))
            elif status is succeeded or (status is skipped and advance_skipped):
                written = written_rows.get(key)
                fields = written.fields if written is not None else None
                append(("advance", key, hashes[key], result.destination_id, None, stamped, fields))
            elif status is rejected:
                append(("reject", key, hashes.get(key, ""), None, result.error_code, stamped, None))
            if status is not failed:
                append(("settle", key, None, None, None, stamped, None))
    latest = {(row[0], row[1]): row for row in rows}
    return list(latest.values())


def apply_state_changes(stage: Stage, tables: StateTables, batches: Sequence[RecordedBatch]) -> None:
    """Apply the batches' state changes set-based. All batches belong to one run (one sync, one config hash)."""
    rows = stage_rows(batches)
    if not rows:
        return
    first = batches[0]
    if any(
        (b.sync_name, b.run_id, b.config_hash) != (first.sync_name, first.run_id, first.config_hash) for b in batches
    ):
        raise ValueError("recorded batches of one flush must belong to one run")
    sync, cfg, run_id = stage.literal(first.sync_name), stage.literal(first.config_hash), stage.literal(first.run_id)
    stamped = _timestamp(stage, "stamped_at")
    actions = {row[0] for row in rows}
    stage.execute(f"DELETE FROM {STAGE}")
    stage.insert_rows(STAGE, STAGE_COLUMNS, rows)
    if "advance" in actions:
        # a skipped row keeps the id it has; a confirmed write stores the id the destination returned; a row whose
        # write brings no field values (skipped, reconciled) keeps the confirmed ones
        stage.execute(
            f"UPDATE {STAGE} SET destination_id = coalesce({STAGE}.destination_id, t.destination_id), "
            f"fields = coalesce({STAGE}.fields, t.fields) FROM {tables.state} t "
            f"WHERE {STAGE}.action = 'advance' AND ({STAGE}.destination_id IS NULL OR {STAGE}.fields IS NULL) "
            f"AND t.sync_name = {sync} AND t.row_key = {STAGE}.row_key"
        )
    for table, kinds in (
        (tables.state, "'advance', 'delete'"),
        (tables.rejections, "'settle', 'reject'"),
        (tables.intents, "'settle', 'delete'"),
    ):
        stage.execute(
            f"DELETE FROM {table} WHERE sync_name = {sync} "
            f"AND row_key IN (SELECT row_key FROM {STAGE} WHERE action IN ({kinds}))"
        )
    if "advance" in actions:
        stage.execute(
            f"INSERT INTO {tables.state} (sync_name, row_key, row_hash, config_hash, destination_id, last_run_id, "
            f"synced_at, fields) SELECT {sync}, row_key, row_hash, {cfg}, destination_id, {run_id}, {stamped}, fields "
            f"FROM {STAGE} WHERE action = 'advance'"
        )
    if "reject" in actions:
        stage.execute(
            f"INSERT INTO {tables.rejections} (sync_name, row_key, row_hash, config_hash, run_id, error_code, "
            f"rejected_at) SELECT {sync}, row_key, row_hash, {cfg}, {run_id}, error_code, {stamped} "
            f"FROM {STAGE} WHERE action = 'reject'"
        )


def apply_intents(
    stage: Stage, tables: StateTables, sync_name: str, run_id: str, rows: Sequence[tuple[str, str]], now: datetime
) -> None:
    """Before a non-idempotent write: remember (row_key, row_hash) so a crash is reconciled next run."""
    if not rows:
        return
    sync, run, stamped = stage.literal(sync_name), stage.literal(run_id), _stamp(now)
    stage.execute(f"DELETE FROM {STAGE}")
    stage.insert_rows(
        STAGE, STAGE_COLUMNS, [("intent", k, h, None, None, stamped, None) for k, h in dict(rows).items()]
    )
    stage.execute(
        f"DELETE FROM {tables.intents} WHERE sync_name = {sync} "
        f"AND row_key IN (SELECT row_key FROM {STAGE} WHERE action = 'intent')"
    )
    stage.execute(
        f"INSERT INTO {tables.intents} (sync_name, row_key, row_hash, run_id, created_at) "
        f"SELECT {sync}, row_key, row_hash, {run}, {_timestamp(stage, 'stamped_at')} FROM {STAGE} "
        "WHERE action = 'intent'"
    )


def _stamp(now: datetime) -> str:
    # ISO with a space: every dialect (and SQLAlchemy's SQLite DateTime) reads it back as the same instant
    return now.isoformat(sep=" ")


def _timestamp(stage: Stage, column: str) -> str:
    return f"CAST({column} AS {stage.timestamp_type})" if stage.timestamp_type else column


class ConnectionStage:
    """A `Stage` over a SQLAlchemy connection of the project's state store (DuckDB, Postgres or SQLite)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.timestamp_type = {"duckdb": "TIMESTAMPTZ", "postgresql": "TIMESTAMPTZ"}.get(self.dialect, "")
        conn.exec_driver_sql(create_stage_sql())

    def literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def execute(self, sql: str) -> None:
        self.conn.exec_driver_sql(sql)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        names = ", ".join(columns)
        if self.dialect == "duckdb":
            # through Arrow: DuckDB's executemany costs milliseconds per row
            import pyarrow as pa

            native = self.conn.connection.driver_connection
            assert native is not None
            values = list(zip(*rows, strict=True))  # one column per tuple position
            data = pa.table({c: pa.array(v, pa.string()) for c, v in zip(columns, values, strict=True)})
            native.register("activate_in_rows", data)
            try:
                self.conn.exec_driver_sql(f"INSERT INTO {table} ({names}) SELECT {names} FROM activate_in_rows")
            finally:
                native.unregister("activate_in_rows")
            return
        import sqlalchemy as sa

        params = ", ".join(f":{c}" for c in columns)
        self.conn.execute(
            sa.text(f"INSERT INTO {table} ({names}) VALUES ({params})"),
            [dict(zip(columns, row, strict=True)) for row in rows],
        )


def append_results(conn: sa.Connection, batches: Sequence[RecordedBatch]) -> None:
    """Append the batches' results to `activate_row_results` in bulk (one Arrow insert on DuckDB, one executemany
    elsewhere)."""
    names = (
        "run_id", "sync_name", "row_key", "operation", "status", "destination_id", "error_code", "error_message",
        "attempts", "recorded_at", "changed_fields", "previous_hash",
    )  # fmt: skip
    columns: dict[str, list[Any]] = {name: [] for name in names}
    (run_ids, syncs, keys, operations, statuses, ids, codes, messages, attempts, stamps, changed, previous) = (
        columns[name] for name in names
    )
    for b in batches:
        written_rows = b.written
        for r in b.results:
            run_ids.append(b.run_id)
            syncs.append(b.sync_name)
            keys.append(r.key)
            operations.append(_operation_text(r))
            statuses.append(r.status.value)
            ids.append(r.destination_id)
            codes.append(r.error_code)
            messages.append(r.error_message)
            attempts.append(r.attempts)
            stamps.append(b.now)
            w = written_rows.get(r.key)
            # what a write changed is known only once it is confirmed
            changed.append(w.changes if w is not None and r.status in _CONFIRMED else None)
            previous.append(w.previous_hash if w is not None else None)
    if not keys:
        return
    if conn.dialect.name == "duckdb":
        import pyarrow as pa

        native = conn.connection.driver_connection
        assert native is not None
        types = {"attempts": pa.int64(), "recorded_at": pa.timestamp("us", tz="UTC")}
        table = pa.table({name: pa.array(values, types.get(name, pa.string())) for name, values in columns.items()})
        native.register("activate_in_results", table)
        try:
            listed = ", ".join(columns)
            conn.exec_driver_sql(
                f"INSERT INTO activate_row_results ({listed}) SELECT {listed} FROM activate_in_results"
            )
        finally:
            native.unregister("activate_in_results")
        return
    from activate.state import schema

    conn.execute(
        schema.row_results.insert(),
        [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)],
    )


_CONFIRMED = (RowStatus.SUCCEEDED, RowStatus.SKIPPED)
_LINK_OPERATIONS = frozenset(op for op in Operation if op.is_link)


def _operation_text(result: RowResult) -> str:
    if result.operation is None:
        raise ValueError(f"row result for {result.key!r} has no operation; stamp it with with_operation()")
    return result.operation.value
