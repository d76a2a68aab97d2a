"""`activate runs` and `activate rows` (`--diff`: each row's changed fields, old → new): the audit, read through a
StateReader, with arguments checked first.

An unknown status or sync is a usage error listing the valid choices (a typo must not print an empty, reassuring
table), and a run id may be shortened to any unique prefix, as `runs` prints it in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from activate.config.hints import closest
from activate.errors import UsageError
from activate.program import command

if TYPE_CHECKING:
    from activate.config import Project
    from activate.state.reader import StateReader
    from activate.state.records import RowResultRecord, RunRecord

RUN_STATUSES = ("running", "succeeded", "partial", "failed", "aborted")
PREFIX_MATCHES_SHOWN = 5


def row_statuses() -> tuple[str, ...]:
    from activate.destinations.base import RowStatus

    return tuple(s.value for s in RowStatus)


def check_choices(given: Sequence[str], valid: Sequence[str], what: str) -> list[str]:
    """`given` when each is one of `valid`; else a `UsageError` naming the closest choice and all of them."""
    for value in given:
        if value not in valid:
            guess = closest(value, valid)
            hint = f" (did you mean '{guess}'?)" if guess else ""
            raise UsageError(f"unknown {what} '{value}'{hint}; choose from: {', '.join(valid)}")
    return list(given)


def open_reader(project: Project) -> StateReader:
    from activate.state.reader import StateReader

    return StateReader(project.spec.state.url, project_root=project.root)


def resolve_run(reader: StateReader, run_id: str) -> RunRecord:
    """The run `run_id` names, in full or by a unique prefix; a `UsageError` for none or several."""
    found = reader.run(run_id)
    if found is not None:
        return found
    matches = reader.runs_with_prefix(run_id, PREFIX_MATCHES_SHOWN + 1)
    if len(matches) > 1:
        shown = ", ".join(m.run_id for m in matches[:PREFIX_MATCHES_SHOWN])
        more = " ..." if len(matches) > PREFIX_MATCHES_SHOWN else ""
        raise UsageError(f"run id prefix '{run_id}' matches several runs ({shown}{more}); give more characters")
    raise UsageError(f"no run '{run_id}' in the state store; list runs with: {command('runs')}")


def recent_runs(
    reader: StateReader, names: Sequence[str] | None, statuses: Sequence[str], limit: int
) -> list[RunRecord]:
    """The newest `limit` runs of `names` (every sync in the store when None), filtered by status."""
    if names is None:
        found = reader.runs(None, limit, statuses=statuses)
    else:
        found = [run for name in names for run in reader.runs(name, limit, statuses=statuses)]
    found.sort(key=lambda r: r.started_at, reverse=True)
    return found[:limit]


def row_changes(record: RowResultRecord) -> dict[str, Any]:
    """`rows RUN --diff`: one row result and the fields its write changed, `{field: {"old", "new"}}`.

    `created`: the run created the record (an insert or upsert of a row with no state before: nothing to compare,
    so no changes); a row synced before field-level state has changes with only "new" (its old values are unknown).
    """
    first = record.previous_hash is None and record.status == "succeeded"
    created = first and record.operation in ("insert", "upsert")
    out: dict[str, Any] = {
        "key": record.row_key,
        "operation": record.operation,
        "status": record.status,
        "created": created,
        "changes": record.changes(),
    }
    if first and not created and record.operation != "delete":
        out["note"] = "first synced by this run: the values it replaced are not known"
    elif record.error_message:
        out["note"] = record.error_message
    return out
