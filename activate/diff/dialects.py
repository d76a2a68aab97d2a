"""The canonical rules of `activate.diff.canonical`, rendered as SQL in each warehouse dialect.

A warehouse session (`activate.warehouse`) describes a query's result columns in its driver's types; this module
turns each column into its canonical text (`ColumnSql`) and builds the snapshot SELECT (key, hash, canonical texts)
and the payload expression over it. The snapshot, the diff and the state changes are then one SQL text for all
three dialects (`activate.diff.native`, `activate.state.warehouse`).

Stability rule: an unchanged row must hash the same on every run, so no expression depends on session settings
(time zone, DateStyle, float digits): dates and timestamps are formatted explicitly and converted to UTC, and
Postgres sessions pin `extra_float_digits`. DuckDB reuses `canonical.column_sql` itself, so a DuckDB warehouse
hashes exactly like the local diff.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from activate.diff.canonical import ColumnSql, JsonKind, quote, staged_name
from activate.errors import SourceError
from activate.warehouse.duckdb import DuckDBSession
from activate.warehouse.session import WarehouseSession, strip_query

_UTC_FORMAT_PG = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
_UTC_FORMAT_SF = 'YYYY-MM-DD"T"HH24:MI:SS.FF6'


def _raw(text: str) -> ColumnSql:
    return ColumnSql(text, JsonKind.RAW)


def _boolean(col: str) -> ColumnSql:
    return _raw(f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END")


def _bytes(name: str) -> ColumnSql:
    return ColumnSql(
        "CAST(NULL AS VARCHAR)",
        JsonKind.RAW,
        f"({quote(name)} IS NOT NULL)",
        f"column {name!r} holds bytes, which cannot be sent; cast it to text in the query (e.g. hex() or base64())",
    )


def _non_finite_reason(name: str) -> str:
    return f"column {name!r} is NaN or infinite, which no destination accepts"


def describe(session: WarehouseSession, query: str) -> dict[str, ColumnSql]:
    """Canonical SQL of each result column, in result order, without reading rows."""
    columns = session.result_columns(query)
    if session.dialect == "duckdb":
        from activate.diff.canonical import column_sql

        return {name: column_sql(field) for name, field in columns}
    if session.dialect == "postgres":
        return {name: _pg_column(name, oid) for name, oid in columns}
    return {name: _sf_column(name, code) for name, code in columns}


def string_json(session: WarehouseSession, text: str) -> str:
    """A text as a JSON string (escaped), in the session's dialect."""
    if session.dialect == "duckdb":
        return f"CAST(to_json({text}) AS VARCHAR)"
    if session.dialect == "postgres":
        return f"to_jsonb({text})::text"
    return f"TO_JSON(TO_VARIANT({text}))"


def _json_of(session: WarehouseSession, text: str, kind: JsonKind) -> str:
    if kind is JsonKind.RAW:
        return f"coalesce({text}, 'null')"
    if kind is JsonKind.SAFE_STRING:
        return f"coalesce('\"' || {text} || '\"', 'null')"
    return f"coalesce({string_json(session, text)}, 'null')"


def snapshot_select(
    session: WarehouseSession, query: str, key_columns: Sequence[str], hashed_columns: Sequence[str]
) -> tuple[str, dict[str, JsonKind]]:
    """SELECT row_number, row_key, row_hash, invalid_reason, v0..vN FROM (query), and each column's JSON kind.

    The canonical rules of `activate.diff.canonical`, in this dialect: the hash is md5 over the length-prefixed
    canonical texts of `hashed_columns` (sorted), the texts are kept so payloads are built only for rows that
    will be written. On DuckDB it is exactly the local diff's SELECT (same keys and hashes) over the query.
    """
    if isinstance(session, DuckDBSession):
        from activate.diff.canonical import snapshot_select as local_select

        relation = f"({strip_query(query)}) activate_src"
        snapshot = local_select(session.arrow_schema(query), key_columns, hashed_columns, relation, 1)
        return snapshot.select, snapshot.kinds
    sql = describe(session, query)
    missing = [c for c in (*key_columns, *hashed_columns) if c not in sql]
    if missing:
        raise SourceError(f"columns {', '.join(missing)} are not in the query's result")
    if len(key_columns) == 1:
        key_expr = sql[key_columns[0]].text
    else:
        parts = " || ',' || ".join(_json_of(session, sql[k].text, sql[k].kind) for k in key_columns)
        key_expr = f"'[' || {parts} || ']'"
    texts = [sql[name].text for name in hashed_columns]
    framed = ", ".join(f"coalesce(CAST(length(t{i}) AS VARCHAR) || ':' || t{i}, 'N')" for i in range(len(texts)))
    row_hash = f"md5(concat_ws('|', {framed}))" if texts else "md5('')"
    reasons = [
        f"WHEN {quote(k)} IS NULL THEN {session.literal(f'primary key column {k!r} is null')}" for k in key_columns
    ]
    for name in sorted(set(key_columns) | set(hashed_columns)):
        column = sql[name]
        if column.invalid and column.invalid_reason:
            reasons.append(f"WHEN {column.invalid} THEN {session.literal(column.invalid_reason)}")
    reason = "CASE " + " ".join(reasons) + " END"
    inner = ", ".join(
        [f"{key_expr} AS row_key", f"{reason} AS invalid_reason"] + [f"{t} AS t{i}" for i, t in enumerate(texts)]
    )
    staged = "".join(f", t{i} AS {staged_name(i)}" for i in range(len(texts)))
    select = (
        f"SELECT row_number() OVER () AS row_number, row_key, {row_hash} AS row_hash, invalid_reason{staged} "
        f"FROM (SELECT {inner} FROM ({strip_query(query)}) activate_src) activate_canonical"
    )
    return select, {name: sql[name].kind for name in hashed_columns}


