"""The exit codes of `activate-etl` / `python -m activate`, in one table the CLI, the docs and orchestrators read.

A run's code follows its status (`activate.engine.EXIT_CODES`); several syncs in one command exit with the most
severe of their codes.
"""

from __future__ import annotations

SUCCEEDED = 0
FAILED = 1
INVALID = 2
PARTIAL = 3
GUARDRAIL_TRIPPED = 4
HELD = 5
INTERRUPTED = 130  # 128 + SIGINT
TERMINATED = 143  # 128 + SIGTERM

EXIT_CODES: dict[int, str] = {
    SUCCEEDED: "succeeded (`run`), nothing tripped (`plan`), the project is valid (`validate`)",
    FAILED: "failed: a run-level error, a guardrail that stopped a run, the error rate; `status`: a sync is overdue",
    INVALID: "invalid configuration or usage (every issue printed as file:line:col)",
    PARTIAL: "partial: some rows failed or were rejected, the rest synced",
    GUARDRAIL_TRIPPED: "`plan`: a guardrail trips on the plan (CI can gate on it)",
    HELD: "`run`: the sync is held by `revert --hold` and did not run (`resume SYNC` releases it)",
    INTERRUPTED: "`run` stopped by Ctrl-C (SIGINT): batches in flight finished and were recorded, the run aborted",
    TERMINATED: "`run` stopped by SIGTERM: batches in flight finished and were recorded, the run aborted",
}
