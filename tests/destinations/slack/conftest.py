from __future__ import annotations

from collections.abc import Iterator

import pytest

from activate.clock import FakeClock
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
