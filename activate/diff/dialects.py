"""Warehouse sessions for the warehouse-native diff: one small class per dialect, the SQL in between shared.

Each session knows how its warehouse renders a value canonically (the rules of `activate.diff.canonical`), how to
create temporary tables, stream a result in chunks and load rows in bulk. Everything else (the snapshot, the diff,
the state MERGE) is one SQL text for all three dialects, in `activate.diff.native`.

Stability rule: an unchanged row must hash the same on every run, so no expression depends on session settings
(time zone, DateStyle, float digits): dates and timestamps are formatted explicitly and converted to UTC, and
Postgres sessions pin `extra_float_digits`. DuckDB reuses `canonical.column_sql` itself, so a DuckDB warehouse
hashes exactly like the local diff.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activate.diff.canonical import ColumnSql, JsonKind, quote, staged_name
from activate.errors import SourceError

if TYPE_CHECKING:
    from activate.sources.config import DuckDBConnection, PostgresConnection, SnowflakeConnection

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


class WarehouseSession:
    """A connection to a warehouse with what the native diff needs. Subclasses fill in the dialect."""

    dialect = ""
    timestamp_type = "TIMESTAMP"

    def literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def describe(self, query: str) -> dict[str, ColumnSql]:
        """Canonical SQL of each result column, in result order, without reading rows."""
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        raise NotImplementedError

    def stream(self, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        """A result in chunks of rows, never all of it at once."""
        raise NotImplementedError

    def fetchall(self, sql: str) -> list[tuple[Any, ...]]:
        """A small result (a plan's samples)."""
        return [row for rows in self.stream(sql, 1_000) for row in rows]

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Load rows into a (temporary) table in bulk: one statement or one COPY, never one per row."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def table_exists(self, table: str) -> bool:
        try:
            self.fetchone(f"SELECT 1 FROM {table} WHERE 1 = 0")
        except SourceError:
            return False
        return True

    def close(self) -> None:
        raise NotImplementedError

    # -- the snapshot ---------------------------------------------------------------------------------------------

    def string_json(self, text: str) -> str:
        """A text as a JSON string (escaped)."""
        raise NotImplementedError

    def _json_of(self, text: str, kind: JsonKind) -> str:
        if kind is JsonKind.RAW:
            return f"coalesce({text}, 'null')"
        if kind is JsonKind.SAFE_STRING:
            return f"coalesce('\"' || {text} || '\"', 'null')"
        return f"coalesce({self.string_json(text)}, 'null')"

    def snapshot_select(
        self, query: str, key_columns: Sequence[str], hashed_columns: Sequence[str]
    ) -> tuple[str, dict[str, JsonKind]]:
        """SELECT row_number, row_key, row_hash, invalid_reason, v0..vN FROM (query), and each column's JSON kind.

        The canonical rules of `activate.diff.canonical`, in this dialect: the hash is md5 over the length-prefixed
        canonical texts of `hashed_columns` (sorted), the texts are kept so payloads are built only for rows that
        will be written.
        """
        sql = self.describe(query)
        missing = [c for c in (*key_columns, *hashed_columns) if c not in sql]
        if missing:
            raise SourceError(f"columns {', '.join(missing)} are not in the query's result")
        if len(key_columns) == 1:
            key_expr = sql[key_columns[0]].text
        else:
            parts = " || ',' || ".join(self._json_of(sql[k].text, sql[k].kind) for k in key_columns)
            key_expr = f"'[' || {parts} || ']'"
        texts = [sql[name].text for name in hashed_columns]
        framed = ", ".join(f"coalesce(CAST(length(t{i}) AS VARCHAR) || ':' || t{i}, 'N')" for i in range(len(texts)))
        row_hash = f"md5(concat_ws('|', {framed}))" if texts else "md5('')"
        reasons = [
            f"WHEN {quote(k)} IS NULL THEN {self.literal(f'primary key column {k!r} is null')}" for k in key_columns
        ]
        for name in sorted(set(key_columns) | set(hashed_columns)):
            column = sql[name]
            if column.invalid and column.invalid_reason:
                reasons.append(f"WHEN {column.invalid} THEN {self.literal(column.invalid_reason)}")
        reason = "CASE " + " ".join(reasons) + " END"
        inner = ", ".join(
            [f"{key_expr} AS row_key", f"{reason} AS invalid_reason"] + [f"{t} AS t{i}" for i, t in enumerate(texts)]
        )
        staged = "".join(f", t{i} AS {staged_name(i)}" for i in range(len(texts)))
        select = (
            f"SELECT row_number() OVER () AS row_number, row_key, {row_hash} AS row_hash, invalid_reason{staged} "
            f"FROM (SELECT {inner} FROM ({_strip(query)}) activate_src) activate_canonical"
        )
        return select, {name: sql[name].kind for name in hashed_columns}

    def payload_sql(self, hashed_columns: Sequence[str], kinds: dict[str, JsonKind], alias: str) -> str:
        """The canonical JSON object of a staged snapshot row (keys sorted)."""
        if not hashed_columns:
            return "'{}'"
        members = " || ',' || ".join(
            self.literal(json.dumps(name) + ":")
            + " || "
            + self._json_of(f"{alias}.{staged_name(i)}", kinds.get(name, JsonKind.STRING))
            for i, name in enumerate(hashed_columns)
        )
        return f"('{{' || {members} || '}}')"


def _strip(query: str) -> str:
    return query.strip().rstrip(";")


class DuckDBSession(WarehouseSession):
    """A DuckDB warehouse file, through the native driver. Canonical SQL is `canonical.column_sql` itself."""

    dialect = "duckdb"
    timestamp_type = "TIMESTAMPTZ"

    def __init__(self, connection: DuckDBConnection, project_root: Path) -> None:
        import duckdb

        path = connection.path
        if path != ":memory:" and not Path(path).is_absolute():
            path = str(project_root / path)
        self.read_only = connection.read_only
        try:
            self.con = duckdb.connect(path, read_only=connection.read_only)
        except duckdb.Error as exc:
            raise SourceError(f"cannot open DuckDB warehouse {path}: {exc}") from exc
        self.con.execute("SET TimeZone = 'UTC'")
        # DuckDB runs in this process, so the temporary snapshot (key, hash, texts of every row) is in its memory:
        # about 280 bytes a row (2.8 GB at 10M rows). Temporary tables cannot spill, so no memory_limit is set.

    def _run(self, sql: str) -> Any:
        import duckdb

        try:
            return self.con.execute(sql)
        except duckdb.Error as exc:
            raise SourceError(str(exc).strip()) from exc

    def _schema(self, query: str) -> Any:
        import duckdb

        try:
            return self.con.sql(f"SELECT * FROM ({_strip(query)}) activate_q LIMIT 0").to_arrow_table().schema
        except duckdb.Error as exc:
            raise SourceError(str(exc).strip()) from exc

    def describe(self, query: str) -> dict[str, ColumnSql]:
        from activate.diff.canonical import column_sql

        return {field.name: column_sql(field) for field in self._schema(query)}

    def snapshot_select(
        self, query: str, key_columns: Sequence[str], hashed_columns: Sequence[str]
    ) -> tuple[str, dict[str, JsonKind]]:
        """Exactly the local diff's SELECT (same keys and hashes), over the query instead of an Arrow batch."""
        from activate.diff.canonical import snapshot_select

        relation = f"({_strip(query)}) activate_src"
        snapshot = snapshot_select(self._schema(query), key_columns, hashed_columns, relation, 1)
        return snapshot.select, snapshot.kinds

    def string_json(self, text: str) -> str:
        return f"CAST(to_json({text}) AS VARCHAR)"

    def execute(self, sql: str) -> None:
        self._run(sql)

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        row = self._run(sql).fetchone()
        return tuple(row) if row is not None else ()

    def stream(self, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        # on this connection, not a cursor: a DuckDB cursor is another connection and cannot see temporary tables
        result = self._run(sql)
        while rows := result.fetchmany(chunk):
            yield rows

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        import pyarrow as pa

        data = pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)})
        self.con.register("activate_rows", data)
        try:
            self._run(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM activate_rows")
        finally:
            self.con.unregister("activate_rows")

    def close(self) -> None:
        self.con.close()


# Postgres type OIDs (pg_type.oid; stable across versions).
_PG_BOOL, _PG_NUMERIC, _PG_DATE, _PG_TIMESTAMP, _PG_TIMESTAMPTZ, _PG_BYTEA = 16, 1700, 1082, 1114, 1184, 17
_PG_INTS = {20, 21, 23, 26}
_PG_FLOATS = {700, 701}
_PG_TIMES = {1083, 1266}
_PG_JSON = {114, 3802}
_PG_ARRAYS = {199, 1000, 1005, 1007, 1009, 1015, 1016, 1021, 1022, 1115, 1182, 1183, 1185, 1231, 2951, 3807}


class PostgresSession(WarehouseSession):
    """A Postgres warehouse through psycopg (autocommit; streamed reads through a server-side cursor)."""

    dialect = "postgres"
    timestamp_type = "TIMESTAMPTZ"

    def __init__(self, connection: PostgresConnection) -> None:
        import psycopg
        import sqlalchemy as sa

        url = sa.engine.make_url(connection.url.get_secret_value()).set(drivername="postgresql")
        try:
            self.con = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        except psycopg.Error as exc:
            raise SourceError(f"cannot connect to the Postgres warehouse: {_pg_message(exc)}") from exc
        # pinned so float text never changes with a user's or server's default
        self.execute("SET extra_float_digits = 1")
        self._cursors = 0

    def _run(self, sql: str) -> Any:
        import psycopg

        try:
            return self.con.execute(sql)  # type: ignore[arg-type]  # SQL composed from quoted identifiers
        except psycopg.Error as exc:
            raise SourceError(_pg_message(exc)) from exc

    def string_json(self, text: str) -> str:
        return f"to_jsonb({text})::text"

    def describe(self, query: str) -> dict[str, ColumnSql]:
        cursor = self._run(f"SELECT * FROM ({_strip(query)}) activate_q LIMIT 0")
        return {d.name: _pg_column(d.name, d.type_code) for d in cursor.description}

    def execute(self, sql: str) -> None:
        self._run(sql)

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        row = self._run(sql).fetchone()
        return tuple(row) if row is not None else ()

    def stream(self, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        import psycopg

        self._cursors += 1
        try:
            with self.con.transaction(), self.con.cursor(name=f"activate_stream_{self._cursors}") as cursor:
                cursor.itersize = chunk
                cursor.execute(sql)  # type: ignore[arg-type]
                while rows := cursor.fetchmany(chunk):
                    yield rows
        except psycopg.Error as exc:
            raise SourceError(_pg_message(exc)) from exc

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        import psycopg

        try:
            with self.con.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[arg-type]
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise SourceError(_pg_message(exc)) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        import psycopg

        try:
            with self.con.transaction():
                yield
        except psycopg.Error as exc:
            raise SourceError(_pg_message(exc)) from exc

    def table_exists(self, table: str) -> bool:
        row = self.fetchone(f"SELECT to_regclass({self.literal(table)}) IS NOT NULL")
        return bool(row and row[0])

    def close(self) -> None:
        self.con.close()


def _pg_message(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


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


class SnowflakeSession(WarehouseSession):
    """A Snowflake warehouse through the connector (auth as `activate.sources.snowflake`), queries tagged."""

    dialect = "snowflake"
    timestamp_type = "TIMESTAMP_TZ"

    def __init__(self, connection: SnowflakeConnection, project_root: Path, query_tag: str) -> None:
        import snowflake.connector

        from activate.sources.snowflake import connect_arguments

        try:
            self.con = snowflake.connector.connect(**connect_arguments(connection, project_root, query_tag))
        except snowflake.connector.errors.Error as exc:
            raise SourceError(f"cannot connect to Snowflake account {connection.account}: {_sf_message(exc)}") from exc

    def string_json(self, text: str) -> str:
        return f"TO_JSON(TO_VARIANT({text}))"

    def literal(self, text: str) -> str:
        # a backslash starts an escape sequence in a Snowflake string literal
        return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"

    def _run(self, sql: str, params: Any = None) -> Any:
        import snowflake.connector

        cursor = self.con.cursor()
        try:
            cursor.execute(sql, params) if params is not None else cursor.execute(sql)
        except snowflake.connector.errors.Error as exc:
            cursor.close()
            raise SourceError(_sf_message(exc)) from exc
        return cursor

    def describe(self, query: str) -> dict[str, ColumnSql]:
        import snowflake.connector

        cursor = self.con.cursor()
        try:
            metadata = cursor.describe(f"SELECT * FROM ({_strip(query)}) activate_q LIMIT 0")
        except snowflake.connector.errors.Error as exc:
            raise SourceError(_sf_message(exc)) from exc
        finally:
            cursor.close()
        return {m.name: _sf_column(m.name, m.type_code) for m in metadata or []}

    def execute(self, sql: str) -> None:
        self._run(sql).close()

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        cursor = self._run(sql)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return tuple(row) if row is not None else ()

    def stream(self, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        cursor = self._run(sql)
        try:
            while rows := cursor.fetchmany(chunk):
                yield [tuple(r) for r in rows]
        finally:
            cursor.close()

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """One multi-row INSERT (the connector binds the whole array; large arrays go through a stage)."""
        import snowflake.connector

        placeholders = ", ".join(["%s"] * len(columns))
        cursor = self.con.cursor()
        try:
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", list(rows))
        except snowflake.connector.errors.Error as exc:
            raise SourceError(_sf_message(exc)) from exc
        finally:
            cursor.close()

    def close(self) -> None:
        self.con.close()


def _sf_message(exc: BaseException) -> str:
    text = getattr(exc, "raw_msg", None) or getattr(exc, "msg", None) or str(exc)
    return str(text).strip().splitlines()[0]


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
