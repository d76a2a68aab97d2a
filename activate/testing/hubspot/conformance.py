"""`HubSpotConformanceTarget`: the HubSpot simulator as the shared destination conformance suite drives it.

The suite's `people` rows become contacts matched on a custom unique property `activate_id` (HubSpot's way to
upsert by an external id): `email` may change between runs without creating a second contact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activate.clock import SYSTEM_CLOCK, Clock
from activate.testing.hubspot.schema import PropertyDef
from activate.testing.hubspot.simulator import HubSpotSimulator

MATCH_PROPERTY = "activate_id"
GROUP_PROPERTY = "activate_group"


class HubSpotConformanceTarget:
    """A simulated portal whose contacts carry `activate_id` (unique), `email` and `firstname`."""

    name = "hubspot"
    modes = frozenset({"upsert", "update", "insert", "mirror"})

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._simulator: HubSpotSimulator | None = None

    @property
    def simulator(self) -> HubSpotSimulator:
        if self._simulator is None:
            raise RuntimeError("the HubSpot conformance target is not started")
        return self._simulator

    def start(self, workdir: Path) -> None:
        simulator = HubSpotSimulator(clock=self._clock)
        simulator.add_property("contacts", PropertyDef(MATCH_PROPERTY, label="Activate ID", unique=True))
        simulator.add_property("companies", PropertyDef(GROUP_PROPERTY, label="Activate group", unique=True))
        self._simulator = simulator.start()

    def stop(self) -> None:
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None

    def connection(self) -> dict[str, Any]:
        return {"type": "hubspot", "access_token": self.simulator.token, "base_url": self.simulator.url}

    def destination(self, mode: str) -> dict[str, Any]:
        return {
            "object": "contacts",
            "mode": mode,
            "match": MATCH_PROPERTY,
            "mapping": {MATCH_PROPERTY: "id", "email": "email", "firstname": "first_name"},
        }

    def group_destination(self) -> dict[str, Any]:
        return {
            "object": "companies",
            "match": GROUP_PROPERTY,
            "mapping": {GROUP_PROPERTY: "group_id", "name": "name"},
        }

    def association(self, sync: str, key: str) -> dict[str, Any]:
        return {"to": "companies", "sync": sync, "key": key}  # no type: HubSpot's default (associate/default)

    def links(self) -> dict[str, set[str]]:
        groups = {str(r["id"]): str(r.get(GROUP_PROPERTY)) for r in self.simulator.records("companies")}
        return {
            str(r.get(MATCH_PROPERTY)): {groups[c] for c in self.simulator.linked("contacts", r["id"], "companies")}
            for r in self.simulator.records("contacts")
        }

    def link_calls(self) -> int:
        return self.simulator.association_calls

    def records(self) -> dict[str, dict[str, Any]]:
        held: dict[str, dict[str, Any]] = {}
        for record in self.simulator.records("contacts"):
            base = str(record.get(MATCH_PROPERTY) or f"record:{record['id']}")
            key, copy = base, 1
            while key in held:
                copy += 1
                key = f"{base}#{copy}"
            held[key] = {"email": record.get("email"), "first_name": record.get("firstname")}
        return held

    def write_calls(self) -> int:
        return self.simulator.write_calls

    def written_fields(self) -> list[dict[str, Any]]:
        """Each input's `properties` from every batch create/update/upsert the simulator accepted (not 4xx)."""
        calls = [
            call
            for call in self.simulator.answered.calls("POST", "/crm/v3/objects/")
            if call.path.endswith(("/batch/create", "/batch/update", "/batch/upsert")) and call.status < 400
        ]
        return [dict(item.get("properties") or {}) for call in calls for item in call.json().get("inputs") or []]

    def reject(self, emails: set[str]) -> None:
        self.simulator.reject_values("email", emails)

    def storm(self, requests: int, retry_after: int) -> None:
        self.simulator.storm(requests, retry_after=retry_after)

    def slow(self, seconds: float) -> None:
        self.simulator.faults.latency = seconds
