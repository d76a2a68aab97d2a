"""Snowflake reader on snowflake-connector-python: key-pair auth by default, Arrow batches out, queries tagged.

Auth and connection arguments are the warehouse layer's (`activate.warehouse.snowflake`), shared with the
warehouse-native diff; they are re-exported here.

Every session carries `QUERY_TAG = 'activate:<sync>:<run_id>'` so users can find and cost a sync's queries in
Snowflake's query history. The tag is sent as a login session parameter (the session is opened lazily, at the
first query, so `set_query_tag` can still change it); after login it is changed with `ALTER SESSION`.

Rows stream through `cursor.fetch_arrow_batches()`: one result chunk at a time, never the whole result. VARIANT,
OBJECT and ARRAY columns arrive as JSON text and are canonicalised (sorted keys) and tagged `json`, so the diff
hashes them as nested JSON, not as strings.

What fakesnow (0.12.1) cannot cover, and so is tested only against real Snowflake:
- in-process `fakesnow.patch()` cursors have no Arrow result API: the reader falls back to `fetchmany` (still
  streamed, converted column-wise); the Arrow path is exercised through fakesnow's server mode;
- `ALTER SESSION SET QUERY_TAG` is not implemented (the login session parameter is, hence the lazy session);
- key-pair auth is accepted without checking the key (the JWT is built and sent, but not verified);
- column names: fakesnow upper-cases quoted aliases in cursor metadata (`select 1 as "id"` describes as `ID`)
  while its Arrow results keep `id`; real Snowflake keeps `id` in both. Tests use unquoted (upper-case) names;
- warehouse suspension, result chunk downloads from cloud storage, and query timeouts do not exist there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activate.errors import SourceError
from activate.sources.arrow import JSON_METADATA_KEY, rows_to_arrow
from activate.sources.config import SnowflakeConnection
from activate.warehouse.refusal import open_with_reread
from activate.warehouse.snowflake import connect, connect_arguments, load_private_key, query_tag
from activate.warehouse.snowflake import snowflake_message as _message

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SnowflakeReader", "connect_arguments", "load_private_key", "query_tag"]

# Snowflake's result type codes (snowflake.connector.constants.FIELD_TYPES) for semi-structured columns.
_SEMI_STRUCTURED_CODES = {5, 9, 10}
_SEMI_STRUCTURED_LOGICAL = {b"VARIANT", b"OBJECT", b"ARRAY", b"MAP"}


def _limit_zero(query: str) -> str:
    return f"select * from ({query.strip().rstrip(';')}) as activate_q limit 0"


class SnowflakeReader:
    """Reads a Snowflake query as Arrow batches. The session opens at the first query and closes with `close()`."""

    def __init__(
        self,
        connection: SnowflakeConnection,
        project_root: Path,
        *,
        sync_name: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self._connection = connection
        self._root = project_root
        self._tag = query_tag(sync_name, run_id)
        self._con: Any = None

    def set_query_tag(self, sync_name: str, run_id: str | None) -> None:
        """Tag this session's queries with the sync and run that issue them."""
        self._tag = query_tag(sync_name, run_id)
        if self._con is not None:
            self._execute(self._con.cursor(), "ALTER SESSION SET QUERY_TAG = %s", (self._tag,))

    @property
    def session(self) -> Any:
        """The connector connection (opened on first use)."""
        if self._con is None:
            # a login refused with provider secrets re-reads them once (`activate.warehouse.refusal`)
            self._con = open_with_reread(self._connection, lambda current: connect(current, self._root, self._tag))
        return self._con

    def _execute(self, cursor: Any, sql: str, params: Any = None) -> Any:
        import snowflake.connector

        try:
            return cursor.execute(sql, params) if params is not None else cursor.execute(sql)
        except snowflake.connector.errors.Error as exc:
            raise SourceError(_message(exc)) from exc

    def columns(self, query: str) -> list[str]:
        """Column names from the result metadata (`describe`: compiled, not executed)."""
        import snowflake.connector

        cursor = self.session.cursor()
        try:
            metadata = cursor.describe(_limit_zero(query))
        except snowflake.connector.errors.Error as exc:
            raise SourceError(_message(exc)) from exc
        finally:
            cursor.close()
        return [m.name for m in metadata or []]

    def batches(self, query: str, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        import snowflake.connector

        cursor = self.session.cursor()
        try:
            self._execute(cursor, query)
            semi = {d.name for d in cursor.description or [] if d.type_code in _SEMI_STRUCTURED_CODES}
            fetch = getattr(cursor, "fetch_arrow_batches", None)
            try:
                if fetch is not None:
                    for table in fetch():
                        for batch in table.to_batches(max_chunksize=batch_size):
                            yield _normalise(batch, semi)
                else:
                    yield from self._fetchmany_batches(cursor, batch_size, semi)
            except snowflake.connector.errors.Error as exc:
                raise SourceError(_message(exc)) from exc
        finally:
            cursor.close()

    def _fetchmany_batches(self, cursor: Any, batch_size: int, semi: set[str]) -> Iterator[pa.RecordBatch]:
        """For connectors without an Arrow result API (fakesnow's in-process cursor): rows, converted per column."""
        names = [d.name for d in cursor.description]
        while True:
            rows = cursor.fetchmany(batch_size)
            if not rows:
                return
            yield _normalise(rows_to_arrow(names, rows), semi)

    def close(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            finally:
                self._con = None


def _normalise(batch: pa.RecordBatch, semi_structured: set[str]) -> pa.RecordBatch:
    """Semi-structured columns become canonical JSON text tagged `json`; the rest pass through untouched."""
    import pyarrow as pa

    if not any(_is_semi_structured(f, semi_structured) for f in batch.schema):
        return batch
    arrays = []
    fields = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if _is_semi_structured(field, semi_structured):
            # Snowflake pretty-prints VARIANT text; only this column's values take the Python round trip
            values = [None if v is None else json.dumps(json.loads(v), sort_keys=True) for v in column.to_pylist()]
            arrays.append(pa.array(values, pa.string()))
            fields.append(pa.field(field.name, pa.string(), metadata={JSON_METADATA_KEY: b"json"}))
        else:
            arrays.append(column)
            fields.append(field)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _is_semi_structured(field: pa.Field, names: set[str]) -> bool:
    logical = (field.metadata or {}).get(b"logicalType")
    return field.name in names or logical in _SEMI_STRUCTURED_LOGICAL
