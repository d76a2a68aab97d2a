"""The association phase of a run: after a sync's records are written, link them to records other syncs wrote.

For each `destination.associations` entry, a row's key column names rows of another sync (one key, a list of keys,
or null for none); that sync's state maps each key to its record id. The phase, in order:

1. rows whose write the destination confirmed (their state holds the hash they were planned with) now want the
   links their key columns name (`activate.state.links.want`): a moved key leaves its old link stale and its new
   one pending; rows gone from state (mirror deletes, forgotten rows) drop their links, which the destination
   removed with the record;
2. every stale link of the sync is removed (`dissociate`), every pending one whose target is synced is created
   (`associate`), through the destination's batch calls; a target not synced yet is a `failed` result naming it
   ("company 42 is not synced yet by hubspot_companies") and stays pending, so the next run retries it even if
   the row has not changed; the record's own write is never held back;
3. each row's outcome is one audit row per operation (`associate`, `dissociate`) in `activate_row_results`, and
   the links' new states are recorded.

A re-run with nothing moved and nothing pending makes no call. `plan_links` computes the same changes read-only
for `activate plan`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from activate.destinations.base import AssociationWriter, LinkOp
from activate.plan.mapping import parse_payload
from activate.rows import Operation, RowResult, RowStatus
from activate.state import links as link_state
from activate.state.links import LINKED, PENDING, STALE, Link, Wanted

if TYPE_CHECKING:
    from activate.config import LoadedSync
    from activate.config.models import AssociationSpec
    from activate.diff.native import PlannedDiff
    from activate.state.reader import StateReader
    from activate.state.store import StateStore

SAMPLE_LINKS = 3


def label_of(association: AssociationSpec) -> str:
    """A stable name for one `destination.associations` entry (a changed entry is another label)."""
    kind = f"{association.category}:{association.type}" if association.type is not None else "default"
    return f"{association.to}:{association.sync}:{association.key}:{kind}"


def key_text(value: Any) -> str | None:
    """An associated row's key as the other sync's state stores it (a single-column key's canonical text)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def wanted_links(sync: LoadedSync, payload: Mapping[str, Any]) -> set[Wanted]:
    """The links one row's source values name, across every association entry."""
    wanted: set[Wanted] = set()
    for association in sync.spec.destination.associations:
        raw = payload.get(association.key)
        values = raw if isinstance(raw, list | tuple) else [raw]
        for value in values:
            key = key_text(value)
            if key is not None:
                wanted.add((label_of(association), association.to, key))
    return wanted


def has_unsettled(reader: StateReader, sync: LoadedSync) -> bool:
    """Whether earlier runs left links to make or remove (then a run opens the destination even with no row to
    write)."""
    return bool(sync.spec.destination.associations) and bool(link_state.read_links(reader, sync.name, unsettled=True))


@dataclass
class LinkCounts:
    """What the phase did (or, for `plan`, would do)."""

    created: int = 0
    removed: int = 0
    failed: int = 0
    rejected: int = 0
    waiting: int = 0  # targets not synced yet
    samples: list[dict[str, str]] = field(default_factory=list)


class AssociationPhase:
    """One run's association step: `run()` after the records are written and recorded."""

    def __init__(
        self,
        sync: LoadedSync,
        store: StateStore,
        run_id: str,
        record: Callable[[list[RowResult]], None],
        mask: Callable[[str], str],
    ) -> None:
        self.sync = sync
        self.store = store
        self.run_id = run_id
        self.record = record
        self.mask = mask
        self.by_label = {label_of(a): a for a in sync.spec.destination.associations}

    def run(self, workspace: PlannedDiff, destination: AssociationWriter) -> LinkCounts:
        own = _destination_ids(self.store, self.sync.name, with_hashes=True)
        wanted: dict[str, set[Wanted]] = {}
        for chunk in workspace.planned(["added", "changed"]):
            for row in chunk:
                held = own.get(row.row_key)
                if held is not None and held[1] == row.row_hash and row.payload is not None:
                    wanted[row.row_key] = wanted_links(self.sync, parse_payload(row.payload))
        gone = [r.row_key for chunk in workspace.planned(["removed"]) for r in chunk if r.row_key not in own]
        link_state.want(self.store, self.sync.name, self.run_id, wanted)
        link_state.forget(self.store, self.sync.name, gone)
        work = link_state.read_links(self.store, self.sync.name, unsettled=True)
        counts = LinkCounts()
        if work:
            self._settle(work, {key: held[0] for key, held in own.items()}, destination, counts)
        return counts

    def _settle(
        self, work: list[Link], from_ids: Mapping[str, str | None], destination: AssociationWriter, counts: LinkCounts
    ) -> None:
        outcomes: dict[tuple[str, str, str], Link | None] = {}
        audit: dict[tuple[str, Operation], list[tuple[RowStatus, str | None, str | None, str | None]]] = {}

        def note(
            key: str, op: Operation, status: RowStatus, target: str | None, code: str | None, msg: str | None
        ) -> None:
            audit.setdefault((key, op), []).append((status, target, code, msg))

        stale = [link for link in work if link.state == STALE]
        pending = [link for link in work if link.state == PENDING]
        removals = [self._op(link, from_ids.get(link.row_key), link.target_id) for link in stale]
        for result in destination.dissociate([op for op in removals if op is not None]) if removals else []:
            sent = result.link
            if result.status is RowStatus.SUCCEEDED:
                outcomes[(sent.row_key, sent.label, sent.target_key)] = None
                counts.removed += 1
            note(sent.row_key, Operation.DISSOCIATE, result.status, sent.to_id, result.error_code, result.error_message)
        targets = self._targets(pending)
        creates: list[LinkOp] = []
        for link in pending:
            association = self.by_label.get(link.label)
            target_id = targets.get((link.label, link.target_key))
            from_id = from_ids.get(link.row_key)
            if association is None:
                outcomes[link.ident] = None  # an entry removed from the config: nothing to make
            elif target_id is None:
                counts.waiting += 1
                message = (
                    f"{_singular(association.to)} {link.target_key} is not synced yet by {association.sync}; "
                    "linked on the run after it is"
                )
                note(link.row_key, Operation.ASSOCIATE, RowStatus.FAILED, None, "NOT_SYNCED_YET", message)
            elif from_id is None:
                note(link.row_key, Operation.ASSOCIATE, RowStatus.FAILED, None, "NOT_SYNCED_YET", "no record id yet")
            else:
                creates.append(
                    LinkOp(
                        link.row_key,
                        link.label,
                        link.target_key,
                        from_id,
                        link.to_object,
                        target_id,
                        association.type,
                        association.category,
                    )
                )
        for result in destination.associate(creates) if creates else []:
            made = result.link
            if result.status is RowStatus.SUCCEEDED:
                outcomes[(made.row_key, made.label, made.target_key)] = Link(
                    made.row_key, made.label, made.target_key, made.to_object, made.to_id, LINKED
                )
                counts.created += 1
            note(made.row_key, Operation.ASSOCIATE, result.status, made.to_id, result.error_code, result.error_message)
        if outcomes:
            link_state.settle(self.store, self.sync.name, self.run_id, outcomes)
        results = [self._audit(key, op, verdicts) for (key, op), verdicts in audit.items()]
        counts.failed = sum(1 for r in results if r.status is RowStatus.FAILED)
        counts.rejected = sum(1 for r in results if r.status is RowStatus.REJECTED)
        if results:
            self.record(results)

    def _op(self, link: Link, from_id: str | None, to_id: str | None) -> LinkOp | None:
        if from_id is None or to_id is None:
            return None
        return LinkOp(link.row_key, link.label, link.target_key, from_id, link.to_object, to_id)

    def _targets(self, pending: Iterable[Link]) -> dict[tuple[str, str], str]:
        """(label, target key) -> the associated record's id, from the other syncs' state."""
        wanted: dict[str, set[str]] = {}
        for link in pending:
            association = self.by_label.get(link.label)
            if association is not None:
                wanted.setdefault(association.sync, set()).add(link.target_key)
        ids: dict[str, dict[str, str]] = {}
        for sync_name, keys in wanted.items():
            held = _destination_ids(self.store, sync_name, with_hashes=False)
            ids[sync_name] = {key: str(held[key][0]) for key in keys if key in held and held[key][0]}
        found: dict[tuple[str, str], str] = {}
        for link in pending:
            association = self.by_label.get(link.label)
            if association is not None and link.target_key in ids.get(association.sync, {}):
                found[(link.label, link.target_key)] = ids[association.sync][link.target_key]
        return found

    def _audit(
        self, key: str, op: Operation, verdicts: Sequence[tuple[RowStatus, str | None, str | None, str | None]]
    ) -> RowResult:
        """One audit row per row and operation: the worst verdict of its links, the ids linked, every reason."""
        rank = {RowStatus.SUCCEEDED: 0, RowStatus.FAILED: 1, RowStatus.REJECTED: 2}
        status = max((v[0] for v in verdicts), key=lambda s: rank.get(s, 0))
        ids = ",".join(sorted({str(v[1]) for v in verdicts if v[1] and v[0] is RowStatus.SUCCEEDED})) or None
        code = next((v[2] for v in verdicts if v[0] is status and v[2]), None)
        messages = sorted({self.mask(v[3]) for v in verdicts if v[0] is not RowStatus.SUCCEEDED and v[3]})
        return RowResult(key, status, ids, code, "; ".join(messages) or None, 1, op)


def plan_links(reader: StateReader, sync: LoadedSync, workspace: PlannedDiff) -> LinkCounts:
    """For `activate plan` (read-only): links the run would create and remove, assuming every planned write
    succeeds, plus what earlier runs left pending; a sample of each."""
    counts = LinkCounts()
    if not sync.spec.destination.associations:
        return counts
    stored: dict[str, list[Link]] = {}
    for link in link_state.read_links(reader, sync.name):
        stored.setdefault(link.row_key, []).append(link)
    touched: set[str] = set()
    for chunk in workspace.planned(["added", "changed"]):
        for row in chunk:
            if row.payload is None:
                continue
            touched.add(row.row_key)
            desired = wanted_links(sync, parse_payload(row.payload))
            held = {(lk.label, lk.to_object, lk.target_key): lk for lk in stored.get(row.row_key, [])}
            for spec in sorted(desired):
                found = held.get(spec)
                if found is None or found.state == PENDING:
                    _count(counts, "associate", row.row_key, spec[1], spec[2])
            for spec, link in held.items():
                if spec not in desired and link.state in (LINKED, STALE):
                    _count(counts, "dissociate", row.row_key, spec[1], spec[2])
    for key, held_links in stored.items():
        if key in touched:
            continue
        for link in held_links:
            if link.state == PENDING:
                _count(counts, "associate", key, link.to_object, link.target_key)
            elif link.state == STALE:
                _count(counts, "dissociate", key, link.to_object, link.target_key)
    return counts


def _count(counts: LinkCounts, operation: str, key: str, to_object: str, target_key: str) -> None:
    if operation == "associate":
        counts.created += 1
    else:
        counts.removed += 1
    if len(counts.samples) < 2 * SAMPLE_LINKS:
        counts.samples.append({"key": key, "operation": operation, "to": to_object, "target_key": target_key})


def _destination_ids(reader: StateReader, sync_name: str, *, with_hashes: bool) -> dict[str, tuple[str | None, str]]:
    """row key -> (destination id, row hash) of a sync's synced rows."""
    return {
        row.row_key: (row.destination_id, row.row_hash if with_hashes else "")
        for chunk in reader.state_rows(sync_name)
        for row in chunk
    }


def _singular(object_type: str) -> str:
    return object_type[:-3] + "y" if object_type.endswith("ies") else object_type.removesuffix("s")


__all__ = ["AssociationPhase", "LinkCounts", "has_unsettled", "label_of", "plan_links", "wanted_links"]
