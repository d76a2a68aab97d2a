"""A run's outcome, typed: `RunStatus`, `FailureKind`, and the `RunSummary` every caller reads.

Alerts, exit codes, metrics and logs decide from these enums, never from the run's error text. Both are
str-valued: their values are the text stored in `activate_runs.status` / `activate_runs.failure_kind`.

    status      exit  when
    succeeded   0     every row sent was confirmed (or nothing needed sending)
    partial     3     some rows succeeded, or failures were per row; or the daily quota ran out (kind `quota`)
    failed      1     the run could not do its job: a guardrail, the error rate, auth, an unreachable
                      destination, a config problem, a lost lock, or a bug (`failure_kind` says which)
    aborted     1     stopped from outside (SIGTERM, Ctrl-C: kind `interrupted`) after the batches in flight were
                      recorded; the CLI exits 130 (SIGINT) or 143 (SIGTERM) for it
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from activate.errors import ActivateError, ConfigError, GuardrailError, SourceError, UsageError
from activate.http.errors import AuthFailed, QuotaExhausted, Unreachable

__all__ = ["EXIT_CODES", "FailureKind", "RunStatus", "RunSummary", "failure_kind_of"]


class RunStatus(StrEnum):
    """Where a run ended (or `running` while it goes)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    ABORTED = "aborted"


class FailureKind(StrEnum):
    """Why a run failed, was aborted, or (quota) ended partial; None when it succeeded or only rows failed."""

    GUARDRAIL = "guardrail"  # a plan guardrail tripped before any write
    ERROR_RATE = "error_rate"  # max_error_rate: too many rows failed or were rejected
    AUTH = "auth"  # credentials refused after the one refresh (401/403)
    CONNECTION = "connection"  # the destination cannot be reached: TLS, refused, DNS, timeouts
    QUOTA = "quota"  # the daily API quota ran out (status partial: unsent rows stay pending)
    CONFIG = "config"  # invalid config or a query that fails
    LOCK_LOST = "lock_lost"  # the sync's lease expired and another run took it over
    INTERRUPTED = "interrupted"  # SIGTERM / Ctrl-C: a graceful stop
    INTERNAL = "internal"  # a bug or an unexpected driver error


EXIT_CODES = {RunStatus.SUCCEEDED: 0, RunStatus.FAILED: 1, RunStatus.ABORTED: 1, RunStatus.PARTIAL: 3}


def failure_kind_of(exc: BaseException) -> FailureKind:
    """The kind of failure an exception that ended a run stands for (decided from its type)."""
    if isinstance(exc, KeyboardInterrupt):
        return FailureKind.INTERRUPTED
    if isinstance(exc, GuardrailError):
        return FailureKind.GUARDRAIL
    if isinstance(exc, (ConfigError, UsageError, SourceError)):
        return FailureKind.CONFIG
    if isinstance(exc, AuthFailed):
        return FailureKind.AUTH
    if isinstance(exc, Unreachable):
        return FailureKind.CONNECTION
    if isinstance(exc, QuotaExhausted):
        return FailureKind.QUOTA
    if isinstance(exc, ActivateError):
        return FailureKind.INTERNAL if type(exc) is ActivateError else _writer_kind(exc)
    return FailureKind.INTERNAL


def _writer_kind(exc: ActivateError) -> FailureKind:
    status = getattr(exc, "status", None)
    if status in (401, 403):
        return FailureKind.AUTH
    return FailureKind.INTERNAL


@dataclass
class RunSummary:
    """What a run did; also the `--json` output and the Python API's return value."""

    run_id: str
    sync_name: str
    status: RunStatus = RunStatus.RUNNING
    rows_read: int = 0
    rows_added: int = 0
    rows_changed: int = 0
    rows_removed: int = 0
    rows_unchanged: int = 0
    rows_succeeded: int = 0
    rows_failed: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0
    rows_invalid: int = 0
    api_calls: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    failure_kind: FailureKind | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = RunStatus(self.status).value
        data["failure_kind"] = FailureKind(self.failure_kind).value if self.failure_kind else None
        data["exit_code"] = self.exit_code
        return data
