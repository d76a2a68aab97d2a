"""Canonical values, row keys and row hashes, as DuckDB SQL over Arrow batches (no Python work per row).

Every source column the mapping reads is staged as its canonical *text*, and hashed as such:
- integers, floats, booleans: DuckDB's shortest text (`1`, `0.1`, `true`); decimals: their exact decimal text;
- strings: themselves; UUIDs: their text;
- dates `YYYY-MM-DD`, times `HH:MM:SS[.ffffff]`; timestamps with or without a time zone: ISO-8601 in UTC
  (`2024-01-01T10:00:00.000000Z`; a timestamp without a zone is taken as UTC);
- lists, structs, maps and JSON documents: JSON text;
- NaN and ±inf (no destination accepts them) and bytes (cast them to text in the query) reject the row.

The row hash is md5 over the length-prefixed texts (`5:alice|N|3:1.5`, `N` for NULL): unambiguous without any
escaping, stable across processes and machines (never Python's `hash()`), and cheap enough for 10M rows.
The canonical JSON payload a template sees is built later, in SQL, only for rows that will be written:
numbers, booleans and nested values embed as JSON, strings and temporal values as JSON strings.
The row key is the canonical text of a one-column primary key, or a JSON array of a composite key's values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

JSON_TAG = b"activate.type"
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def quote(identifier: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


class JsonKind(StrEnum):
    """How a staged text becomes JSON in a payload."""

    RAW = "raw"  # already valid JSON: numbers, booleans, nested JSON
    STRING = "string"  # any text: escaped with to_json
    SAFE_STRING = "safe"  # ISO dates and times, UUIDs: quoted, nothing to escape


@dataclass(frozen=True)
class ColumnSql:
    """How one source column becomes canonical text, and when it makes the row unsendable."""

    text: str
    kind: JsonKind
    invalid: str | None = None
    invalid_reason: str | None = None


class Shape(StrEnum):
    """What a column's values are, as far as their canonical text goes: read from an Arrow type or a DuckDB type."""

    JSON = "json"  # text a reader already wrote as canonical JSON (tagged `activate.type: json`)
    FLOAT = "float"
    EXACT = "exact"  # integers and decimals
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    TEMPORAL = "temporal"  # dates and times of day
    BYTES = "bytes"
    NULL = "null"  # a column of a type that holds only NULL
    NESTED = "nested"  # lists, arrays, structs, maps, unions
    TEXT = "text"  # strings and everything else DuckDB casts to text


Shapes = Mapping[str, Shape]

# DuckDB type ids (`DuckDBPyType.id`) read without building Arrow (pyarrow is a quarter second to import); each is
# the shape of the Arrow type DuckDB exports it as (tests/diff/test_canonical.py compares both for every type). A
# type not listed here is read from Arrow.
DUCKDB_SHAPES: dict[str, Shape] = {
    **dict.fromkeys(("float", "double"), Shape.FLOAT),
    **dict.fromkeys(("tinyint", "smallint", "integer", "bigint", "hugeint", "decimal"), Shape.EXACT),
    **dict.fromkeys(("utinyint", "usmallint", "uinteger", "ubigint", "uhugeint"), Shape.EXACT),
    "boolean": Shape.BOOLEAN,
    **dict.fromkeys(
        ("timestamp", "timestamp with time zone", "timestamp_s", "timestamp_ms", "timestamp_ns"), Shape.TIMESTAMP
    ),
    **dict.fromkeys(("date", "time", "time with time zone"), Shape.TEMPORAL),
    **dict.fromkeys(("blob", "bit"), Shape.BYTES),
    "null": Shape.NULL,
    **dict.fromkeys(("list", "array", "struct", "map", "union"), Shape.NESTED),
    **dict.fromkeys(("varchar", "uuid", "enum", "interval"), Shape.TEXT),
}


def arrow_shape(field: pa.Field) -> Shape:
    """The shape of an Arrow column."""
    import pyarrow as pa

    t = field.type
    if field.metadata and field.metadata.get(JSON_TAG) == b"json":
        return Shape.JSON
    checks = (
        (pa.types.is_floating, Shape.FLOAT),
        (lambda t: pa.types.is_integer(t) or pa.types.is_decimal(t), Shape.EXACT),
        (pa.types.is_boolean, Shape.BOOLEAN),
        (pa.types.is_timestamp, Shape.TIMESTAMP),
        (lambda t: pa.types.is_date(t) or pa.types.is_time(t), Shape.TEMPORAL),
        (
            lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t),
            Shape.BYTES,
        ),
        (pa.types.is_null, Shape.NULL),
        (pa.types.is_nested, Shape.NESTED),
    )
    return next((shape for check, shape in checks if check(t)), Shape.TEXT)


def shapes_of(schema: pa.Schema | Shapes) -> Shapes:
    """Column name -> shape, from an Arrow schema or as given."""
    if isinstance(schema, Mapping):
        return schema
    return {field.name: arrow_shape(field) for field in schema}


