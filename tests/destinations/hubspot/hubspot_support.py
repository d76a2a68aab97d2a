"""Row builders and request-log queries shared by the HubSpot tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activate.destinations.base import Operation, RowOp, RunStats
from activate.destinations.hubspot.writer import HubSpotDestination
from activate.testing.hubspot import HubSpotSimulator
from activate.testing.server import LoggedCall

NewWriter = Callable[..., tuple[HubSpotDestination, RunStats]]


def contact(i: int, op: Operation = Operation.UPSERT, **overrides: Any) -> RowOp:
    """Row `i` as the engine hands it over: rendered fields and the match value (email)."""
    fields = {"email": f"person{i}@example.com", "firstname": f"First{i}", **overrides.pop("fields", {})}
    return RowOp(str(i), op, fields, overrides.pop("destination_id", None), overrides.pop("match", fields["email"]))


def writes(sim: HubSpotSimulator, kind: str) -> list[LoggedCall]:
    """Every `batch/<kind>` request the simulator answered (recorded before the answer was sent), in order."""
    return sim.answered.calls("POST", f"/batch/{kind}")
