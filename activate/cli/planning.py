"""`activate plan` over a selection of syncs: one plan per sync, built from a read-only StateReader.

Exit code 4 when any plan trips a guardrail, so CI can gate a change on `plan` (0 otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from activate.exits import GUARDRAIL_TRIPPED, SUCCEEDED

if TYPE_CHECKING:
    from activate.config import Project
    from activate.plan.builder import PlanOptions
    from activate.plan.plan import Plan


def plan_syncs(project: Project, names: Sequence[str], options: PlanOptions) -> list[Plan]:
    """The plan of each named sync, in order; nothing is written anywhere."""
    from activate.plan.builder import build_plan
    from activate.secrets.connections import new_session
    from activate.secrets.session import secret_scope
    from activate.state.store import StateReader

    reader = StateReader(project.spec.state.url, project_root=project.root)
    try:
        with secret_scope(new_session(project)):  # each provider secret is read once for all the plans
            return [build_plan(project, name, reader, options) for name in names]
    finally:
        reader.dispose()


def plan_exit_code(plans: Sequence[Plan]) -> int:
    """4 when a guardrail trips on any plan, else 0."""
    return GUARDRAIL_TRIPPED if any(plan.tripped for plan in plans) else SUCCEEDED
