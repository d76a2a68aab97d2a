"""Every state store behind one interface: runs, per-row results, synced state, locks, migrations.

- `StateReader` (`reader`): read-only, typed records (`records`); what `plan`, the CLI and the UI get;
- `StateStore` (`store`): the writable local store (DuckDB file or any SQLAlchemy URL, e.g. Postgres);
- `WarehouseStateStore` (`warehouse`): a `StateStore` whose per-row state lives in the sync's warehouse;
- `open_state_store` (`open`): the store a run of a sync records into;
- `RecordedBatch` and the once-written state-change SQL (`changes`).
"""
