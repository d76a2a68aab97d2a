"""Airflow: `ActivateSyncOperator` and `run_activate_sync` (for `@task`), with the CLI's exit semantics.

Import this module only where Airflow is installed (2.7+ or 3.x); activate itself does not depend on it.

How a run's outcome becomes a task state (the CLI's exit codes, DESIGN §3):

- succeeded (exit 0): success; the summary is the task's return value (XCom `return_value`).
- partial (exit 3): as `on_partial` says: `"fail"` (the default) fails the task, and a retry re-sends only what is
  still pending; `"skip"` marks it skipped; `"succeed"` lets it succeed.
- failed (exit 1): failed, and retryable: writes are idempotent upserts, so a retry is safe.
- invalid config (exit 2): failed without retries (`AirflowFailException`): a retry cannot fix a typo.

Whatever the outcome, the summary (`RunSummary.to_dict()`: run_id, status, counts, api_calls, error) is pushed to
XCom under the key `summary` before the task ends, so a downstream task or a callback can read a skipped or failed
run's counts too. Partial fails by default because rows were refused or left pending: a green task would hide them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

try:  # Airflow 3 exposes the authoring API as airflow.sdk; Airflow 2 as airflow.models
    from airflow.sdk import BaseOperator
except ImportError:  # pragma: no cover - exercised only on Airflow 2
    from airflow.models import BaseOperator
try:
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
except ImportError:  # pragma: no cover - exercised only on Airflow 2
    from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException

OnPartial = Literal["fail", "skip", "succeed"]
ON_PARTIAL: tuple[OnPartial, ...] = ("fail", "skip", "succeed")
SUMMARY_KEY = "summary"


def run_activate_sync(
    sync: str,
    project_dir: str | Path | None = None,
    *,
    on_partial: OnPartial = "fail",
    full_resync: bool = False,
    retry_rejected: bool = False,
    wait: bool = False,
    ti: Any = None,
) -> dict[str, Any]:
    """Run one sync and return its summary, raising as the table in the module docstring says.

    For `@task`: `task(retries=2)(run_activate_sync)("hubspot_contacts", "/srv/analytics")`; the returned summary
    becomes the task's XCom. `ti` (the task instance, which Airflow passes to a `@task` callable that names it)
    also gets the summary under the key `summary` before a skip or failure. The options are `activate run`'s.
    There is deliberately no `**kwargs`: Airflow would pass the whole task context into it.
    """
    import activate
    from activate.errors import ActivateError

    if on_partial not in ON_PARTIAL:
        raise ValueError(f"on_partial must be one of {', '.join(ON_PARTIAL)}, got {on_partial!r}")
    try:
        options = {"full_resync": full_resync, "retry_rejected": retry_rejected, "wait": wait}
        summary = activate.run_sync(sync, project_dir=project_dir, **options).to_dict()
    except ActivateError as exc:
        if exc.exit_code == 2:
            raise AirflowFailException(f"activate sync {sync}: {exc}") from None
        raise AirflowException(f"activate sync {sync}: {exc}") from None
    if ti is not None:
        ti.xcom_push(key=SUMMARY_KEY, value=summary)
    return settle(summary, on_partial)


def settle(summary: dict[str, Any], on_partial: OnPartial = "fail") -> dict[str, Any]:
    """`summary` when the run counts as a success, else the exception that gives the task its state."""
    code = summary["exit_code"]
    what = (
        f"activate sync {summary['sync_name']} {summary['status']} (run {summary['run_id']}): "
        f"{summary['rows_succeeded']} succeeded, {summary['rows_failed']} failed, {summary['rows_rejected']} rejected"
        + (f"; {summary['error']}" if summary.get("error") else "")
    )
    if code == 0 or (code == 3 and on_partial == "succeed"):
        return summary
    if code == 3 and on_partial == "skip":
        raise AirflowSkipException(what)
    if code == 2:
        raise AirflowFailException(what)
    raise AirflowException(what)


class ActivateSyncOperator(BaseOperator):  # type: ignore[misc]
    """Run one activate sync as an Airflow task (see the module docstring for states and XCom).

    `sync` and `project_dir` are templated. Give the task `retries`: a failed run is safe to retry, and a run
    that finds the sync already running elsewhere fails (exit 1) unless `wait=True`.
    """

    template_fields = ("sync", "project_dir")

    def __init__(
        self,
        *,
        sync: str,
        project_dir: str | None = None,
        on_partial: OnPartial = "fail",
        full_resync: bool = False,
        retry_rejected: bool = False,
        wait: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_partial not in ON_PARTIAL:
            raise ValueError(f"on_partial must be one of {', '.join(ON_PARTIAL)}, got {on_partial!r}")
        self.sync = sync
        self.project_dir = project_dir
        self.on_partial = on_partial
        self.full_resync = full_resync
        self.retry_rejected = retry_rejected
        self.wait = wait

    def execute(self, context: Any) -> dict[str, Any]:
        return run_activate_sync(
            self.sync,
            self.project_dir,
            on_partial=self.on_partial,
            full_resync=self.full_resync,
            retry_rejected=self.retry_rejected,
            wait=self.wait,
            ti=context["ti"],
        )


__all__ = ["ON_PARTIAL", "SUMMARY_KEY", "ActivateSyncOperator", "OnPartial", "run_activate_sync", "settle"]
