"""The shared destination conformance suite against the HubSpot simulator: real engine, real SDK, real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activate.http.caller import forget_callers
from activate.testing.conformance import DestinationConformance
from activate.testing.hubspot import HubSpotConformanceTarget


class TestHubSpotConformance(DestinationConformance):
    @pytest.fixture
    def target(self, tmp_path: Path) -> Iterator[HubSpotConformanceTarget]:
        forget_callers()
        target = HubSpotConformanceTarget()
        target.start(tmp_path)
        yield target
        target.stop()
        forget_callers()