def payload_sql(
    session: WarehouseSession, hashed_columns: Sequence[str], kinds: dict[str, JsonKind], alias: str
) -> str:
    """The canonical JSON object of a staged snapshot row (keys sorted)."""
    if not hashed_columns:
        return "'{}'"
    members = " || ',' || ".join(
        session.literal(json.dumps(name) + ":")
        + " || "
        + _json_of(session, f"{alias}.{staged_name(i)}", kinds.get(name, JsonKind.STRING))
        for i, name in enumerate(hashed_columns)
    )
    return f"('{{' || {members} || '}}')"


# Postgres type OIDs (pg_type.oid; stable across versions).
_PG_BOOL, _PG_NUMERIC, _PG_DATE, _PG_TIMESTAMP, _PG_TIMESTAMPTZ, _PG_BYTEA = 16, 1700, 1082, 1114, 1184, 17
_PG_INTS = {20, 21, 23, 26}
_PG_FLOATS = {700, 701}
_PG_TIMES = {1083, 1266}
_PG_JSON = {114, 3802}
_PG_ARRAYS = {199, 1000, 1005, 1007, 1009, 1015, 1016, 1021, 1022, 1115, 1182, 1183, 1185, 1231, 2951, 3807}


def _pg_column(name: str, oid: int) -> ColumnSql:
    col = quote(name)
    if oid == _PG_BOOL:
        return _boolean(col)
    if oid in _PG_INTS:
        return _raw(f"{col}::text")
    if oid in _PG_FLOATS:
        invalid = f"({col} IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8))"
        return ColumnSql(f"{col}::text", JsonKind.RAW, invalid, _non_finite_reason(name))
    if oid == _PG_NUMERIC:
        invalid = f"({col} = 'NaN'::numeric)"
        return ColumnSql(f"{col}::text", JsonKind.RAW, invalid, _non_finite_reason(name))
    if oid == _PG_DATE:
        return ColumnSql(f"to_char({col}, 'YYYY-MM-DD')", JsonKind.SAFE_STRING)
    if oid in _PG_TIMES:
        return ColumnSql(f"{col}::text", JsonKind.SAFE_STRING)  # ISO whatever DateStyle says
    if oid in (_PG_TIMESTAMP, _PG_TIMESTAMPTZ):
        utc = f"({col} AT TIME ZONE 'UTC')" if oid == _PG_TIMESTAMPTZ else col
        return ColumnSql(f"to_char({utc}, '{_UTC_FORMAT_PG}')", JsonKind.SAFE_STRING)
    if oid in _PG_JSON:
        return _raw(f"{col}::jsonb::text")
    if oid in _PG_ARRAYS:
        return _raw(f"to_jsonb({col})::text")
    if oid == _PG_BYTEA:
        return _bytes(name)
    return ColumnSql(f"{col}::text", JsonKind.STRING)


# Snowflake result type codes (snowflake.connector.constants.FIELD_TYPES).
_SF_FIXED, _SF_REAL, _SF_TEXT, _SF_DATE, _SF_VARIANT, _SF_BINARY, _SF_TIME, _SF_BOOLEAN = 0, 1, 2, 3, 5, 11, 12, 13
_SF_TIMESTAMPS_TZ = {4, 6, 7}
_SF_TIMESTAMP_NTZ = 8
_SF_SEMI_STRUCTURED = {5, 9, 10}


def _sf_column(name: str, code: int) -> ColumnSql:
    col = quote(name)
    if code == _SF_BOOLEAN:
        return _boolean(col)
    if code == _SF_FIXED:
        return _raw(f"TO_VARCHAR({col})")
    if code == _SF_REAL:
        invalid = f"({col} IN ('NaN'::FLOAT, 'inf'::FLOAT, '-inf'::FLOAT))"
        return ColumnSql(f"TO_VARCHAR({col})", JsonKind.RAW, invalid, _non_finite_reason(name))
    if code == _SF_DATE:
        return ColumnSql(f"TO_VARCHAR({col}, 'YYYY-MM-DD')", JsonKind.SAFE_STRING)
    if code == _SF_TIME:
        return ColumnSql(f"TO_VARCHAR({col}, 'HH24:MI:SS.FF6')", JsonKind.SAFE_STRING)
    if code in _SF_TIMESTAMPS_TZ or code == _SF_TIMESTAMP_NTZ:
        # a timestamp without a zone is taken as UTC (3-argument form); one with a zone is converted to UTC
        utc = f"CONVERT_TIMEZONE('UTC', {col})"
        if code == _SF_TIMESTAMP_NTZ:
            utc = f"CONVERT_TIMEZONE('UTC', 'UTC', {col})"
        return ColumnSql(f"TO_VARCHAR({utc}, '{_UTC_FORMAT_SF}') || 'Z'", JsonKind.SAFE_STRING)
    if code in _SF_SEMI_STRUCTURED:
        return _raw(f"TO_JSON({col})")
    if code == _SF_BINARY:
        return _bytes(name)
    return ColumnSql(f"TO_VARCHAR({col})", JsonKind.STRING)
