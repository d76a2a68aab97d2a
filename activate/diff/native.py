"""Warehouse-native diff: the snapshot, its hashes and the diff run as SQL in the warehouse; only changed rows leave.

Selected by `activate.warehouse.target.native_target` (a `state: warehouse` sync, or a state store that is the
Postgres warehouse the sync reads). The same SQL serves DuckDB, Postgres and Snowflake through a warehouse session
(`activate.warehouse`); `activate.diff.dialects` holds the per-dialect canonical value rendering.

`NativeDiff` has the read interface of `DiffWorkspace` (`diff`, `planned`, `sample`, `invalid_rows`, `close`), so
the engine's write loop is the same for both. It counts the rows and bytes it fetches (`rows_fetched`,
`bytes_fetched`, plus the few `sample_rows` a plan shows) and logs them when closed: with 0.5% changed rows,
0.5% of the rows travel.
The per-row state it diffs against is written by `activate.state.warehouse`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from activate.diff.canonical import JsonKind, staged_name
from activate.diff.classify import (
    classify_sql,
    counts_sql,
    dupes_sql,
    duplicate_matches_sql,
    invalid_sql,
    synced_count_sql,
    totals_sql,
)
from activate.diff.dialects import payload_sql, snapshot_select
from activate.diff.outcome import DiffCounts, InvalidRow, MatchField, PlannedRow
from activate.warehouse.session import WarehouseSession
from activate.warehouse.target import NativeTarget

logger = logging.getLogger(__name__)


class PlannedDiff(Protocol):
    """What the engine reads from a diff, local (`DiffWorkspace`) or warehouse-native (`NativeDiff`)."""

    def planned(self, kinds: Sequence[str], chunk: int = 5_000) -> Iterator[list[PlannedRow]]: ...

    def sample(self, kind: str, limit: int) -> list[PlannedRow]: ...

    def invalid_rows(self, chunk: int = 5_000) -> Iterator[list[InvalidRow]]: ...

    def close(self) -> None: ...


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
        self._fields_kept = False

    def stage_snapshot(self, query: str, key_columns: Sequence[str], hashed_columns: Sequence[str]) -> None:
        """Materialise the snapshot (key, hash, canonical texts) as a temporary table: nothing is fetched."""
        self._hashed = sorted(hashed_columns)
        select, self._kinds = snapshot_select(self.session, query, key_columns, self._hashed)
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
        self._fields_kept = self._has_fields()
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
        state_rows = int(self.session.fetchone(synced_count_sql(state, intents))[0] or 0)
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
        payload = payload_sql(self.session, self._hashed, self._kinds, "s")
        # the confirmed field values (`activate.fieldstate`), read in the warehouse for the planned rows only
        previous, version, join = "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)", ""
        if self._fields_kept:
            previous, version = "p.fields", "p.last_run_id"
            join = (
                f" LEFT JOIN {self.target.table('activate_state')} p "
                f"ON p.sync_name = {self.session.literal(self.sync_name)} AND p.row_key = o.row_key"
            )
        return (
            "SELECT o.row_key, o.kind, o.row_hash, "
            f"CASE WHEN s.row_number IS NULL THEN NULL ELSE {payload} END AS payload, "
            f"o.destination_id, o.has_intent, o.intent_hash, o.previous_hash, {previous} AS previous_fields, "
            f"{version} AS previous_run "
            f"FROM activate_ops o LEFT JOIN activate_snapshot s ON s.row_number = o.row_number{join}"
        )

    def _has_fields(self) -> bool:
        """Whether the warehouse's state table keeps field values (one made before field-level state does not).
        Asked once, by `diff`: the session cannot run a statement while it streams planned rows."""
        if not self._has_state:
            return False
        table = self.target.table("activate_state")
        columns = self.session.result_columns(f"SELECT * FROM {table} WHERE 1 = 0")
        return "fields" in {name.lower() for name, _ in columns}

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
    key, kind, row_hash, payload, destination_id, has_intent, intent_hash, previous_hash, fields, version = row
    return PlannedRow(
        key, kind, row_hash, payload, destination_id, bool(has_intent), intent_hash, previous_hash, fields, version
    )
