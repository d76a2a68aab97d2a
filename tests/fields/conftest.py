"""Fixtures for field-level state through whole runs: a HubSpot simulator with a unique custom property and the
properties of a 20-field sync, a Salesforce simulator, and a scratch project whose warehouse has a wide table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from field_support import EXTRA_FIELDS

from activate.clock import FakeClock
from activate.http.caller import forget_callers
from activate.testing.hubspot import HubSpotSimulator, PropertyDef
from activate.testing.salesforce import SalesforceSimulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hubspot(clock: FakeClock) -> Iterator[HubSpotSimulator]:
    forget_callers()
    with HubSpotSimulator(clock=clock) as simulator:
        simulator.add_property("contacts", PropertyDef("customer_id", unique=True))
        for name in EXTRA_FIELDS:
            simulator.add_property("contacts", PropertyDef(name))
        yield simulator
    forget_callers()


@pytest.fixture
def salesforce(tmp_path: Path) -> Iterator[SalesforceSimulator]:
    forget_callers()
    with SalesforceSimulator(tmp_path / "sf") as simulator:
        yield simulator
    forget_callers()
