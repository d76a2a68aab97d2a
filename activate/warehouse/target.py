"""Where a sync's warehouse-native work happens: `NativeTarget`, `native_target`, `open_session`.

A sync is diffed in its warehouse when it says `state: warehouse` (its per-row state lives there, in schema
`state.schema` or `activate`), or when the project's `state.url` is the Postgres warehouse it reads (the state
store's own tables are diffed in place). Used by the plan builder (the native diff) and by `activate.state`
(the warehouse-native state).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from activate.errors import UsageError
from activate.sources.config import DuckDBConnection, PostgresConnection, SnowflakeConnection
from activate.warehouse.refusal import open_with_reread
from activate.warehouse.session import WarehouseSession

if TYPE_CHECKING:
    from activate.config import LoadedSync, Project

DEFAULT_SCHEMA = "activate"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class NativeTarget:
    """Where a sync's diff runs: the warehouse connection and the schema of its state tables.

    `separate_state`: the per-row state lives in the warehouse apart from the project's state store
    (`state: warehouse`); otherwise the state store is the warehouse and its own tables are diffed.
    """

    connection: DuckDBConnection | PostgresConnection | SnowflakeConnection
    schema: str | None
    separate_state: bool

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}" if self.schema else name


def native_target(project: Project, sync: LoadedSync) -> NativeTarget | None:
    """The warehouse-native target of a sync, or None for the local diff."""
    connection = project.connection(sync.spec.source.connection)
    schema = project.spec.state.schema_
    if sync.spec.state == "warehouse":
        if not isinstance(connection, (DuckDBConnection, PostgresConnection, SnowflakeConnection)):
            raise UsageError(
                f"sync '{sync.name}' has state: warehouse, but its source connection type "
                f"'{getattr(connection, 'type', '?')}' cannot hold state (use duckdb, postgres or snowflake)"
            )
        schema = schema or DEFAULT_SCHEMA
        if not _IDENTIFIER.match(schema):
            raise UsageError(f"state schema {schema!r} must be a plain identifier (letters, digits, '_')")
        return NativeTarget(connection, schema, separate_state=True)
    if isinstance(connection, PostgresConnection) and _same_postgres(connection, project.spec.state.url):
        return NativeTarget(connection, None, separate_state=False)
    return None


def _same_postgres(connection: PostgresConnection, state_url: str) -> bool:
    try:
        source = sa.engine.make_url(connection.url.get_secret_value())
        state = sa.engine.make_url(state_url)
    except sa.exc.ArgumentError:
        return False
    if state.get_backend_name() != "postgresql":
        return False
    where = ("host", "port", "database", "username")
    return all(getattr(source, k) == getattr(state, k) for k in where)


def open_session(target: NativeTarget, project_root: Path, query_tag: str) -> WarehouseSession:
    """A new session on the target's warehouse (drivers are imported only now). A login refused with credentials
    from a secret provider re-reads them once (`activate.warehouse.refusal`)."""
    connection = target.connection
    if isinstance(connection, DuckDBConnection):
        from activate.warehouse.duckdb import DuckDBSession

        return DuckDBSession(connection, project_root)
    if isinstance(connection, PostgresConnection):
        from activate.warehouse.postgres import PostgresSession

        return open_with_reread(connection, PostgresSession)
    from activate.warehouse.snowflake import SnowflakeSession

    return open_with_reread(connection, lambda current: SnowflakeSession(current, project_root, query_tag))
