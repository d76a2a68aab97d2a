"""A simulated org over HTTPS and a factory for writers pointed at it (real simple-salesforce, real TLS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from salesforce_support import WriterFactory

from activate.clock import FakeClock
from activate.config.models import DestinationSpec
from activate.destinations.base import RunStats, WriteContext
from activate.destinations.salesforce import SalesforceConnection, plugin
from activate.destinations.salesforce.writer import SalesforceDestination
from activate.http.caller import forget_callers
from activate.testing.salesforce import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    SalesforceSimulator,
)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SalesforceSimulator]:
    forget_callers()
    with SalesforceSimulator(tmp_path / "sf") as simulator:
        yield simulator
    forget_callers()


def auth_for(sim: SalesforceSimulator, method: str) -> dict[str, Any]:
    if method == "jwt":
        return {
            "method": "jwt",
            "username": USERNAME,
            "consumer_key": CONSUMER_KEY,
            "private_key_path": str(sim.private_key_path),
        }
    if method == "client_credentials":
        return {"method": "client_credentials", "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}
    if method == "password":
        return {"method": "password", "username": USERNAME, "password": PASSWORD, "security_token": SECURITY_TOKEN}
    return {"method": "session", "session_id": sim.issue_session()}


def connection_for(sim: SalesforceSimulator, method: str = "jwt", **extra: Any) -> SalesforceConnection:
    return SalesforceConnection.model_validate(
        {
            "type": "salesforce",
            "instance_url": sim.url,
            "login_url": sim.url,
            "ca_bundle": str(sim.ca_bundle),
            "auth": auth_for(sim, method),
            **extra,
        }
    )


@pytest.fixture
def make_writer(sim: SalesforceSimulator) -> Iterator[WriterFactory]:
    made: list[SalesforceDestination] = []

    def make(
        *,
        sobject: str = "Contact",
        mode: str = "upsert",
        api: str = "auto",
        method: str = "jwt",
        clock: FakeClock | None = None,
        bulk_threshold: int = 2000,
        connection: dict[str, Any] | None = None,
        mapping: dict[str, Any] | None = None,
    ) -> SalesforceDestination:
        spec = DestinationSpec(
            connection="salesforce",
            object=sobject,
            mode=mode,  # type: ignore[arg-type]
            match="Activate_Id__c",
            api=api,  # type: ignore[arg-type]
            bulk_threshold=bulk_threshold,
            mapping=mapping or {},
        )
        context = WriteContext("contacts", "run-1", spec, RunStats(), clock or FakeClock())
        writer = plugin.create(connection_for(sim, method, **(connection or {})), context)
        assert isinstance(writer, SalesforceDestination)
        made.append(writer)
        return writer

    yield make
    for writer in made:
        writer.close()
