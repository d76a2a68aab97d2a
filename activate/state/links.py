"""`activate_associations`: the links each synced row holds to records of other syncs (HubSpot associations).

One row per (sync, row key, association label, associated row key), in one of three states:

    linked    the destination holds the link; `target_id` is the associated record's id
    pending   wanted but not created yet (just wanted, its target not synced yet, or its call failed)
    stale     held by the destination but no longer wanted (the row's key moved): to be removed

`want` is called for rows whose write the destination confirmed: their wanted links become pending (or stay
linked), links they no longer want become stale, and pending ones they no longer want are dropped. The association
phase then works through every pending and stale link and `settle`s each outcome. Because the work list is read
from this table, a link that could not be made (its target not synced yet, a failed call, a run that stopped)
is retried by the next run, even when the row itself has not changed since.

The table lives in the project's state store (with runs and row results). Reads load a sync's links at once: a
sync's link count is its synced rows times the links per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sqlalchemy as sa

from activate.state import schema
from activate.state.changes import ConnectionStage

if TYPE_CHECKING:
    from activate.state.reader import StateReader
    from activate.state.store import StateStore

LINKED = "linked"
PENDING = "pending"
STALE = "stale"
_COLUMNS = ("sync_name", "row_key", "label", "target_key", "to_object", "target_id", "state", "run_id")
_CHUNK = 1000


@dataclass(frozen=True)
class Link:
    """One row's link to one associated row (see the module docstring for `state`)."""

    row_key: str
    label: str
    target_key: str
    to_object: str
    target_id: str | None
    state: str

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.row_key, self.label, self.target_key)


Wanted = tuple[str, str, str]
"""(label, to_object, target_key): one link a row wants."""


def read_links(reader: StateReader, sync_name: str, *, unsettled: bool = False) -> list[Link]:
    """Every link of a sync (only pending and stale ones with `unsettled`)."""
    t = schema.associations
    statement = sa.select(t.c.row_key, t.c.label, t.c.target_key, t.c.to_object, t.c.target_id, t.c.state).where(
        t.c.sync_name == sync_name
    )
    if unsettled:
        statement = statement.where(t.c.state != LINKED)
    if not _has_table(reader):
        return []
    with reader.connect() as conn:
        return [Link(*row) for row in conn.execute(statement)]


def want(store: StateStore, sync_name: str, run_id: str, wanted: Mapping[str, set[Wanted]]) -> None:
    """The rows in `wanted` (just written) now want exactly these links."""

    def change(key: str, links: list[Link]) -> list[Link]:
        desired = wanted[key]
        kept: list[Link] = []
        for link in links:
            spec = (link.label, link.to_object, link.target_key)
            if spec in desired:
                # a stale link wanted again is still held by the destination: linked, no call needed
                kept.append(replace(link, state=LINKED) if link.state == STALE else link)
            elif link.state in (LINKED, STALE):
                kept.append(replace(link, state=STALE))  # held by the destination: removed by the phase
            # a pending link no longer wanted was never made: dropped
        have = {(link.label, link.to_object, link.target_key) for link in kept}
        kept += [Link(key, label, target, to, None, PENDING) for label, to, target in sorted(desired - have)]
        return kept

    _rewrite(store, sync_name, run_id, list(wanted), change)


def settle(
    store: StateStore, sync_name: str, run_id: str, outcomes: Mapping[tuple[str, str, str], Link | None]
) -> None:
    """Record the phase's outcomes: each link identified by (row key, label, target key) becomes the given link
    (linked with its target id), or is removed (`None`: archived)."""
    by_row: dict[str, dict[tuple[str, str, str], Link | None]] = {}
    for ident, outcome in outcomes.items():
        by_row.setdefault(ident[0], {})[ident] = outcome

    def change(key: str, links: list[Link]) -> list[Link]:
        updates = by_row[key]
        changed = []
        for link in links:
            if link.ident not in updates:
                changed.append(link)
                continue
            outcome = updates[link.ident]
            if outcome is not None:
                changed.append(outcome)
        return changed

    _rewrite(store, sync_name, run_id, list(by_row), change)


def forget(store: StateStore, sync_name: str, row_keys: Sequence[str]) -> None:
    """Rows whose state is gone (deleted by mirror, forgotten by another mode): their links go with them."""
    if row_keys:
        _rewrite(store, sync_name, "", list(row_keys), lambda _key, _links: [])


def _rewrite(
    store: StateStore,
    sync_name: str,
    run_id: str,
    row_keys: list[str],
    change: Callable[[str, list[Link]], list[Link]],
) -> None:
    """Read the rows' links, apply `change` per row, write them back: one transaction, bulk delete and insert."""
    if not row_keys:
        return
    t = schema.associations
    with store.transaction() as conn:
        current: dict[str, list[Link]] = {key: [] for key in row_keys}
        for chunk in _chunks(row_keys):
            rows = conn.execute(
                sa.select(t.c.row_key, t.c.label, t.c.target_key, t.c.to_object, t.c.target_id, t.c.state).where(
                    t.c.sync_name == sync_name, t.c.row_key.in_(chunk)
                )
            )
            for row in rows:
                current[row[0]].append(Link(*row))
            conn.execute(sa.delete(t).where(t.c.sync_name == sync_name, t.c.row_key.in_(chunk)))
        written = [
            (sync_name, link.row_key, link.label, link.target_key, link.to_object, link.target_id, link.state, run_id)
            for key, links in current.items()
            for link in change(key, links)
        ]
        if written:
            ConnectionStage(conn).insert_rows(t.name, _COLUMNS, written)


def _chunks(keys: Sequence[str]) -> Iterable[Sequence[str]]:
    return (keys[i : i + _CHUNK] for i in range(0, len(keys), _CHUNK))


def _has_table(reader: StateReader) -> bool:
    try:
        with reader.connect() as conn:
            return sa.inspect(conn).has_table(schema.associations.name)
    except Exception:  # a DuckDB file not created yet: nothing linked
        return False
