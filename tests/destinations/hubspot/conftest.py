"""Fixtures: a HubSpot simulator and writers pointed at it, both on one FakeClock so waits take no real time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hubspot_support import NewWriter

from activate.clock import FakeClock
from activate.config.models import DestinationSpec
from activate.destinations.base import RunStats, WriteContext
from activate.destinations.hubspot import plugin
from activate.destinations.hubspot.writer import HubSpotDestination
from activate.http.caller import forget_callers
from activate.testing.hubspot import HubSpotSimulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[HubSpotSimulator]:
    forget_callers()
    with HubSpotSimulator(clock=clock) as simulator:
        yield simulator
    forget_callers()


@pytest.fixture
def new_writer(sim: HubSpotSimulator, clock: FakeClock) -> NewWriter:
    """`new_writer(mode=..., match=..., **connection)`: a writer for one run against the simulator."""

    def build(
        *,
        mode: str = "upsert",
        match: str | None = "email",
        object_type: str = "contacts",
        mapping: dict[str, str] | None = None,
        **connection: Any,
    ) -> tuple[HubSpotDestination, RunStats]:
        stats = RunStats()
        spec = DestinationSpec(
            connection="hubspot",
            object=object_type,
            mode=mode,  # type: ignore[arg-type]
            match=match,
            mapping=mapping or {"email": "email", "firstname": "first_name"},
        )
        settings = {"type": "hubspot", "base_url": sim.url, **connection}
        if "access_token" not in settings and "refresh_token" not in settings:
            settings["access_token"] = sim.token
        context = WriteContext(sync_name="contacts_sync", run_id="run-1", spec=spec, stats=stats, clock=clock)
        return plugin.create(settings, context), stats

    return build
