"""Schema migrations of the state store: an ordered list of steps, each applied once and recorded.

Hand-written rather than Alembic: the state store is embedded in users' databases (DuckDB files, their Postgres,
their warehouse), migrations must run unattended at the start of any command, and there are few of them.
A new step is appended to `MIGRATIONS`; released steps never change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from activate.state import schema


def _v1_initial(conn: sa.Connection) -> None:
    schema.metadata.create_all(conn, checkfirst=True)


def _add_missing_columns(conn: sa.Connection, table: sa.Table, names: list[str]) -> None:
    """ALTER TABLE ... ADD COLUMN for each of `names` the table lacks (a store created at a later version by
    `_v1_initial`'s create_all already has them)."""
    # the columns a zero-row SELECT returns: duckdb_engine's inspector cannot list columns (pg_catalog emulation)
    present = set(conn.execute(sa.text(f"SELECT * FROM {table.name} WHERE 1 = 0")).keys())
    for name in names:
        if name not in present:
            column = table.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))


def _v2_run_approval_and_target(conn: sa.Connection) -> None:
    """`activate_runs` records who approved passing a guardrail, how far and why, and the target it ran on."""
    _add_missing_columns(conn, schema.runs, ["approved_deletes", "approved_by", "approval_reason", "target"])


def _v3_associations(conn: sa.Connection) -> None:
    """`activate_associations`: the links each row holds to records of other syncs (HubSpot associations)."""
    schema.associations.create(conn, checkfirst=True)


def _v4_failure_kind(conn: sa.Connection) -> None:
    """`activate_runs.failure_kind`: why a run failed, typed (`activate.engine.outcome.FailureKind`)."""
    _add_missing_columns(conn, schema.runs, ["failure_kind"])


def _v5_field_state(conn: sa.Connection) -> None:
    """Field-level state: each synced row's confirmed field values, and what each write changed (for `plan --diff`,
    `rows --diff` and `revert`)."""
    _add_missing_columns(conn, schema.state, ["fields"])
    _add_missing_columns(conn, schema.row_results, ["changed_fields", "previous_hash"])


def _v6_revert_holds(conn: sa.Connection) -> None:
    """`activate revert`: a revert run names the run it undid (`activate_runs.reverted_run_id`), and `--hold`
    pauses the sync (`activate_holds`) until `activate resume`."""
    _add_missing_columns(conn, schema.runs, ["reverted_run_id"])
    schema.holds.create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[sa.Connection], None]] = [
    _v1_initial,
    _v2_run_approval_and_target,
    _v3_associations,
    _v4_failure_kind,
    _v5_field_state,
    _v6_revert_holds,
]
LATEST = len(MIGRATIONS)


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    return int(conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar() or 0)


_MIGRATION_LOCK = 7_274_110  # an arbitrary, fixed advisory-lock key for "activate is migrating"


def migrate(conn: sa.Connection) -> int:
    """Apply every pending step in order; returns the number applied. Idempotent.

    On PostgreSQL the steps run under a transaction-scoped advisory lock: two processes starting together on a
    fresh database (two scheduler replicas) would otherwise race to create the same tables.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    version = current_version(conn)
    if version > LATEST:
        from activate.errors import ActivateError

        raise ActivateError(
            f"the state store is at schema version {version}, newer than this activate ({LATEST}): upgrade activate"
        )
    if version == 0:
        schema.schema_version.create(conn, checkfirst=True)
    for number in range(version + 1, LATEST + 1):
        MIGRATIONS[number - 1](conn)
        conn.execute(sa.insert(schema.schema_version).values(version=number, applied_at=datetime.now(UTC)))
    return LATEST - version