def column_sql(field: pa.Field) -> ColumnSql:
    """Canonical SQL for one Arrow column."""
    return shape_sql(field.name, arrow_shape(field))


def shape_sql(name: str, shape: Shape) -> ColumnSql:
    """Canonical SQL for one column of a shape."""
    col = quote(name)
    if shape is Shape.FLOAT:
        return ColumnSql(
            f"CAST({col} AS VARCHAR)",
            JsonKind.RAW,
            f"(isnan({col}) OR isinf({col}))",
            f"column {name!r} is NaN or infinite, which no destination accepts",
        )
    if shape in (Shape.JSON, Shape.EXACT):  # JSON: the reader wrote canonical JSON
        return ColumnSql(f"CAST({col} AS VARCHAR)", JsonKind.RAW)
    if shape is Shape.BOOLEAN:
        return ColumnSql(f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END", JsonKind.RAW)
    if shape is Shape.TIMESTAMP:
        return ColumnSql(f"strftime({col}, {literal(_TS_FORMAT)})", JsonKind.SAFE_STRING)
    if shape is Shape.TEMPORAL:
        return ColumnSql(f"CAST({col} AS VARCHAR)", JsonKind.SAFE_STRING)
    if shape is Shape.BYTES:
        return ColumnSql(
            "CAST(NULL AS VARCHAR)",
            JsonKind.RAW,
            f"({col} IS NOT NULL)",
            f"column {name!r} holds bytes, which cannot be sent; cast it to text in the query (e.g. hex() or base64())",
        )
    if shape is Shape.NULL:
        return ColumnSql("CAST(NULL AS VARCHAR)", JsonKind.RAW)
    if shape is Shape.NESTED:
        return ColumnSql(f"CAST(to_json({col}) AS VARCHAR)", JsonKind.RAW)
    return ColumnSql(f"CAST({col} AS VARCHAR)", JsonKind.STRING)


def staged_name(index: int) -> str:
    """The workspace column holding the canonical text of the index-th hashed column."""
    return f"v{index}"


@dataclass(frozen=True)
class SnapshotSql:
    """The SELECT that turns a relation into snapshot rows, and the JSON kind of each hashed column."""

    select: str
    kinds: dict[str, JsonKind]


@dataclass(frozen=True)
class _Canonical:
    key: str
    reason: str
    texts: list[str]
    kinds: dict[str, JsonKind]


def _canonical(schema: pa.Schema | Shapes, key_columns: Sequence[str], hashed_columns: Sequence[str]) -> _Canonical:
    shapes = shapes_of(schema)
    sql = {name: shape_sql(name, shapes[name]) for name in set(key_columns) | set(hashed_columns)}
    if len(key_columns) == 1:
        key_expr = sql[key_columns[0]].text
    else:
        parts = ", ',', ".join(_json_of(sql[k].text, sql[k].kind) for k in key_columns)
        key_expr = f"concat('[', {parts}, ']')"
    reasons = [f"WHEN {quote(k)} IS NULL THEN {literal(f'primary key column {k!r} is null')}" for k in key_columns]
    for name in sorted(set(key_columns) | set(hashed_columns)):
        column = sql[name]
        if column.invalid and column.invalid_reason:
            reasons.append(f"WHEN {column.invalid} THEN {literal(column.invalid_reason)}")
    return _Canonical(
        key_expr,
        "CASE " + " ".join(reasons) + " END",
        [sql[name].text for name in hashed_columns],
        {name: sql[name].kind for name in hashed_columns},
    )


def _hash_of(texts: Sequence[str]) -> str:
    """md5 over the length-prefixed texts (one flat call: any number of columns, no expression depth)."""
    framed = ", ".join(f"coalesce(CAST(length({t}) AS VARCHAR) || ':' || {t}, 'N')" for t in texts)
    return f"md5(concat_ws('|', {framed}))" if texts else "md5('')"


def snapshot_select(
    schema: pa.Schema | Shapes,
    key_columns: Sequence[str],
    hashed_columns: Sequence[str],
    relation: str,
    first_row: int,
    *,
    staged: Sequence[str] | None = None,
    numbered: bool = True,
    extra: Mapping[str, tuple[str, Callable[[str], str]]] | None = None,
) -> SnapshotSql:
    """SELECT row_number, row_key, row_hash, invalid_reason[, v0..vN] FROM relation.

    `hashed_columns` must be sorted (their order is part of the hash). `first_row` numbers rows across batches
    (1-based) so a row without a usable key can still be named. `staged`: the hashed columns whose canonical
    texts are kept as v<index> (None: all, for payloads when the relation cannot be read again, e.g. an Arrow
    batch); the rest of the snapshot is only what the diff needs, and payloads come from `payload_rescan`.
    `numbered=False` leaves out row_number: numbering is a window over the whole relation, which DuckDB runs on
    one thread, so a relation that can be read again is hashed in parallel and numbered later, only when some
    row cannot be sent (`invalid_select`). `extra`: column name -> (a hashed column, SQL over its
    canonical text), staged after the rest (the diff's match hash).
    """
    c = _canonical(schema, key_columns, hashed_columns)
    kept = [i for i, name in enumerate(hashed_columns) if staged is None or name in staged]
    texts = "".join(f", t{i} AS {staged_name(i)}" for i in kept)
    for name, (column, sql_of) in (extra or {}).items():
        texts += f", {sql_of(f't{list(hashed_columns).index(column)}')} AS {name}"
    inner = ", ".join(
        [f"{c.key} AS row_key", f"{c.reason} AS invalid_reason"] + [f"{t} AS t{i}" for i, t in enumerate(c.texts)]
    )
    number = f"{first_row - 1} + row_number() OVER () AS row_number, " if numbered else ""
    select = (
        f"SELECT {number}row_key, "
        f"{_hash_of([f't{i}' for i in range(len(c.texts))])} AS row_hash, "
        f"invalid_reason{texts} FROM (SELECT {inner} FROM {relation})"
    )
    return SnapshotSql(select, c.kinds)


def key_sql(schema: pa.Schema | Shapes, key_columns: Sequence[str]) -> str:
    """The row key of a relation's row, as SQL over its columns."""
    return _canonical(schema, key_columns, []).key


def invalid_select(
    schema: pa.Schema | Shapes, key_columns: Sequence[str], hashed_columns: Sequence[str], relation: str
) -> str:
    """SELECT row_number, row_key, invalid_reason FROM relation: the numbering of `snapshot_select` without the
    hash, for naming the rows of a relation staged with `numbered=False` that cannot be sent."""
    c = _canonical(schema, key_columns, hashed_columns)
    return (
        f"SELECT row_number() OVER () AS row_number, {c.key} AS row_key, {c.reason} AS invalid_reason FROM {relation}"
    )


def payload_rescan(
    schema: pa.Schema | Shapes,
    key_columns: Sequence[str],
    hashed_columns: Sequence[str],
    relation: str,
    planned: str,
    carried: Sequence[str],
) -> str:
    """Planned rows joined back to the source relation, with the hash and JSON payload of the data read now.

    `planned` is a relation with `row_key` and the `carried` columns; the result has `activate_<column>` for each
    carried column, then `row_hash` and `payload`. Canonical texts are computed after the join, so only the planned
    rows pay for them, and the hash is recomputed: what is recorded is the hash of exactly what is sent (the same
    as the snapshot's unless the source changed in between). Planned rows absent from the relation are dropped.
    """
    c = _canonical(schema, key_columns, hashed_columns)
    carry = ", ".join(f"p.{quote(col)} AS {quote('activate_' + col)}" for col in carried)
    outer = ", ".join(quote("activate_" + col) for col in carried)
    texts = ", ".join(f"{t} AS activate_t{i}" for i, t in enumerate(c.texts))
    names = [f"activate_t{i}" for i in range(len(c.texts))]
    return (
        f"SELECT {outer}, {_hash_of(names)} AS row_hash, {_payload_of(hashed_columns, c.kinds, names)} AS payload "
        f"FROM (SELECT {outer}{', ' if texts else ''}{texts} FROM ("
        f"SELECT {carry}, activate_src.* FROM {planned} p JOIN (SELECT {c.key} AS activate_source_key, * "
        f"FROM {relation}) activate_src ON activate_src.activate_source_key = p.row_key"
        "))"
    )


def _json_of(text_sql: str, kind: JsonKind) -> str:
    if kind is JsonKind.RAW:
        return f"coalesce({text_sql}, 'null')"
    if kind is JsonKind.SAFE_STRING:
        return f"coalesce('\"' || {text_sql} || '\"', 'null')"
    return f"coalesce(CAST(to_json({text_sql}) AS VARCHAR), 'null')"


def _payload_of(hashed_columns: Sequence[str], kinds: dict[str, JsonKind], texts: Sequence[str]) -> str:
    """One flat concat() (a chain of `||` nests one level per column: DuckDB stops at depth 1000)."""
    if not hashed_columns:
        return "'{}'"
    parts: list[str] = []
    for i, (name, text) in enumerate(zip(hashed_columns, texts, strict=True)):
        parts.append(literal(("{" if i == 0 else ",") + json.dumps(name) + ":"))
        parts.append(_json_of(text, kinds.get(name, JsonKind.STRING)))
    return f"concat({', '.join(parts)}, '}}')"


def payload_sql(hashed_columns: Sequence[str], kinds: dict[str, JsonKind], alias: str) -> str:
    """The canonical JSON object of a staged row (keys sorted), computed only for rows that will be written."""
    return _payload_of(hashed_columns, kinds, [f"{alias}.{staged_name(i)}" for i in range(len(hashed_columns))])
