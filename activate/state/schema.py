"""The state tables (DESIGN §4): a public contract users query with SQL, plus what the engine needs.

Public: `activate_runs`, `activate_row_results`, `activate_state`.
Engine-internal: `activate_rejections` (the data hash a row was rejected with, so it is not re-sent until it
changes), `activate_intents` (non-idempotent writes in flight, reconciled after a crash), `activate_locks`
(one run per sync, by lease), `activate_associations` (each row's links to other syncs' records: linked, pending
or stale), `activate_holds` (syncs paused by `revert --hold` until `resume`), `activate_schema_version`.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

TS = sa.DateTime(timezone=True)

schema_version = sa.Table(
    "activate_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", TS, nullable=False),
)

runs = sa.Table(
    "activate_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("sync_name", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("trigger", sa.String(40), nullable=False),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("finished_at", TS),
    sa.Column("rows_read", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_added", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_changed", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_removed", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_unchanged", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_succeeded", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_failed", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_rejected", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_skipped", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_invalid", sa.BigInteger, nullable=False, default=0),
    sa.Column("api_calls", sa.BigInteger, nullable=False, default=0),
    sa.Column("retries", sa.BigInteger, nullable=False, default=0),
    sa.Column("throttled_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("config_hash", sa.String(64)),
    sa.Column("error", sa.Text),
    # a person's approval to pass a guardrail for this run (`run --approve-deletes N --reason ...`): who and why
    sa.Column("approved_deletes", sa.BigInteger),
    sa.Column("approved_by", sa.String(200)),
    sa.Column("approval_reason", sa.Text),
    sa.Column("target", sa.String(100)),  # the `targets:` entry the run used, when the project has targets
    sa.Column("failure_kind", sa.String(20)),  # v4: activate.engine.outcome.FailureKind; null when not failed
    sa.Column("reverted_run_id", sa.String(64)),  # v6: a `revert` run: the run whose changes it undid
)

row_results = sa.Table(
    "activate_row_results",
    metadata,
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("sync_name", sa.String(200), nullable=False),
    sa.Column("row_key", sa.Text, nullable=False),
    sa.Column("operation", sa.String(10), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("destination_id", sa.Text),
    sa.Column("error_code", sa.String(100)),
    sa.Column("error_message", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("recorded_at", TS, nullable=False),
    # v5: what the write changed, field by field: JSON {field: {"old": v, "new": v}} (a delete: every confirmed
    # field to null); null when nothing is known field by field (a created record, a failed or rejected row)
    sa.Column("changed_fields", sa.Text),
    sa.Column("previous_hash", sa.String(32)),  # v5: the row's state hash before this run; null: first synced now
)

state = sa.Table(
    "activate_state",
    metadata,
    sa.Column("sync_name", sa.String(200), primary_key=True),
    sa.Column("row_key", sa.Text, primary_key=True),
    sa.Column("row_hash", sa.String(32), nullable=False),
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("destination_id", sa.Text),
    sa.Column("last_run_id", sa.String(64), nullable=False),
    sa.Column("synced_at", TS, nullable=False),
    # v5: JSON {field: value} last confirmed in the destination (what was sent, merged over what was confirmed
    # before); null for rows synced before v5. DuckDB and Postgres store it compressed (columnar / TOAST).
    sa.Column("fields", sa.Text),
)

rejections = sa.Table(
    "activate_rejections",
    metadata,
    sa.Column("sync_name", sa.String(200), primary_key=True),
    sa.Column("row_key", sa.Text, primary_key=True),
    sa.Column("row_hash", sa.String(32), nullable=False),
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("error_code", sa.String(100)),
    sa.Column("rejected_at", TS, nullable=False),
)

intents = sa.Table(
    "activate_intents",
    metadata,
    sa.Column("sync_name", sa.String(200), primary_key=True),
    sa.Column("row_key", sa.Text, primary_key=True),
    sa.Column("row_hash", sa.String(32), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

associations = sa.Table(
    "activate_associations",
    metadata,
    sa.Column("sync_name", sa.String(200), primary_key=True),
    sa.Column("row_key", sa.Text, primary_key=True),
    sa.Column("label", sa.String(400), primary_key=True),  # which `destination.associations` entry
    sa.Column("target_key", sa.Text, primary_key=True),  # the associated row's key in the other sync
    sa.Column("to_object", sa.String(200), nullable=False),
    sa.Column("target_id", sa.Text),  # the associated record's id once linked; null while pending
    sa.Column("state", sa.String(10), nullable=False),  # linked | pending (to create) | stale (to remove)
    sa.Column("run_id", sa.String(64), nullable=False),
)

locks = sa.Table(
    "activate_locks",
    metadata,
    sa.Column("sync_name", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
)

holds = sa.Table(
    "activate_holds",
    metadata,
    # v6: a sync paused by `activate revert RUN --hold` so its next run does not re-apply what was reverted;
    # `activate run` refuses it and the scheduler skips it until `activate resume SYNC` deletes the row
    sa.Column("sync_name", sa.String(200), primary_key=True),
    sa.Column("held_at", TS, nullable=False),
    sa.Column("held_by", sa.String(200), nullable=False),  # the OS user of `activate revert`
    sa.Column("run_id", sa.String(64), nullable=False),  # the revert run that placed the hold
    sa.Column("reverted_run_id", sa.String(64), nullable=False),  # the run it reverted
)

sa.Index("ix_activate_row_results_sync_key", row_results.c.sync_name, row_results.c.row_key)
sa.Index("ix_activate_runs_sync_started", runs.c.sync_name, runs.c.started_at)
