"""Where a sync's state lives, and whether it moved: `plan` names the store it read, and a sync whose state store
is empty although its last run left state there, or somewhere else, is said to start from zero.

The evidence is a marker per sync, `.activate/state-location/<sync>.json` in the project directory, written after
every run and by `reset`: a fingerprint of the state location (the state URL, and the warehouse connection when
the sync keeps `state: warehouse`), a description with the password masked, and how many rows of state the run
left. The marker lives beside the project, not in a store, because a store cannot testify that another store
exists; where the project directory does not survive between runs (a fresh container per run) there is no marker
and no warning, never a false one.

A moved or lost state matters most to a mirror sync: the rows deleted at the source while its state was elsewhere
are never deleted at the destination, and every row is re-sent once. So `plan` warns, and `run` refuses a mirror
sync until `--full-resync` (or `reset`) acknowledges it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from activate.config import LoadedSync, Project

MARKER_DIR = Path(".activate") / "state-location"


def describe_state(project: Project, sync: LoadedSync) -> str:
    """`state store: duckdb:///.activate/state.duckdb (from ACTIVATE_STATE_URL)`, plus the warehouse connection
    when the sync keeps its per-row state there (`state: warehouse`)."""
    text = f"state store: {project.state_store()}"
    if sync.spec.state == "warehouse":
        text += f"; per-row state in the warehouse of connection '{sync.spec.source.connection}'"
    return text


@dataclass(frozen=True)
class StateLocation:
    """One sync's state location: `fingerprint` compares locations without storing a URL's password."""

    fingerprint: str
    where: str

    @classmethod
    def of(cls, project: Project, sync: LoadedSync) -> StateLocation:
        url = project.spec.state.url
        if url.startswith("duckdb:///") and not url.startswith("duckdb:////"):
            url = "duckdb:///" + str((project.root / url.removeprefix("duckdb:///")).resolve())
        place = [url, sync.spec.state, sync.spec.source.connection if sync.spec.state == "warehouse" else ""]
        digest = hashlib.sha256(json.dumps(place).encode()).hexdigest()[:20]
        return cls(digest, describe_state(project, sync).removeprefix("state store: "))


def remember_state(project: Project, sync: LoadedSync, state_rows: int) -> None:
    """Record where `sync`'s state now is and how many rows it holds (after a run, or 0 after `reset`).

    Best effort: a read-only project directory keeps no marker (and so gets no warnings), never a failed run.
    """
    location = StateLocation.of(project, sync)
    path = project.root / MARKER_DIR / f"{sync.name}.json"
    record = {"fingerprint": location.fingerprint, "where": location.where, "rows": state_rows}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(record))
        os.replace(partial, path)  # atomic: a reader sees the old marker or the new one
    except OSError:
        return


def moved_state(project: Project, sync: LoadedSync, state_rows: int) -> str | None:
    """Why `sync` starts from zero when its store holds no state but its last run left some; else None."""
    if state_rows > 0:
        return None
    path = project.root / MARKER_DIR / f"{sync.name}.json"
    try:
        marker = json.loads(path.read_text())
        rows, fingerprint, where = int(marker["rows"]), str(marker["fingerprint"]), str(marker["where"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if rows <= 0:
        return None
    here = StateLocation.of(project, sync)
    if fingerprint != here.fingerprint:
        story = f"its last run kept {rows} rows of state in {where}, and {here.where} holds none"
    else:
        story = f"its last run left {rows} rows of state in {where}, which now holds none (replaced or emptied)"
    return (
        f"sync '{sync.name}' starts from zero: {story}; change detection re-sends every row once"
        + (
            ", and rows deleted meanwhile are never deleted at the destination"
            if sync.spec.destination.mode == "mirror"
            else ""
        )
        + " (point state back at the old store, or acknowledge with --full-resync or `activate reset`)"
    )
