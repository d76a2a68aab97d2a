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
from collections.abc import Sequence
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


def column_sql(field: pa.Field) -> ColumnSql:
    """Canonical SQL for one Arrow column."""
    import pyarrow as pa

    col = quote(field.name)
    t = field.type
    if field.metadata and field.metadata.get(JSON_TAG) == b"json":
        return ColumnSql(f"CAST({col} AS VARCHAR)", JsonKind.RAW)  # the reader wrote canonical JSON
    if pa.types.is_floating(t):
        return ColumnSql(
            f"CAST({col} AS VARCHAR)",
            JsonKind.RAW,
            f"(isnan({col}) OR isinf({col}))",
            f"column {field.name!r} is NaN or infinite, which no destination accepts",
        )
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        return ColumnSql(f"CAST({col} AS VARCHAR)", JsonKind.RAW)
    if pa.types.is_boolean(t):
        return ColumnSql(f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END", JsonKind.RAW)
    if pa.types.is_timestamp(t):
        return ColumnSql(f"strftime({col}, {literal(_TS_FORMAT)})", JsonKind.SAFE_STRING)
    if pa.types.is_date(t) or pa.types.is_time(t):
        return ColumnSql(f"CAST({col} AS VARCHAR)", JsonKind.SAFE_STRING)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return ColumnSql(
            "CAST(NULL AS VARCHAR)",
            JsonKind.RAW,
            f"({col} IS NOT NULL)",
            f"column {field.name!r} holds bytes, which cannot be sent; cast it to text in the query "
            "(e.g. hex() or base64())",
        )
    if pa.types.is_null(t):
        return ColumnSql("CAST(NULL AS VARCHAR)", JsonKind.RAW)
    if pa.types.is_nested(t):
        return ColumnSql(f"CAST(to_json({col}) AS VARCHAR)", JsonKind.RAW)
    return ColumnSql(f"CAST({col} AS VARCHAR)", JsonKind.STRING)


def staged_name(index: int) -> str:
    """The workspace column holding the canonical text of the index-th hashed column."""
    return f"v{index}"


@dataclass(frozen=True)
class SnapshotSql:
    """The SELECT that turns one Arrow batch into snapshot rows, and the JSON kind of each hashed column."""

    select: str
    kinds: dict[str, JsonKind]


def snapshot_select(
    schema: pa.Schema, key_columns: Sequence[str], hashed_columns: Sequence[str], relation: str, first_row: int
) -> SnapshotSql:
    """SELECT row_number, row_key, row_hash, invalid_reason, v0..vN FROM relation.

    `hashed_columns` must be sorted (their order is part of the hash). `first_row` numbers rows across batches
    (1-based) so a row without a usable key can still be named.
    """
    by_name = {f.name: f for f in schema}
    sql = {name: column_sql(by_name[name]) for name in set(key_columns) | set(hashed_columns)}

    if len(key_columns) == 1:
        key_expr = sql[key_columns[0]].text
    else:
        parts = ", ".join(_json_of(sql[k].text, sql[k].kind) for k in key_columns)
        key_expr = f"'[' || concat_ws(',', {parts}) || ']'"

    texts = [sql[name].text for name in hashed_columns]
    framed = ", ".join(f"coalesce(CAST(length(t{i}) AS VARCHAR) || ':' || t{i}, 'N')" for i in range(len(texts)))
    row_hash = f"md5(concat_ws('|', {framed}))" if texts else "md5('')"

    reasons = [f"WHEN {quote(k)} IS NULL THEN {literal(f'primary key column {k!r} is null')}" for k in key_columns]
    for name in sorted(set(key_columns) | set(hashed_columns)):
        column = sql[name]
        if column.invalid and column.invalid_reason:
            reasons.append(f"WHEN {column.invalid} THEN {literal(column.invalid_reason)}")
    reason = "CASE " + " ".join(reasons) + " END"

    staged = "".join(f", t{i} AS {staged_name(i)}" for i in range(len(texts)))
    inner = ", ".join(
        [f"{key_expr} AS row_key", f"{reason} AS invalid_reason"] + [f"{t} AS t{i}" for i, t in enumerate(texts)]
    )
    select = (
        f"SELECT {first_row - 1} + row_number() OVER () AS row_number, row_key, {row_hash} AS row_hash, "
        f"invalid_reason{staged} FROM (SELECT {inner} FROM {relation})"
    )
    return SnapshotSql(select, {name: sql[name].kind for name in hashed_columns})


def _json_of(text_sql: str, kind: JsonKind) -> str:
    if kind is JsonKind.RAW:
        return f"coalesce({text_sql}, 'null')"
    if kind is JsonKind.SAFE_STRING:
        return f"coalesce('\"' || {text_sql} || '\"', 'null')"
    return f"coalesce(CAST(to_json({text_sql}) AS VARCHAR), 'null')"


def payload_sql(hashed_columns: Sequence[str], kinds: dict[str, JsonKind], alias: str) -> str:
    """The canonical JSON object of a staged row (keys sorted), computed only for rows that will be written."""
    if not hashed_columns:
        return "'{}'"
    members = " || ',' || ".join(
        literal(json.dumps(name) + ":")
        + " || "
        + _json_of(f"{alias}.{staged_name(i)}", kinds.get(name, JsonKind.STRING))
        for i, name in enumerate(hashed_columns)
    )
    return f"('{{' || {members} || '}}')"
