"""The writer protocol every destination implements, and the data that crosses it.

The engine hands a destination one `WriteBatch` at a time (rows of a single operation, at most the batch size the
destination asked for) and gets back exactly one `RowResult` per row, in any order, joined by `RowOp.key`.
A destination knows nothing about state: it never reads or writes state tables.

Invariants a destination must keep:
- every row of a batch gets exactly one result; a row the destination never sent is `failed` (retried next run),
  a row it refused for its data is `rejected`;
- a result is `succeeded` only when the destination confirmed the write;
- `destination_id` on a succeeded upsert/insert is the record's id in the destination (HubSpot record id,
  Salesforce Id, Slack `channel:ts`), which the engine stores and hands back on later updates and deletes;
- when the daily quota runs out, raise `activate.http.errors.QuotaExhausted` with the results of rows already
  confirmed; rows without a result stay pending for the next run;
- a run-level failure (revoked token, unknown object) raises `activate.http.errors.TerminalError` (or a subclass).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from activate.http.stats import RunStats
from activate.rows import Operation, RowResult, RowStatus

# Operation, RowStatus, RowResult and RunStats live in neutral modules (`activate.rows`, `activate.http.stats`);
# they stay importable from here for destination plugins written against this module.
__all__ = [
    "AssociationWriter",
    "Capabilities",
    "Destination",
    "DestinationPlugin",
    "LinkOp",
    "LinkResult",
    "Operation",
    "RowOp",
    "RowResult",
    "RowStatus",
    "RunStats",
    "WriteBatch",
    "WriteContext",
    "results_for",
]

if TYPE_CHECKING:
    from pydantic import BaseModel

    from activate.clock import Clock
    from activate.config.models import DestinationSpec


@dataclass(frozen=True)
class RowOp:
    """One row to write.

    `fields` are the rendered destination fields (JSON-ready values), `None` for deletes. An UPDATE/UPSERT row may
    carry a subset of the mapped fields (only the changed ones, always with the sync's match field when it has one),
    and rows of one batch may carry different subsets: a writer sends exactly the fields it is given, and a `None`
    value clears that field in the destination.
    `destination_id` is the id stored from the row's last confirmed write, if any.
    `match_value` is the value of the sync's `match` field (external id) for this row, when the sync has one.
    `version` names the row's state before this write (the run that last confirmed it; None for a row never synced):
    a batch re-sent after a crash or a retry carries the same versions, while a legitimate second write of the same
    data (a value set, changed, then set back; a revert re-applied) does not, so a writer that derives a replay key
    from the content (the webhook's Idempotency-Key) adds it and never mistakes such a write for a replay.
    """

    key: str
    operation: Operation
    fields: Mapping[str, Any] | None = None
    destination_id: str | None = None
    match_value: Any = None
    version: str | None = None


@dataclass(frozen=True)
class WriteBatch:
    """Rows of a single operation, sent together."""

    operation: Operation
    rows: Sequence[RowOp]

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Capabilities:
    """What a destination supports; the engine plans batches and validates syncs from it.

    `idempotent_insert=False` means a crash between sending an insert and recording it could duplicate the record,
    so the engine records an intent before sending and calls `Destination.reconcile` on the next run.
    `idempotent_upsert=False` means an upsert of a row without a stored destination id creates a new record every
    time it is sent (Slack posts a message): the engine guards it with an intent like an insert.
    `associations=True` means the destination links records across syncs (`destination.associations`) and
    implements `AssociationWriter`.
    """

    modes: frozenset[str]
    batch_size: int
    max_concurrency: int = 1
    requires_match: bool = False
    idempotent_insert: bool = False
    idempotent_upsert: bool = True
    associations: bool = False


@dataclass(frozen=True)
class WriteContext:
    """What a destination may know about the run that uses it."""

    sync_name: str
    run_id: str
    spec: DestinationSpec
    stats: RunStats
    clock: Clock


@dataclass(frozen=True)
class LinkOp:
    """One link between a written record and a record another sync wrote (a HubSpot association).

    `row_key` is the row that holds the link; `from_id` its record id, `to_id` the associated record's id.
    `type_id` None means the destination's default type for the pair; `category` qualifies `type_id`.
    """

    row_key: str
    label: str
    target_key: str
    from_id: str
    to_object: str
    to_id: str
    type_id: int | None = None
    category: str = "HUBSPOT_DEFINED"


@dataclass(frozen=True)
class LinkResult:
    """The destination's verdict on one link: `succeeded`, `failed` (retried next run) or `rejected`."""

    link: LinkOp
    status: RowStatus
    error_code: str | None = None
    error_message: str | None = None


class AssociationWriter(Protocol):
    """What a destination with `Capabilities.associations` implements besides `Destination`: links made and
    removed in batches after the records are written, through the same limiter, retries and budget. One result
    per link; a run-level failure raises like `Destination.write` (`QuotaExhausted`, `TerminalError`)."""

    def associate(self, links: Sequence[LinkOp]) -> list[LinkResult]: ...

    def dissociate(self, links: Sequence[LinkOp]) -> list[LinkResult]: ...


class Destination(Protocol):
    """A writer bound to one sync's destination for one run."""

    capabilities: Capabilities

    def batch_size(self, operation: Operation, total_rows: int) -> int:
        """Rows per `write` call for this operation, given how many rows the run will send (bulk APIs grow it)."""
        ...

    def write(self, batch: WriteBatch) -> list[RowResult]:
        """Send one batch; one result per row."""
        ...

    def reconcile(self, rows: Sequence[RowOp]) -> dict[str, str]:
        """Find records an interrupted earlier run may have created for these rows: row key -> destination id.

        Called before re-sending rows whose insert intent was recorded but whose result never was.
        """
        ...

    def check(self, fields: Iterable[str]) -> list[str]:
        """Verify credentials, the object, and that every mapped field exists; one message per problem."""
        ...

    def close(self) -> None: ...


class DestinationPlugin(Protocol):
    """A destination as the registry knows it: a connection model and a lazily built writer."""

    name: str
    connection_model: type[BaseModel]

    def capabilities(self) -> Capabilities: ...

    def partial_updates(self, spec: DestinationSpec) -> str | None:
        """Whether this sync's changed rows may be sent with only their changed fields (plus the match field).

        None: they may (`update: changed_fields` then sends each UPDATE/UPSERT row with just those fields, rows of
        one batch carrying different subsets). Otherwise the reason the full row is sent, one sentence, which
        `plan` prints. Decided from the spec alone (mode, match, object), without calling the vendor.
        """
        ...

    def create(self, connection: Any, context: WriteContext) -> Destination:
        """Build the writer (importing the vendor SDK only now)."""
        ...


def results_for(rows: Iterable[RowOp], status: RowStatus, code: str, message: str) -> list[RowResult]:
    """The same verdict for every row (a batch that failed or was refused as a whole)."""
    return [RowResult(r.key, status, None, code, message) for r in rows]
