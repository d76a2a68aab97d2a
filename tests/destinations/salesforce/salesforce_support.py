"""Row builders and helpers shared by the Salesforce destination tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from activate.destinations.base import Operation, RowOp, RowResult, RowStatus, WriteBatch
from activate.destinations.salesforce.writer import SalesforceDestination
from activate.testing.salesforce import SalesforceSimulator

WriterFactory = Callable[..., SalesforceDestination]
UPSERT_PATH = "/composite/sobjects/Contact/Activate_Id__c"


def contact(i: int, operation: Operation = Operation.UPSERT, **fields: Any) -> RowOp:
    values: dict[str, Any] = {
        "Activate_Id__c": f"c-{i}",
        "FirstName": f"First{i}",
        "LastName": f"Last{i}",
        "Email": f"person{i}@example.com",
    }
    values.update(fields)
    values = {k: v for k, v in values.items() if v is not _DROP}
    return RowOp(key=f"k{i}", operation=operation, fields=values, match_value=values.get("Activate_Id__c"))


_DROP = object()
DROP: Any = _DROP  # pass as a field value to leave the field out of the row


def contacts(n: int, start: int = 0, operation: Operation = Operation.UPSERT) -> list[RowOp]:
    return [contact(i, operation) for i in range(start, start + n)]


def write_all(writer: SalesforceDestination, rows: Sequence[RowOp], *, threads: int = 1) -> list[RowResult]:
    """Write rows the way the engine does: batches of `batch_size`, up to `threads` at once."""
    operation = rows[0].operation
    size = writer.batch_size(operation, len(rows))
    batches = [WriteBatch(operation, rows[i : i + size]) for i in range(0, len(rows), size)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [result for results in pool.map(writer.write, batches) for result in results]


def by_status(results: Sequence[RowResult]) -> dict[RowStatus, list[RowResult]]:
    grouped: dict[RowStatus, list[RowResult]] = {}
    for result in results:
        grouped.setdefault(result.status, []).append(result)
    return grouped


def org_ids(sim: SalesforceSimulator, sobject: str = "Contact") -> dict[str, str]:
    """External ID -> record Id of every record of `sobject` in the simulated org."""
    return {str(r["Activate_Id__c"]): str(r["Id"]) for r in sim.org.records(sobject)}


def data_calls(sim: SalesforceSimulator, method: str | None = None, path: str | None = None) -> list[Any]:
    return [c for c in sim.log.calls(method, path) if c.path.startswith("/services/data/")]
