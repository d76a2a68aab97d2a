"""Canonical values, row keys and row hashes, as DuckDB SQL over Arrow batches (no Python work per row).

Canonical form of a value (what is hashed and what templates see):
- integers, booleans, strings: themselves; decimals: their exact decimal text as a JSON number (never a float);
- floats: JSON numbers; NaN and ±inf are rejected per row (no destination accepts them);
- dates `YYYY-MM-DD`, times `HH:MM:SS[.ffffff]`; timestamps with or without a time zone: ISO-8601 in UTC
  (`2024-01-01T10:00:00.000000Z`; a timestamp without a zone is taken as UTC);
- UUIDs: text; lists, structs, maps and JSON documents: nested JSON;
- bytes: rejected per row (cast them to text in the query, e.g. hex or base64).

The row key is the canonical text of a one-column primary key, or a JSON array of a composite key's values.
The row hash is md5 over the canonical JSON object of the columns the mapping reads (keys sorted): stable across
processes, machines and DuckDB versions, unlike Python's `hash()`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

_JSON_TAG = b"activate.type"
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def quote(identifier: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class ColumnSql:
    """How one source column becomes canonical.

    `text` is the value as key text (VARCHAR), `json` its canonical JSON text (VARCHAR, NULL for SQL NULL), and
    `invalid` an optional condition under which the row cannot be sent, with `invalid_reason`.
    """

    text: str
    json: str
    invalid: str | None = None
    invalid_reason: str | None = None


def _plain(value: str) -> ColumnSql:
    return ColumnSql(f"CAST({value} AS VARCHAR)", f"CAST(to_json({value}) AS VARCHAR)")


def column_sql(field: pa.Field) -> ColumnSql:
    """Canonical SQL for one Arrow column."""
    import pyarrow as pa

    col = quote(field.name)
    t = field.type
    if field.metadata and field.metadata.get(_JSON_TAG) == b"json":
        # already canonical JSON text (sorted keys), produced by the reader
        return ColumnSql(f"CAST({col} AS VARCHAR)", f"CAST({col} AS VARCHAR)")
    if pa.types.is_dictionary(t) or isinstance(t, pa.ExtensionType):
        return _plain(f"CAST({col} AS VARCHAR)")
    if pa.types.is_floating(t):
        return ColumnSql(
            f"CAST({col} AS VARCHAR)",
            f"CAST(to_json({col}) AS VARCHAR)",
            f"(isnan({col}) OR isinf({col}))",
            f"column {field.name!r} is NaN or infinite, which no destination accepts",
        )
    if pa.types.is_decimal(t):
        # the exact decimal text is itself a JSON number; to_json would go through a double and lose digits
        return ColumnSql(f"CAST({col} AS VARCHAR)", f"CAST({col} AS VARCHAR)")
    if pa.types.is_timestamp(t):
        return _plain(f"strftime({col}, {literal(_TS_FORMAT)})")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return ColumnSql(
            "CAST(NULL AS VARCHAR)",
            "CAST(NULL AS VARCHAR)",
            f"({col} IS NOT NULL)",
            f"column {field.name!r} holds bytes, which cannot be sent; cast it to text in the query "
            "(e.g. hex() or base64())",
        )
    if pa.types.is_null(t):
        return ColumnSql("CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)")
    return _plain(col)


@dataclass(frozen=True)
class SnapshotSql:
    """The SELECT that turns one Arrow batch (registered as `relation`) into snapshot rows."""

    select: str


def snapshot_select(
    schema: pa.Schema, key_columns: Sequence[str], hashed_columns: Sequence[str], relation: str, first_row: int
) -> SnapshotSql:
    """SELECT row_number, row_key, row_hash, payload, invalid_reason FROM relation.

    `first_row` numbers rows across batches (1-based) so a row without a usable key can still be named.
    """
    by_name = {f.name: f for f in schema}
    sql = {name: column_sql(by_name[name]) for name in set(key_columns) | set(hashed_columns)}

    if len(key_columns) == 1:
        key_expr = sql[key_columns[0]].text
    else:
        parts = ", ".join(sql[k].json for k in key_columns)
        key_expr = f"'[' || concat_ws(',', {parts}) || ']'"

    # Built by concatenation (not to_json of a struct) so decimals keep their exact digits.
    members = " || ',' || ".join(
        f"{literal(json.dumps(name) + ':')} || coalesce({sql[name].json}, 'null')" for name in sorted(hashed_columns)
    )
    payload = f"('{{' || {members} || '}}')" if hashed_columns else "'{}'"

    reasons = [f"WHEN {quote(k)} IS NULL THEN {literal(f'primary key column {k!r} is null')}" for k in key_columns]
    for name in sorted(set(key_columns) | set(hashed_columns)):
        column = sql[name]
        if column.invalid and column.invalid_reason:
            reasons.append(f"WHEN {column.invalid} THEN {literal(column.invalid_reason)}")
    reason = "CASE " + " ".join(reasons) + " END" if reasons else "NULL"

    select = (
        f"SELECT {first_row - 1} + row_number() OVER () AS row_number, {key_expr} AS row_key, "
        f"md5({payload}) AS row_hash, {payload} AS payload, {reason} AS invalid_reason FROM {relation}"
    )
    return SnapshotSql(select)
