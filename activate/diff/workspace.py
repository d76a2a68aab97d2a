"""The per-run diff workspace: an in-memory DuckDB database, spilling to a private directory, where the snapshot is
staged and diffed.

Why a separate workspace rather than a temp table in the state store: a DuckDB state file admits one writing
process at a time, and a run that kept it open for its whole write phase would lock out `activate runs` and every
other sync. The workspace is private to the run; the sync's state is brought in next to the snapshot (attached
read-only when the state store is DuckDB, streamed in as Arrow otherwise), the diff is one set-based SQL statement,
and the state store is only touched again in short per-batch transactions.

The snapshot is staged in one streaming pass and keeps only what the diff needs (key, hash, why a row cannot be
sent, and the row's number where rows stream in batches):
- a DuckDB warehouse is attached read-only and the query runs inside the workspace: one parallel statement, no
  Arrow round trip, no row numbers (a numbering window runs on one thread; rows that cannot be sent, if any, are
  numbered by a second read of the query without hashing). Payloads are read again, for the planned rows only, by
  joining them back to the query (`canonical.payload_rescan`); the file cannot change in between (a read-only
  attachment shuts out writers);
- any other source streams Arrow batches; their canonical texts are staged with the key and hash, since the
  source may not give the same rows twice.

Memory is bounded by `memory_limit` (default 512 MB, `ACTIVATE_DIFF_MEMORY_LIMIT`): past it DuckDB spills to
the workspace directory, so the cost stays linear in rows and a 30M-row first plan fits in 1 GB.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activate.clock import SYSTEM_CLOCK, Clock
from activate.diff.canonical import (
    DUCKDB_SHAPES,
    JsonKind,
    Shapes,
    invalid_select,
    key_sql,
    literal,
    payload_rescan,
    payload_sql,
    quote,
    shapes_of,
    snapshot_select,
    staged_name,
)
from activate.diff.classify import (
    classify_sql,
    counts_sql,
    dupes_sql,
    duplicate_matches_sql,
    invalid_sql,
    match_hash_sql,
    numbered_invalid_sql,
    synced_count_sql,
    totals_sql,
)
from activate.diff.outcome import DiffCounts, InvalidRow, MatchField, PlannedRow
from activate.diff.previous import stage_previous
from activate.diff.state_input import StateInput
from activate.errors import SourceError
from activate.warehouse.duckdb import duckdb_memory_limit

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from activate.state.store import StateReader

# The workspace's own catalog: a query on an attached warehouse runs with that warehouse as the default catalog
# (so its names resolve exactly as on a direct connection), hence every workspace table is named in full.
_WS = "memory.main"
_SOURCE_ALIASES_TAKEN = {"memory", "temp", "system", "main", "activate_state_db"}
_MATCH_HASH = "match_hash"  # a query's match values, trimmed, lowered and hashed while staging (`dupes_sql`)
_PLANNED = (
    "row_key",
    "kind",
    "destination_id",
    "has_intent",
    "intent_hash",
    "previous_hash",
    "previous_fields",
    "previous_run",
)

__all__ = ["DiffCounts", "DiffWorkspace", "InvalidRow", "MatchField", "PlannedRow"]


@dataclass(frozen=True)
class _Rescan:
    """A source the workspace can read again for payloads: the query and the canonical rules of its columns."""

    query: str
    schema: Shapes
    key_columns: tuple[str, ...]


class DiffWorkspace:
    """Stage a snapshot, bring in the sync's state, diff them in SQL, then stream out the planned rows."""

    def __init__(self, directory: Path | None = None, memory_limit: str | None = None) -> None:
        import duckdb

        self._dir = Path(tempfile.mkdtemp(prefix="activate-diff-", dir=directory))
        limit = memory_limit or duckdb_memory_limit()
        self.con: duckdb.DuckDBPyConnection = duckdb.connect(
            ":memory:",
            config={
                "memory_limit": limit,
                "temp_directory": str(self._dir / "spill"),
                # row order is never relied on (planned rows are ordered by key), so DuckDB may stream freely
                "preserve_insertion_order": False,
                # the hash reads each canonical text twice; eliminating those common subexpressions saves nothing
                # measurable and costs time quadratic in the columns (5 s to plan a 1,000-column SELECT)
                "disabled_optimizers": "common_subexpressions",
            },
        )
        self.con.execute("SET TimeZone = 'UTC'")
        # a long statement would draw DuckDB's progress bar on stdout, inside `plan --json` output
        self.con.execute("SET enable_progress_bar = false")
        self._hashed: list[str] = []
        self._kinds: dict[str, JsonKind] = {}
        self._state = StateInput(self.con, _WS)
        self._typed: set[str] = set()
        self._source_path: str | None = None
        self._rescan: _Rescan | None = None
        self._match_hashed: str | None = None  # the column whose match values are hashed in the snapshot
        self._numbered_invalid = False  # a query's unsendable rows are in `invalid_numbered`
        self._samples: dict[str, list[PlannedRow]] | None = None
        self._sample_limit = 0

    # -- staging: a DuckDB warehouse, read in place -------------------------------------------------------------------

    def attach_duckdb(self, path: str, lock_timeout: float = 30.0, clock: Clock = SYSTEM_CLOCK) -> bool:
        """Attach a DuckDB warehouse file read-only as the default catalog. False when it cannot be done here (its
        name is one the workspace uses): the caller streams Arrow batches instead. While another process writes
        the file, attaching waits up to `lock_timeout` seconds (`warehouse.duckdb.wait_for_lock`)."""
        from activate.warehouse.duckdb import wait_for_lock

        alias = Path(path).stem
        if alias.lower() in _SOURCE_ALIASES_TAKEN:
            return False

        def attach() -> None:
            self.con.execute(f"ATTACH {literal(path)} AS {quote(alias)} (READ_ONLY)")
            self.con.execute(f"USE {quote(alias)}")

        wait_for_lock(path, attach, lock_timeout, clock)
        self._source_path = str(Path(path).resolve())
        return True

    def _query_shapes(self, query: str) -> Shapes:
        """The shape of each of the query's columns, read from its DuckDB types where they say it (no Arrow), else
        from the Arrow types: the same as the batches a DuckDB reader streams, so the same canonical SQL and hashes.
        """
        import duckdb

        relation = self.con.sql(f"SELECT * FROM ({_strip(query)}) activate_q LIMIT 0")
        ids = [t.id for t in relation.types]
        if all(i in DUCKDB_SHAPES for i in ids):
            return {name: DUCKDB_SHAPES[i] for name, i in zip(relation.columns, ids, strict=True)}
        try:
            to_table = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
            schema: pa.Schema = to_table().schema
        except duckdb.Error as exc:
            raise SourceError(str(exc).strip()) from exc
        return shapes_of(schema)

    def source_columns(self, query: str) -> list[str]:
        """The query's result columns, on the attached warehouse."""
        import duckdb

        try:
            return list(self._query_shapes(query))
        except duckdb.Error as exc:
            raise SourceError(str(exc).strip()) from exc

    def stage_query(
        self,
        query: str,
        key_columns: Sequence[str],
        hashed_columns: Sequence[str],
        match_column: str | None = None,
    ) -> int:
        """Key and hash every row of the query on the attached warehouse, in one statement; returns rows read.

        Of the canonical texts only the match column's is staged (duplicate match values are found in SQL).
        """
        import duckdb

        self._hashed = sorted(hashed_columns)
        schema = self._query_shapes(query)
        snapshot = snapshot_select(
            schema,
            key_columns,
            self._hashed,
            f"({_strip(query)}) activate_src",
            1,
            staged=[match_column] if match_column else [],
            extra={_MATCH_HASH: (match_column, match_hash_sql)} if match_column in self._hashed else None,
            numbered=False,  # hashed in parallel; rows that cannot be sent are numbered in `diff`, if any
        )
        self._kinds = snapshot.kinds
        try:
            self.con.execute(f"CREATE TABLE {_WS}.snapshot AS {snapshot.select}")
        except duckdb.Error as exc:
            raise SourceError(str(exc).strip()) from exc
        self._rescan = _Rescan(query, schema, tuple(key_columns))
        self._match_hashed = match_column if match_column in self._hashed else None
        return self._scalar(f"SELECT count(*) FROM {_WS}.snapshot")

    # -- staging: Arrow batches from any other source -----------------------------------------------------------------

    def stage_snapshot(
        self, batches: Iterator[pa.RecordBatch], key_columns: Sequence[str], hashed_columns: Sequence[str]
    ) -> int:
        """Hash and stage every batch; returns the number of rows read. `hashed_columns` are staged as text."""
        self._hashed = sorted(hashed_columns)
        staged = "".join(f", {staged_name(i)} VARCHAR" for i in range(len(self._hashed)))
        self.con.execute(
            f"CREATE TABLE {_WS}.snapshot (row_number BIGINT, row_key VARCHAR, row_hash VARCHAR, "
            f"invalid_reason VARCHAR{staged})"
        )
        rows = 0
        for batch in batches:
            if batch.num_rows == 0:
                continue
            select = snapshot_select(batch.schema, key_columns, self._hashed, "activate_batch", rows + 1)
            for name, kind in select.kinds.items():
                # a column that is all NULL in one batch says nothing about its type: a later batch decides
                null_typed = str(batch.schema.field(name).type) == "null"
                if name not in self._typed and not null_typed:
                    self._kinds[name] = kind
                    self._typed.add(name)
                self._kinds.setdefault(name, kind)
            self.con.register("activate_batch", batch)
            try:
                self.con.execute(f"INSERT INTO {_WS}.snapshot {select.select}")
            finally:
                self.con.unregister("activate_batch")
            rows += batch.num_rows
        return rows

    # -- the sync's state ---------------------------------------------------------------------------------------------

    def stage_state(self, reader: StateReader, sync_name: str) -> None:
        """Bring the sync's state, rejections and intents next to the snapshot (`activate.diff.state_input`)."""
        self._state.stage(reader, sync_name, self._source_path)

    def _stage_previous(self) -> None:
        """The confirmed field values of the rows the diff found changed or removed (`activate.diff.previous`)."""
        wanted = f"SELECT row_key FROM {_WS}.ops WHERE kind IN ('changed', 'removed')"
        stage_previous(self.con, f"{_WS}.previous", wanted, self._state.fields_view, self._state.reader)

    # -- diff -------------------------------------------------------------------------------------------------------

    def diff(
        self,
        config_hash: str,
        *,
        full_resync: bool = False,
        retry_rejected: bool = False,
        match: MatchField | None = None,
    ) -> DiffCounts:
        """Classify every row in one set-based pass; keeps only added, changed and removed rows in `ops`.

        `match`: the sync's match field and the column it reads, so rows sharing a match value are found.
        """
        con = self.con
        snapshot = f"{_WS}.snapshot"
        if self._rescan is not None:
            snapshot = f"(SELECT NULL::BIGINT AS row_number, * FROM {_WS}.snapshot)"  # numbered in _number_invalid
        staged_match = None
        if match is not None and match[0] in self._hashed:
            staged_match = (staged_name(self._hashed.index(match[0])), match[1])
        hashed = _MATCH_HASH if match is not None and match[0] == self._match_hashed else None
        con.execute(f"CREATE TABLE {_WS}.dupes AS {dupes_sql(f'{_WS}.snapshot', staged_match, match_hash=hashed)}")
        classified = classify_sql(
            snapshot=snapshot,
            dupes=f"{_WS}.dupes",
            state=f"{_WS}.state",
            rejections=f"{_WS}.rejections",
            intents=f"{_WS}.intents",
            config_hash=literal(config_hash),
            full_resync=full_resync,
            retry_rejected=retry_rejected,
        )
        con.execute(f"CREATE TABLE {_WS}.ops AS {classified}")
        counts = con.execute(counts_sql(f"{_WS}.ops")).fetchone()
        assert counts is not None
        added, changed, removed, held_back, config_changed = (int(c or 0) for c in counts)
        totals = con.execute(totals_sql(f"{_WS}.snapshot", f"{_WS}.dupes")).fetchone()
        assert totals is not None
        rows_read, valid = int(totals[0] or 0), int(totals[1] or 0)
        if rows_read > valid:
            self._number_invalid()
        state_rows = self._scalar(synced_count_sql(f"{_WS}.state", f"{_WS}.intents"))
        duplicate_match = self._scalar(duplicate_matches_sql(f"{_WS}.dupes"))
        self._stage_previous()
        self._state.detach()
        unchanged = valid - added - changed - held_back
        return DiffCounts(
            rows_read=rows_read,
            added=added,
            changed=changed,
            removed=removed,
            unchanged=unchanged,
            invalid=rows_read - valid,
            held_back=held_back,
            config_changed=config_changed,
            state_rows=state_rows,
            duplicate_match=duplicate_match,
        )

    def _number_invalid(self) -> None:
        """Rows of a query staged without numbers that cannot be sent, numbered by a second read of the query (no
        hashing, while the warehouse is attached): only a snapshot holding such rows pays for the one-thread
        numbering, and `invalid_rows` can be read after the warehouse is let go."""
        if self._rescan is None:
            return
        numbered = invalid_select(
            self._rescan.schema, self._rescan.key_columns, self._hashed, f"({_strip(self._rescan.query)}) activate_q"
        )
        self.con.execute(
            f"CREATE TABLE {_WS}.invalid_numbered AS {numbered_invalid_sql(f'({numbered})', f'{_WS}.dupes')}"
        )
        self._numbered_invalid = True

    def _scalar(self, sql: str) -> int:
        row = self.con.execute(sql).fetchone()
        return int(row[0]) if row else 0

    # -- reading the plan -------------------------------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor (its own connection to the workspace) with the workspace's session settings: the time zone
        (timestamps are rendered in UTC) and the attached warehouse as default catalog."""
        cursor = self.con.cursor()
        cursor.execute("SET TimeZone = 'UTC'")
        cursor.execute("SET enable_progress_bar = false")
        if self._source_path is not None:
            cursor.execute(f"USE {quote(Path(self._source_path).stem)}")
        return cursor

    def _select_planned(self, planned: str, keys: Sequence[str] | None = None) -> str:
        """row_key, kind, row_hash, payload, destination_id, has_intent, intent_hash, previous_hash, previous_fields
        of the rows of `planned` (a relation over `ops`); removed rows carry no payload. `keys`: the only keys
        `planned` holds, when few: the query is read again for those rows alone (a filter DuckDB applies to the
        key columns before reading the others) rather than joined whole."""
        columns = (
            "row_key, kind, row_hash, payload, destination_id, has_intent, intent_hash, previous_hash, "
            "previous_fields, previous_run"
        )
        # the confirmed field values of the planned rows that have them (changed and removed rows: `previous`)
        planned = (
            f"(SELECT o.*, p.fields AS previous_fields, p.last_run_id AS previous_run FROM {planned} o "
            f"LEFT JOIN {_WS}.previous p ON p.row_key = o.row_key)"
        )
        if self._rescan is None:
            payload = payload_sql(self._hashed, self._kinds, "s")
            return (
                f"SELECT o.row_key, o.kind, o.row_hash, CASE WHEN s.row_number IS NULL THEN NULL ELSE {payload} END "
                f"AS payload, o.destination_id, o.has_intent, o.intent_hash, o.previous_hash, o.previous_fields, "
                "o.previous_run "
                f"FROM {planned} o LEFT JOIN {_WS}.snapshot s ON s.row_number = o.row_number"
            )
        rescan = payload_rescan(
            self._rescan.schema,
            self._rescan.key_columns,
            self._hashed,
            self._rescan_relation(keys),
            f"(SELECT * FROM {planned} WHERE kind <> 'removed')",
            _PLANNED,
        )
        renamed = ", ".join(f"activate_{c} AS {c}" for c in _PLANNED)
        return (
            f"SELECT {columns} FROM (SELECT {renamed}, row_hash, payload FROM ({rescan})) "
            f"UNION ALL SELECT {columns.replace('payload', 'NULL::VARCHAR AS payload')} FROM {planned} "
            "WHERE kind = 'removed'"
        )

    def _rescan_relation(self, keys: Sequence[str] | None) -> str:
        assert self._rescan is not None
        query = f"({_strip(self._rescan.query)}) activate_q"
        if keys is None:
            return query
        key = key_sql(self._rescan.schema, self._rescan.key_columns)
        wanted = ", ".join(literal(k) for k in keys) or "NULL"
        return f"(SELECT * FROM {query} WHERE {key} IN ({wanted})) activate_q"

    def _fetch(self, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        cursor = self._cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(chunk):
                yield rows
        finally:
            cursor.close()

    def planned(self, kinds: Sequence[str], chunk: int = 5_000) -> Iterator[list[PlannedRow]]:
        """Rows to write, in chunks, held-back rows excluded; ordered by key so runs are reproducible."""
        kind_list = ", ".join(literal(k) for k in kinds)
        self._materialise_planned()
        if self._rescan is None:
            ops = f"(SELECT * FROM {_WS}.ops WHERE kind IN ({kind_list}) AND NOT held_back)"
            sql = f"{self._select_planned(ops)} ORDER BY row_key"
        else:
            sql = f"SELECT * FROM {_WS}.planned_rows WHERE kind IN ({kind_list}) ORDER BY row_key"
        for rows in self._fetch(sql, chunk):
            yield [PlannedRow(*r) for r in rows]

    def _materialise_planned(self) -> None:
        """Before the first write: read every planned row's payload from the attached warehouse in one join, then
        let the warehouse go, so a long write phase never keeps the file from its own writers (dbt, loaders)."""
        if self._rescan is None or self._source_path is None:
            return
        planned = f"(SELECT * FROM {_WS}.ops WHERE NOT held_back)"
        self.con.execute(f"CREATE TABLE {_WS}.planned_rows AS {self._select_planned(planned)}")
        self.con.execute("USE memory")
        self.con.execute(f"DETACH {quote(Path(self._source_path).stem)}")
        self._source_path = None

    def sample(self, kind: str, limit: int) -> list[PlannedRow]:
        """The first `limit` planned rows of a kind by key. Every kind's sample is read in one pass (a DuckDB
        warehouse is scanned once for all of them), each kind's rows picked by a top-N, never a full sort."""
        if self._samples is None or self._sample_limit < limit:
            detached = self._rescan is not None and self._source_path is None
            relation, where = (f"{_WS}.planned_rows", "") if detached else (f"{_WS}.ops", " AND NOT held_back")
            firsts = " UNION ALL ".join(
                f"(SELECT * FROM {relation} WHERE kind = {literal(k)}{where} ORDER BY row_key LIMIT {int(limit)})"
                for k in ("added", "changed", "removed")
            )
            # rows already materialised are read back as they are; otherwise their payloads are built now, reading
            # the query again for those few keys only
            keys = None if detached or self._rescan is None else self._keys_of(firsts)
            sql = f"SELECT * FROM ({firsts})" if detached else self._select_planned(f"({firsts})", keys)
            self._samples, self._sample_limit = {}, limit
            for rows in self._fetch(f"{sql} ORDER BY row_key", 1_000):
                for row in rows:
                    self._samples.setdefault(row[1], []).append(PlannedRow(*row))
        return self._samples.get(kind, [])[:limit]

    def _keys_of(self, relation: str) -> list[str]:
        return [r[0] for r in self.con.execute(f"SELECT row_key FROM ({relation})").fetchall()]

    def invalid_rows(self, chunk: int = 5_000) -> Iterator[list[InvalidRow]]:
        """Rows that cannot be sent, each with its reason."""
        if self._rescan is None:
            sql = invalid_sql(f"{_WS}.snapshot", f"{_WS}.dupes")
        elif self._numbered_invalid:
            sql = f"SELECT row_key, reason, code FROM {_WS}.invalid_numbered ORDER BY row_number"
        else:
            return
        for rows in self._fetch(sql, chunk):
            yield [InvalidRow(r[0], r[1], r[2]) for r in rows]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def close(self) -> None:
        try:
            self._state.detach()
            self.con.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> DiffWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _strip(query: str) -> str:
    return query.strip().rstrip(";")
