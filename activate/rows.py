"""The neutral vocabulary every layer shares: `Operation`, `RowStatus`, `RowResult`.

One audit row type end to end: a destination returns `RowResult`s, the engine stamps each with the operation it
sent (and masks its message), and the state store records exactly these objects in `activate_row_results`. The
toolkit (`activate.http`), the destinations, the engine and `activate.state` all import this module; it imports
nothing from activate, so it can never be part of an import cycle.

The enums are `str`-valued: their values are the text stored in the state tables (`upsert`, `succeeded`, ...),
and `RowStatus.SUCCEEDED == "succeeded"` holds, so rows read back from a table compare equal to the members.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = ["Operation", "RowResult", "RowStatus"]


class Operation(StrEnum):
    """What the engine asks the destination to do with a row."""

    INSERT = "insert"
    UPDATE = "update"
    UPSERT = "upsert"
    DELETE = "delete"
    ASSOCIATE = "associate"  # a link to another sync's record created (HubSpot associations)
    DISSOCIATE = "dissociate"  # a link removed (the row's associated key changed)

    @property
    def is_link(self) -> bool:
        """An association result: audited per row, but never the row's own state (hash, destination id)."""
        return self in (Operation.ASSOCIATE, Operation.DISSOCIATE)


class RowStatus(StrEnum):
    """A row's outcome in one run (DESIGN §3.6)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # transient: retried on the next run
    REJECTED = "rejected"  # the destination refused this row's data: retried when the data changes
    SKIPPED = "skipped"  # recorded but not sent (insert mode ignores changed rows)


@dataclass(frozen=True)
class RowResult:
    """One row's outcome: the destination's verdict, and the audit row recorded for it.

    `operation` is `None` while the result is in a writer's hands (a writer answers for the batch it was given);
    the engine sets it with `with_operation` before recording, so every recorded result names its operation.
    `attempts` is 0 for rows settled without an API call (invalid rows, skipped rows).
    """

    key: str
    status: RowStatus
    destination_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 1
    operation: Operation | None = None

    @classmethod
    def ok(cls, key: str, destination_id: str | None = None, attempts: int = 1) -> RowResult:
        return cls(key, RowStatus.SUCCEEDED, destination_id, attempts=attempts)

    @classmethod
    def rejected(cls, key: str, code: str, message: str, attempts: int = 1) -> RowResult:
        return cls(key, RowStatus.REJECTED, None, code, message, attempts)

    @classmethod
    def failed(cls, key: str, code: str, message: str, attempts: int = 1) -> RowResult:
        return cls(key, RowStatus.FAILED, None, code, message, attempts)

    @classmethod
    def skipped(cls, key: str, operation: Operation, destination_id: str | None, message: str) -> RowResult:
        """A row recorded without a write (insert mode ignores a changed row; a non-mirror sync forgets a removed
        one)."""
        return cls(key, RowStatus.SKIPPED, destination_id, None, message, 0, operation)

    def with_operation(self, operation: Operation) -> RowResult:
        """This result, stamped with the operation the engine sent."""
        return self if self.operation is operation else replace(self, operation=operation)
