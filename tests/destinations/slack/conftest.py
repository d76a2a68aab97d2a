from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from activate.clock import FakeClock
from activate.config.models import DestinationSpec, MessageSpec
from activate.destinations.base import RunStats, WriteContext
from activate.destinations.slack import SlackConnection, plugin
from activate.destinations.slack.writer import SlackWriter
from activate.testing.slack import SlackSimulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[SlackSimulator]:
    with SlackSimulator(clock=clock, channels=("general", "alerts", "sales")) as simulator:
        simulator.workspace.add_user("ada", "ada@example.com", "Ada Lovelace")
        simulator.workspace.add_user("grace", "grace@example.com", "Grace Hopper")
        yield simulator


WriterFactory = Callable[..., tuple[SlackWriter, RunStats]]


@pytest.fixture
def new_writer(sim: SlackSimulator, clock: FakeClock) -> WriterFactory:
    """`new_writer(**options)`: a fresh writer (a new run) against the simulator, on the test's FakeClock."""
    return lambda **options: make_writer(sim, clock, **options)


def make_writer(
    sim: SlackSimulator,
    clock: FakeClock,
    *,
    channel: str = "general",
    sync_name: str = "alerts_sync",
    token: str | None = None,
    mapping: dict[str, str] | None = None,
    rate_limit: dict[str, Any] | None = None,
) -> tuple[SlackWriter, RunStats]:
    """A writer for one run, on the real slack-sdk, pointed at the simulator."""
    stats = RunStats()
    spec = DestinationSpec(
        connection="slack",
        object=channel,
        mode="mirror",
        message=MessageSpec(text="{{ row.name }}"),
        mapping=mapping or {},
    )
    connection = SlackConnection.model_validate(
        {"type": "slack", "token": token or sim.token, "base_url": sim.base_url, "rate_limit": rate_limit}
    )
    context = WriteContext(sync_name=sync_name, run_id="run-1", spec=spec, stats=stats, clock=clock)
    writer = plugin.create(connection, context)
    assert isinstance(writer, SlackWriter)
    return writer, stats
