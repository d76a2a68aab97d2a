"""The sync's state next to the snapshot in the diff workspace: state rows, rejections, intents and confirmed field
values, as `<prefix>.state`, `.rejections`, `.intents` (and `.state_fields` for a state file).

A DuckDB state file is attached read-only and read in place through views until the diff is done (no copy; the
file is let go before any write, as a DuckDB file admits one writing process at a time); any other state store is
streamed in as Arrow tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from activate.diff.canonical import literal, quote
from activate.diff.previous import FieldValues

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from activate.state.reader import StateReader

_STATE_DB = "activate_state_db"


class StateInput:
    """Brings one sync's state into a workspace connection; `fields_view` or `reader` says where the confirmed
    field values are read (`activate.diff.previous`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, prefix: str) -> None:
        self.con = con
        self.prefix = prefix
        self.fields_view: str | None = None
        self.reader: tuple[FieldValues, str] | None = None
        self._attached = False

    def stage(self, reader: StateReader, sync_name: str, source_path: str | None) -> None:
        """Attach a DuckDB state file (the warehouse file itself when `source_path` is the same file), else stream."""
        if reader.is_duckdb and self._attach(reader, sync_name, source_path):
            return
        self._stream(reader, sync_name)

    def _stream(self, reader: StateReader, sync_name: str) -> None:
        import pyarrow as pa

        ws = self.prefix
        self.reader = (reader, sync_name)
        self.con.execute(
            f"CREATE TABLE {ws}.state (row_key VARCHAR, row_hash VARCHAR, config_hash VARCHAR, destination_id VARCHAR)"
        )
        self.con.execute(f"CREATE TABLE {ws}.rejections (row_key VARCHAR, row_hash VARCHAR, config_hash VARCHAR)")
        self.con.execute(f"CREATE TABLE {ws}.intents (row_key VARCHAR, row_hash VARCHAR)")
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
            self.con.execute(f"INSERT INTO {self.prefix}.{table} SELECT * FROM activate_in")
        finally:
            self.con.unregister("activate_in")

    def _attach(self, reader: StateReader, sync_name: str, source_path: str | None) -> bool:
        """Views over a DuckDB state file attached read-only (no copy). False when it cannot be attached."""
        import sqlalchemy as sa

        database = sa.engine.make_url(reader.url).database
        if not database or database == ":memory:":
            return False
        if not Path(database).exists():
            self._empty_views()
            return True
        catalog = _STATE_DB
        if source_path is not None and str(Path(database).resolve()) == source_path:
            catalog = quote(Path(database).stem)  # the warehouse file holds the state too: attached already
        else:

            def attach() -> None:
                self.con.execute(f"ATTACH {literal(database)} AS {_STATE_DB} (READ_ONLY)")

            reader._retry_busy(attach)
            self._attached = True
        tables = {r[0] for r in self.con.execute(f"SHOW TABLES FROM {catalog}").fetchall()}
        if "activate_state" not in tables:
            self._empty_views()
            return True
        name = literal(sync_name)
        present = {r[0] for r in self.con.execute(f"DESCRIBE {catalog}.main.activate_state").fetchall()}
        fields = "fields" if "fields" in present else "NULL::VARCHAR AS fields"  # a store from before v5
        for view, columns, table in (
            ("state", "row_key, row_hash, config_hash, destination_id", "activate_state"),
            ("state_fields", f"row_key, {fields}, last_run_id", "activate_state"),
            ("rejections", "row_key, row_hash, config_hash", "activate_rejections"),
            ("intents", "row_key, row_hash", "activate_intents"),
        ):
            self.con.execute(
                f"CREATE VIEW {self.prefix}.{view} AS SELECT {columns} FROM {catalog}.main.{table} "
                f"WHERE sync_name = {name}"
            )
        self.fields_view = f"{self.prefix}.state_fields"
        return True

    def _empty_views(self) -> None:
        for view, columns in (
            ("state", "row_key, row_hash, config_hash, destination_id"),
            ("rejections", "row_key, row_hash, config_hash"),
            ("intents", "row_key, row_hash"),
        ):
            nulls = ", ".join(f"NULL::VARCHAR AS {c}" for c in columns.split(", "))
            self.con.execute(f"CREATE VIEW {self.prefix}.{view} AS SELECT {nulls} WHERE false")

    def detach(self) -> None:
        """Let an attached state file go (the views over it first)."""
        if self._attached:
            for view in ("state", "state_fields", "rejections", "intents"):
                self.con.execute(f"DROP VIEW IF EXISTS {self.prefix}.{view}")
            self.con.execute(f"DETACH {_STATE_DB}")
            self._attached = False
