"""The state store: runs, per-row results, synced state, locks, migrations."""
