"""activate: reverse ETL with a per-row audit.

The public Python API, for orchestrators that prefer Python to the CLI:

    import activate
    summary = activate.run_sync("hubspot_contacts", project_dir="/srv/analytics")
    if summary.exit_code: ...                  # 0 succeeded, 1 failed, 3 partial (as `activate run`)
    plan = activate.plan_sync("hubspot_contacts")   # a dry run: nothing written
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activate.engine import RunSummary
    from activate.plan.plan import Plan

__version__ = "0.1.0"
__all__ = ["__version__", "plan_sync", "run_sync"]


def run_sync(sync: str, project_dir: str | Path | None = None, **options: Any) -> RunSummary:
    """Run one sync once; options as `activate run` (full_resync, retry_rejected, wait, trigger) and `target`, the
    `targets:` entry to use (default: ACTIVATE_TARGET, else `default_target:`)."""
    from activate.config import load_project
    from activate.engine import RunOptions
    from activate.engine import run_sync as run

    target = options.pop("target", None)
    return run(load_project(project_dir, target=target), sync, RunOptions(**options))


def plan_sync(sync: str, project_dir: str | Path | None = None, **options: Any) -> Plan:
    """The plan of one sync (what a run would send), with nothing written; options: full_resync, retry_rejected,
    and `target` as for `run_sync`."""
    from activate.config import load_project
    from activate.plan.builder import PlanOptions, build_plan
    from activate.secrets.connections import new_session
    from activate.secrets.session import secret_scope
    from activate.state.store import StateReader

    project = load_project(project_dir, target=options.pop("target", None))
    reader = StateReader(project.spec.state.url, project_root=project.root)
    try:
        with secret_scope(new_session(project)):  # the source's secrets read once for the whole plan
            return build_plan(project, sync, reader, PlanOptions(**options))
    finally:
        reader.dispose()
