"""The per-run diff workspace: a DuckDB database in a temporary file where the snapshot is staged and diffed.

Why a separate workspace rather than a temp table in the state store: a DuckDB state file admits one writing
process at a time, and a run that kept it open for its whole write phase would lock out `activate runs` and every
other sync. The workspace is private to the run; the sync's state is brought in next to the snapshot (attached
read-only when the state store is DuckDB, streamed in as Arrow otherwise), the diff is one set-based SQL statement,
and the state store is only touched again in short per-batch transactions. Memory stays bounded: DuckDB spills to
the workspace directory past `memory_limit`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from activate.diff.canonical import JsonKind, literal, payload_sql, snapshot_select, staged_name
from activate.diff.classify import (
    DUPLICATE_KEY,
    classify_sql,
    counts_sql,
    dupes_sql,
    duplicate_matches_sql,
    invalid_sql,
    totals_sql,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from activate.state.store import StateReader


@dataclass(frozen=True)
class DiffCounts:
    """What the diff found."""

    rows_read: int
    added: int
    changed: int
    removed: int
    unchanged: int
    invalid: int
    held_back: int  # rejected earlier with the same data: not re-sent until the data changes
    config_changed: int  # rows synced under another configuration (re-sent once)
    state_rows: int
    duplicate_match: int = 0  # rows (among `invalid`) sharing their match value with a row of smaller key


@dataclass(frozen=True)
class PlannedRow:
    """A row the diff selected, as stored in the workspace."""

    row_key: str
    kind: str  # added | changed | removed
    row_hash: str | None
    payload: str | None
    destination_id: str | None
    has_intent: bool
    intent_hash: str | None


@dataclass(frozen=True)
class InvalidRow:
    """A snapshot row that cannot be sent: null key, duplicate key or match value, NaN, bytes."""

    row_key: str
    reason: str
    code: str = DUPLICATE_KEY


MatchField = tuple[str, str]  # (source column the match field reads, destination field name)


class DiffWorkspace:
    """Stage a snapshot, bring in the sync's state, diff them in SQL, then stream out the planned rows."""

    def __init__(self, directory: Path | None = None, memory_limit: str = "256MB") -> None:
        import duckdb

        self._dir = Path(tempfile.mkdtemp(prefix="activate-diff-", dir=directory))
        self.con: duckdb.DuckDBPyConnection = duckdb.connect(str(self._dir / "workspace.duckdb"))
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET memory_limit = {literal(memory_limit)}")
        self.con.execute(f"SET temp_directory = {literal(str(self._dir / 'spill'))}")
        self.con.execute("SET preserve_insertion_order = false")
        self._hashed: list[str] = []
        self._kinds: dict[str, JsonKind] = {}
        self._attached = False
        self._typed: set[str] = set()

    # -- staging ----------------------------------------------------------------------------------------------------

    def stage_snapshot(
        self, batches: Iterator[pa.RecordBatch], key_columns: Sequence[str], hashed_columns: Sequence[str]
    ) -> int:
        """Hash and stage every batch; returns the number of rows read. `hashed_columns` are staged as text."""
        self._hashed = sorted(hashed_columns)
        staged = "".join(f", {staged_name(i)} VARCHAR" for i in range(len(self._hashed)))
        self.con.execute(
            f"CREATE TABLE snapshot (row_number BIGINT, row_key VARCHAR, row_hash VARCHAR, invalid_reason VARCHAR"
            f"{staged})"
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
                self.con.execute(f"INSERT INTO snapshot {select.select}")
            finally:
                self.con.unregister("activate_batch")
            rows += batch.num_rows
        return rows

    def stage_state(self, reader: StateReader, sync_name: str) -> None:
        """Bring the sync's state, rejections and intents next to the snapshot.

        A DuckDB state file is attached read-only and read in place until `diff` is done; any other state store
        is streamed in as Arrow.
        """
        if reader.is_duckdb and self._attach_state(reader, sync_name):
            return
        import pyarrow as pa

        self.con.execute(
            "CREATE TABLE state (row_key VARCHAR, row_hash VARCHAR, config_hash VARCHAR, destination_id VARCHAR)"
        )
        self.con.execute("CREATE TABLE rejections (row_key VARCHAR, row_hash VARCHAR, config_hash VARCHAR)")
        self.con.execute("CREATE TABLE intents (row_key VARCHAR, row_hash VARCHAR)")
        for chunk in reader.state_rows(sync_name):
            table = pa.table(
                {
                    "row_key": [r.row_key for r in chunk],
                    "row_hash": [r.row_hash for r in chunk],
                    "config_hash": [r.config_hash for r in chunk],
                    "destination_id": pa.array([r.destination_id for r in chunk], pa.string()),
                }
            )
            self._insert_arrow("state", table)
        rejections = reader.rejections(sync_name)
        if rejections:
            keys, hashes, configs = zip(*rejections, strict=True)
            self._insert_arrow("rejections", pa.table({"row_key": keys, "row_hash": hashes, "config_hash": configs}))
        intents = reader.intents(sync_name)
        if intents:
            self._insert_arrow(
                "intents", pa.table({"row_key": [i[0] for i in intents], "row_hash": [i[1] for i in intents]})
            )

    def _insert_arrow(self, table: str, data: pa.Table) -> None:
        self.con.register("activate_in", data)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM activate_in")
        finally:
            self.con.unregister("activate_in")

    def _attach_state(self, reader: StateReader, sync_name: str) -> bool:
        """Views over a DuckDB state file attached read-only (no copy). False when it cannot be attached."""
        database = sa.engine.make_url(reader.url).database
        if not database or database == ":memory:":
            return False
        if not Path(database).exists():
            self._empty_state_views()
            return True

        def attach() -> None:
            self.con.execute(f"ATTACH {literal(database)} AS activate_state_db (READ_ONLY)")

        reader._retry_busy(attach)
        self._attached = True
        tables = {r[0] for r in self.con.execute("SHOW TABLES FROM activate_state_db").fetchall()}
        if "activate_state" not in tables:
            self._empty_state_views()
            return True
        name = literal(sync_name)
        self.con.execute(
            "CREATE TEMP VIEW state AS SELECT row_key, row_hash, config_hash, destination_id "
            f"FROM activate_state_db.activate_state WHERE sync_name = {name}"
        )
        self.con.execute(
            "CREATE TEMP VIEW rejections AS SELECT row_key, row_hash, config_hash "
            f"FROM activate_state_db.activate_rejections WHERE sync_name = {name}"
        )
        self.con.execute(
            "CREATE TEMP VIEW intents AS SELECT row_key, row_hash "
            f"FROM activate_state_db.activate_intents WHERE sync_name = {name}"
        )
        return True

    def _empty_state_views(self) -> None:
        self.con.execute(
            "CREATE TEMP VIEW state AS SELECT NULL::VARCHAR AS row_key, NULL::VARCHAR AS row_hash, "
            "NULL::VARCHAR AS config_hash, NULL::VARCHAR AS destination_id WHERE false"
        )
        self.con.execute(
            "CREATE TEMP VIEW rejections AS SELECT NULL::VARCHAR AS row_key, NULL::VARCHAR AS row_hash, "
            "NULL::VARCHAR AS config_hash WHERE false"
        )
        self.con.execute(
            "CREATE TEMP VIEW intents AS SELECT NULL::VARCHAR AS row_key, NULL::VARCHAR AS row_hash WHERE false"
        )

    def _detach_state(self) -> None:
        if self._attached:
            for view in ("state", "rejections", "intents"):
                self.con.execute(f"DROP VIEW IF EXISTS {view}")
            self.con.execute("DETACH activate_state_db")
            self._attached = False

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
        staged_match = None
        if match is not None and match[0] in self._hashed:
            staged_match = (staged_name(self._hashed.index(match[0])), match[1])
        con.execute(f"CREATE TABLE dupes AS {dupes_sql('snapshot', staged_match)}")
        classified = classify_sql(
            snapshot="snapshot",
            dupes="dupes",
            state="state",
            rejections="rejections",
            intents="intents",
            config_hash=literal(config_hash),
            full_resync=full_resync,
            retry_rejected=retry_rejected,
        )
        con.execute(f"CREATE TABLE ops AS {classified}")
        counts = con.execute(counts_sql("ops")).fetchone()
        assert counts is not None
        added, changed, removed, held_back, config_changed = (int(c or 0) for c in counts)
        totals = con.execute(totals_sql("snapshot", "dupes")).fetchone()
        assert totals is not None
        rows_read, valid = int(totals[0] or 0), int(totals[1] or 0)
        state_rows = self._scalar("SELECT count(*) FROM state")
        duplicate_match = self._scalar(duplicate_matches_sql("dupes"))
        self._detach_state()
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

    def _scalar(self, sql: str) -> int:
        row = self.con.execute(sql).fetchone()
        return int(row[0]) if row else 0

    # -- reading the plan -------------------------------------------------------------------------------------------

    def planned(self, kinds: Sequence[str], chunk: int = 5_000) -> Iterator[list[PlannedRow]]:
        """Rows to write, in chunks, held-back rows excluded; ordered by key so runs are reproducible."""
        kind_list = ", ".join(literal(k) for k in kinds)
        cursor = self.con.cursor()
        cursor.execute(f"{self._select_planned()} WHERE o.kind IN ({kind_list}) AND NOT o.held_back ORDER BY o.row_key")
        try:
            while True:
                rows = cursor.fetchmany(chunk)
                if not rows:
                    return
                yield [PlannedRow(*r) for r in rows]
        finally:
            cursor.close()

    def _select_planned(self) -> str:
        payload = payload_sql(self._hashed, self._kinds, "s")
        return (
            "SELECT o.row_key, o.kind, o.row_hash, "
            f"CASE WHEN s.row_number IS NULL THEN NULL ELSE {payload} END AS payload, "
            "o.destination_id, o.has_intent, o.intent_hash "
            "FROM ops o LEFT JOIN snapshot s ON s.row_number = o.row_number"
        )

    def sample(self, kind: str, limit: int) -> list[PlannedRow]:
        rows = self.con.execute(
            f"{self._select_planned()} WHERE o.kind = {literal(kind)} AND NOT o.held_back "
            f"ORDER BY o.row_key LIMIT {int(limit)}"
        ).fetchall()
        return [PlannedRow(*r) for r in rows]

    def invalid_rows(self, chunk: int = 5_000) -> Iterator[list[InvalidRow]]:
        """Rows that cannot be sent, each with its reason."""
        cursor = self.con.cursor()
        cursor.execute(invalid_sql("snapshot", "dupes"))
        try:
            while True:
                rows = cursor.fetchmany(chunk)
                if not rows:
                    return
                yield [InvalidRow(r[0], r[1], r[2]) for r in rows]
        finally:
            cursor.close()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def close(self) -> None:
        try:
            self._detach_state()
            self.con.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> DiffWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
