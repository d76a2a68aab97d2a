"""Where a sync's state lives, said in words: `plan` names the store it read, so a dry run against the wrong
store (an `ACTIVATE_STATE_URL` left over from another shell, a `state:` switch) is visible before anything runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from activate.config import LoadedSync, Project


def describe_state(project: Project, sync: LoadedSync) -> str:
    """`state store: duckdb:///.activate/state.duckdb (from ACTIVATE_STATE_URL)`, plus the warehouse connection
    when the sync keeps its per-row state there (`state: warehouse`)."""
    text = f"state store: {project.state_store()}"
    if sync.spec.state == "warehouse":
        text += f"; per-row state in the warehouse of connection '{sync.spec.source.connection}'"
    return text
