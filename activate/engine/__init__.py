"""The engine: executes a Plan. Only it ties config, source, diff, plan, destination and state together.

- `run` — `run_sync` (one run of one sync), `RunOptions`, `RunObserver`, `check_destination`;
- `outcome` — `RunSummary`, `RunStatus`, `FailureKind`, `EXIT_CODES`;
- `lease` — the sync's lock and heartbeat; `executor` — batches and concurrency; `recorder` — results into state.
"""

from __future__ import annotations

from activate.engine.outcome import EXIT_CODES, FailureKind, RunStatus, RunSummary
from activate.engine.run import RunObserver, RunOptions, check_destination, new_run_id, run_sync

__all__ = [
    "EXIT_CODES",
    "FailureKind",
    "RunObserver",
    "RunOptions",
    "RunStatus",
    "RunSummary",
    "check_destination",
    "new_run_id",
    "run_sync",
]
