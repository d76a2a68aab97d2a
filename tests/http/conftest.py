"""A webhook simulator and the toolkit on one FakeClock, so throttling and backoff take no real time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activate.clock import FakeClock
from activate.http.caller import forget_callers
from activate.testing.webhook_sim import WebhookSimulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[WebhookSimulator]:
    forget_callers()
    with WebhookSimulator(clock=clock) as simulator:
        yield simulator
    forget_callers()
