"""The Salesforce simulator as a `ConformanceTarget`: `people` rows land in the custom object `Customer__c`,
matched by the External ID field `Activate_Id__c`, through simple-salesforce over HTTPS with JWT auth."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from activate.testing.salesforce.app import CONSUMER_KEY, USERNAME, SalesforceSimulator

SOBJECT = "Customer__c"
EXTERNAL_ID = "Activate_Id__c"


class SalesforceConformanceTarget:
    """Drives one simulated org; `reject` installs a validation rule, `storm` and `slow` use the server's faults."""

    name = "salesforce"
    modes = frozenset({"upsert", "update", "insert", "mirror"})

    def __init__(self) -> None:
        self._simulator: SalesforceSimulator | None = None
        self._rejected: set[str] = set()

    @property
    def simulator(self) -> SalesforceSimulator:
        if self._simulator is None:
            raise RuntimeError("the Salesforce conformance target is not started")
        return self._simulator

    def start(self, workdir: Path) -> None:
        self._simulator = SalesforceSimulator(workdir / "salesforce-sim").start()
        self._rejected = set()
        self._simulator.org.validation_rules.append(self._suppressed)

    def stop(self) -> None:
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None

    def connection(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "type": "salesforce",
            "instance_url": sim.url,
            "login_url": sim.url,
            "ca_bundle": str(sim.ca_bundle),
            "auth": {
                "method": "jwt",
                "username": USERNAME,
                "consumer_key": CONSUMER_KEY,
                "private_key_path": str(sim.private_key_path),
            },
        }

    def destination(self, mode: str) -> dict[str, Any]:
        return {
            "object": SOBJECT,
            "mode": mode,
            "match": EXTERNAL_ID,
            "mapping": {
                EXTERNAL_ID: "id",
                "Email__c": "email",
                "First_Name__c": "first_name",
                "Last_Name__c": "last_name",
                "Score__c": "score",
            },
        }

    def records(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        for record in self.simulator.org.records(SOBJECT):
            key = str(record.get(EXTERNAL_ID))
            copies = 1
            while (key if copies == 1 else f"{key}#{copies}") in records:
                copies += 1
            records[key if copies == 1 else f"{key}#{copies}"] = {
                "email": record.get("Email__c"),
                "first_name": record.get("First_Name__c"),
            }
        return records

    def write_calls(self) -> int:
        return self.simulator.write_calls

    def written_fields(self) -> list[dict[str, Any]]:
        """Each record of every accepted Collections create/update/upsert (without `attributes` and `Id`), and each
        row of every Bulk upload with its non-empty cells (an empty cell leaves the field unchanged)."""
        written: list[dict[str, Any]] = []
        for call in self.simulator.log.calls():
            if call.status >= 400:
                continue
            if "/composite/sobjects" in call.path and call.method in ("POST", "PATCH"):
                for record in call.json().get("records") or []:
                    written.append({k: v for k, v in record.items() if k not in ("attributes", "Id")})
            elif call.method == "PUT" and call.path.endswith("/batches"):
                for row in csv.DictReader(io.StringIO(call.body.decode())):
                    written.append({name: cell for name, cell in row.items() if cell != ""})
        return written

    def reject(self, emails: set[str]) -> None:
        self._rejected |= set(emails)

    def storm(self, requests: int, retry_after: int) -> None:
        faults = self.simulator.faults
        faults.retry_after = retry_after
        faults.storm_429 = requests

    def slow(self, seconds: float) -> None:
        self.simulator.faults.latency = seconds

    def _suppressed(self, sobject: str, record: dict[str, Any]) -> str | None:
        email = record.get("Email__c") or record.get("Email")
        if email is not None and email in self._rejected:
            return f"Email {email} is on the suppression list"
        return None
