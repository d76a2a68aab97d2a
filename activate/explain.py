"""Explain one row of a sync: its source values, stored state, every result it had, and what the next run does.

    explanation = explain_row(project, "hubspot_contacts", "42", reader)
    explanation.next.action      # 'upsert' | 'update' | 'insert' | 'delete' | 'forget' | 'skip' | 'reject' | 'none'
    explanation.next.reason      # why, in a sentence

`activate explain SYNC KEY` renders it; the UI's row page can show the same record. The classification is the
diff's own: the row's source data is staged and hashed exactly as a run stages it (`DiffWorkspace`), its stored
state, rejection and intent are staged next to it, and `classify_sql` decides, so `explain` and `run` cannot
disagree about a row. Duplicate match values are the one thing a single row cannot show (they need the other rows).
A `state: warehouse` sync's per-row state is read from its warehouse; its row results, from the state store.

Finding the row: the sync's query is filtered to the key in the warehouse (`WHERE key = 'KEY'`, every column
compared to a string literal, which DuckDB, Postgres, SQLite and Snowflake coerce to the column's type); when the
warehouse refuses that comparison, the query is scanned and filtered by key text. `source.lookup` says which.
A composite key is given as the JSON array the state tables show (`[1,"eu"]`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from activate.errors import SourceError, UsageError
from activate.plan.plan import MODE_OPERATIONS
from activate.state.records import Intent, Rejection, RejectionRecord, RowHistoryRecord, StateRow, SyncedRowRecord

if TYPE_CHECKING:
    import pyarrow as pa

    from activate.config import LoadedSync, Project
    from activate.state.reader import StateReader
    from activate.warehouse.session import WarehouseSession
    from activate.warehouse.target import NativeTarget

FILTERED = "filtered in the warehouse"
SCANNED = "scanned (the warehouse refused a filter on the key)"


@dataclass(frozen=True)
class SourceRow:
    """The row as the sync's query returns it now. `rows` holds every row carrying the key (more than one is a
    duplicate key); `row_hash` is the hash a run would compute; `invalid_reason` why it cannot be sent."""

    found: bool
    lookup: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    row_hash: str | None = None
    invalid_reason: str | None = None


@dataclass(frozen=True)
class NextAction:
    """What the next run does with the row (`action`), why (`reason`), and the fields it would send."""

    action: str
    reason: str
    fields: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RowExplanation:
    """Everything `activate explain` says about one row of one sync."""

    sync: str
    key: str
    target: str | None
    source: SourceRow
    state: SyncedRowRecord | None
    rejection: RejectionRecord | None
    held_back: bool
    history: list[RowHistoryRecord]
    next: NextAction
    config_current: bool | None  # the stored state was written under the sync's current configuration

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.to_dict() if self.state else None
        data["rejection"] = self.rejection.to_dict() if self.rejection else None
        data["history"] = [h.to_dict() for h in self.history]
        return data


def explain_row(project: Project, sync_name: str, key: str, reader: StateReader) -> RowExplanation:
    """Explain row `key` of sync `sync_name`; reads the warehouse and the state store, writes nothing."""
    sync = project.sync(sync_name)
    batches, lookup = _source_batches(project, sync, key)
    rows: RowStateSource = reader
    warehouse = _warehouse_rows(project, sync)
    try:
        if warehouse is not None:
            rows = warehouse
        canonical, source, counts, planned = _classify(project, sync, key, batches, lookup, rows)
        state = rows.synced_row(sync_name, canonical)
        rejection = rows.rejection(sync_name, canonical)
        intent = rows.intent(sync_name, canonical)
    finally:
        if warehouse is not None:
            warehouse.close()
    history = reader.row_history(sync_name, canonical)  # row results stay in the project's state store
    config_hash = sync.config_hash
    held = bool(counts and counts.held_back)
    next_action = _next_action(sync, source, state, rejection, history, counts, planned, held, config_hash)
    if intent is not None:
        next_action.notes.append(
            "an interrupted run sent a create for this row without recording the result: the next run looks it up "
            "in the destination first and records it instead of creating it twice"
        )
    return RowExplanation(
        sync=sync_name,
        key=canonical,
        target=project.target,
        source=source,
        state=state,
        rejection=rejection,
        held_back=held,
        history=history,
        next=next_action,
        config_current=None if state is None else state.config_hash == config_hash,
    )


# -- the source ------------------------------------------------------------------------------------------------------


def _key_values(sync: LoadedSync, key: str) -> list[Any]:
    columns = sync.spec.source.key_columns
    return [key] if len(columns) == 1 else composite_key_values(key, columns, sync.name)


def composite_key_values(key: str, key_columns: Sequence[str], sync_name: str, *, label: str = "") -> list[Any]:
    """The values of a composite key given as JSON (`'[1,"eu"]'`), one per key column; a usage error otherwise
    (`label` prefixes it: which option gave the key)."""
    try:
        values = json.loads(key)
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, list) or len(values) != len(key_columns):
        example = json.dumps([f"<{c}>" for c in key_columns])
        raise UsageError(
            f"{label}sync '{sync_name}' has a composite key ({', '.join(key_columns)}): give it as {example}"
        )
    return values


def _filter_sql(sync: LoadedSync, values: Sequence[Any]) -> str:
    from activate.diff.canonical import literal, quote

    conditions = []
    for column, value in zip(sync.spec.source.key_columns, values, strict=True):
        name = column if column.isidentifier() and column.islower() else quote(column)
        conditions.append(f"{name} IS NULL" if value is None else f"{name} = {literal(str(value))}")
    query = sync.query.strip().rstrip(";")
    return f"SELECT * FROM ({query}) activate_q WHERE {' AND '.join(conditions)}"


def _source_batches(project: Project, sync: LoadedSync, key: str) -> tuple[list[pa.RecordBatch], str]:
    from activate.secrets.connections import new_session
    from activate.secrets.session import secret_scope
    from activate.sources.readers import open_reader

    values = _key_values(sync, key)
    with secret_scope(new_session(project)):  # a provider secret of the source is read once
        reader = open_reader(project.connection(sync.spec.source.connection), project.root)
        try:
            try:
                return [b for b in reader.batches(_filter_sql(sync, values)) if b.num_rows], FILTERED
            except SourceError:
                pass  # the warehouse would not compare the key column with text: scan the query instead
            try:
                found = [b for b in _scan(reader.batches(sync.query), sync, values) if b.num_rows]
            except SourceError as exc:
                raise SourceError(f"sync '{sync.name}': the query failed: {project.secrets.mask(str(exc))}") from exc
            return found, SCANNED
        finally:
            reader.close()


def _scan(batches: Iterator[pa.RecordBatch], sync: LoadedSync, values: Sequence[Any]) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.compute as pc

    for batch in batches:
        mask = None
        for column, value in zip(sync.spec.source.key_columns, values, strict=True):
            array = batch.column(column)
            test = pc.is_null(array) if value is None else pc.equal(pc.cast(array, pa.string()), str(value))
            mask = test if mask is None else pc.and_(mask, test)
        yield batch.filter(mask)


# -- the classification -----------------------------------------------------------------------------------------------


class RowStateSource(Protocol):
    """Where one row's stored state is read: the project's `StateReader`, or the warehouse (`state: warehouse`)."""

    def synced_row(self, sync_name: str, row_key: str) -> SyncedRowRecord | None: ...

    def rejection(self, sync_name: str, row_key: str) -> RejectionRecord | None: ...

    def intent(self, sync_name: str, row_key: str) -> Intent | None: ...


class WarehouseRowState:
    """One row's state, rejection and intent read from the warehouse of a `state: warehouse` sync (read only: a
    missing table is a row never synced, nothing is created)."""

    def __init__(self, session: WarehouseSession, target: NativeTarget) -> None:
        self.session = session
        self.target = target

    def _one(self, table: str, columns: str, sync_name: str, row_key: str) -> tuple[Any, ...]:
        name = self.target.table(table)
        if not self.session.table_exists(name):
            return ()
        literal = self.session.literal
        return self.session.fetchone(
            f"SELECT {columns} FROM {name} WHERE sync_name = {literal(sync_name)} AND row_key = {literal(row_key)}"
        )

    def synced_row(self, sync_name: str, row_key: str) -> SyncedRowRecord | None:
        columns = "sync_name, row_key, row_hash, config_hash, destination_id, last_run_id, synced_at"
        row = self._one("activate_state", columns, sync_name, row_key)
        return SyncedRowRecord(*row) if row else None

    def rejection(self, sync_name: str, row_key: str) -> RejectionRecord | None:
        columns = "sync_name, row_key, row_hash, config_hash, run_id, error_code, rejected_at"
        row = self._one("activate_rejections", columns, sync_name, row_key)
        return RejectionRecord(*row) if row else None

    def intent(self, sync_name: str, row_key: str) -> Intent | None:
        row = self._one("activate_intents", "row_key, row_hash, run_id", sync_name, row_key)
        return Intent(*row) if row else None

    def close(self) -> None:
        self.session.close()


def _warehouse_rows(project: Project, sync: LoadedSync) -> WarehouseRowState | None:
    """The warehouse holding the sync's per-row state (`state: warehouse`), or None for the project's store."""
    from activate.warehouse.snowflake import query_tag
    from activate.warehouse.target import native_target, open_session

    target = native_target(project, sync)
    if target is None or not target.separate_state:
        return None
    return WarehouseRowState(open_session(target, project.root, query_tag(sync.name, None)), target)


class _OneRowState:
    """The stored state, rejection and intent of one row, read like a StateReader so the workspace stages them."""

    is_duckdb = False

    def __init__(self, reader: RowStateSource, sync_name: str, key: str) -> None:
        state = reader.synced_row(sync_name, key)
        rejection = reader.rejection(sync_name, key)
        intent = reader.intent(sync_name, key)
        self._state = (
            [StateRow(state.row_key, state.row_hash, state.config_hash, state.destination_id)] if state else []
        )
        self._rejections = (
            [Rejection(rejection.row_key, rejection.row_hash, rejection.config_hash)] if rejection else []
        )
        self._intents = [intent] if intent else []
        self._fields = {state.row_key: (state.fields, state.last_run_id)} if state is not None else {}

    def state_fields(self, sync_name: str, keys: Sequence[str]) -> dict[str, tuple[str | None, str]]:
        return {k: v for k, v in self._fields.items() if k in keys}

    def state_rows(self, sync_name: str, batch_size: int = 100_000) -> Iterator[list[StateRow]]:
        if self._state:
            yield self._state

    def rejections(self, sync_name: str) -> list[Rejection]:
        return self._rejections

    def intents(self, sync_name: str) -> list[Intent]:
        return self._intents


def _classify(
    project: Project, sync: LoadedSync, key: str, batches: list[pa.RecordBatch], lookup: str, reader: RowStateSource
) -> tuple[str, SourceRow, Any, dict[str, Any]]:
    """(canonical key, source row, diff counts or None, planned row by kind) of the row staged as a run would."""
    from activate.diff.workspace import DiffWorkspace
    from activate.plan.mapping import RowMapping

    rows = [row for batch in batches for row in batch.to_pylist()]
    if not rows:
        canonical = key
        workspace = None
    else:
        used = RowMapping(sync.spec.destination).columns()
        columns = batches[0].schema.names
        hashed = sorted(columns if used is None else used)  # exactly what the plan builder hashes
        workspace = DiffWorkspace(directory=None)
    try:
        if workspace is None:
            return canonical, SourceRow(False, lookup), None, {}
        workspace.stage_snapshot(iter(batches), sync.spec.source.key_columns, hashed)
        staged = workspace.query("SELECT row_key, row_hash, invalid_reason FROM snapshot ORDER BY row_number")
        canonical = next((str(r[0]) for r in staged if r[0] is not None), key)
        workspace.stage_state(_OneRowState(reader, sync.name, canonical), sync.name)  # type: ignore[arg-type]
        counts = workspace.diff(sync.config_hash)
        invalid = [r.reason for chunk in workspace.invalid_rows() for r in chunk]
        planned = {kind: rows_[0] for kind in ("added", "changed") if (rows_ := workspace.sample(kind, 1))}
        source = SourceRow(True, lookup, rows, staged[0][1], invalid[0] if invalid else None)
        return canonical, source, counts, planned
    finally:
        if workspace is not None:
            workspace.close()


def _next_action(
    sync: LoadedSync,
    source: SourceRow,
    state: SyncedRowRecord | None,
    rejection: RejectionRecord | None,
    history: list[RowHistoryRecord],
    counts: Any,
    planned: dict[str, Any],
    held: bool,
    config_hash: str,
) -> NextAction:
    mode = sync.spec.destination.mode
    ops = MODE_OPERATIONS[mode]
    last = history[0] if history else None
    if not source.found:
        if state is None:
            return NextAction("none", "not in the source and not synced: nothing to send")
        if ops["removed"] is None:
            return NextAction(
                "forget",
                f"no longer in the source; mode {mode} leaves the destination record "
                f"{state.destination_id or ''} in place and forgets the row",
            )
        return NextAction(
            ops["removed"].value, f"no longer in the source; mode mirror deletes record {state.destination_id or '?'}"
        )
    if source.invalid_reason:
        return NextAction("reject", f"cannot be sent: {source.invalid_reason} (recorded as rejected INVALID_ROW)")
    if held and rejection is not None:
        code = f" {rejection.error_code}" if rejection.error_code else ""
        return NextAction(
            "none",
            f"held back: rejected{code} in run {rejection.run_id} with this same data; it is sent again when its data "
            "(or the sync's mapping) changes, or with --retry-rejected",
        )
    if counts is not None and counts.added:
        why = "not synced yet"
        if last is not None and last.status == "failed":
            why = f"its last attempt (run {last.run_id}) failed transiently: retried"
        elif rejection is not None:
            why = f"rejected in run {rejection.run_id}, and its data changed since: sent again"
        return _send(sync, ops["added"], why, planned.get("added"))
    if counts is not None and counts.changed:
        assert state is not None
        if state.config_hash != config_hash:
            why = (
                "the sync's configuration (destination, object, mode, match or mapping) changed: re-checked, "
                "re-sent where its fields render differently"
            )
        else:
            why = f"its data changed since run {state.last_run_id} synced it"
        if ops["changed"] is None:
            return NextAction("skip", f"{why}; mode insert never updates a record it created")
        return _send(sync, ops["changed"], why, planned.get("changed"))
    assert state is not None
    return NextAction("none", f"unchanged since run {state.last_run_id} synced it: no API call")


def _send(sync: LoadedSync, op: Any, why: str, planned: Any) -> NextAction:
    from activate.plan.mapping import RenderError, RowMapping, parse_payload

    fields = None
    notes: list[str] = []
    if planned is not None and planned.payload is not None:
        try:
            fields = RowMapping(sync.spec.destination).render(parse_payload(planned.payload))
        except RenderError as exc:
            return NextAction("reject", f"{why}, but its mapping cannot render: {exc} (RENDER_ERROR)")
    return NextAction(op.value, why, fields, notes)
