"""The shared destination conformance suite against the Slack simulator: real engine, real slack-sdk, real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activate.http.caller import forget_callers
from activate.testing.conformance import DestinationConformance
from activate.testing.slack import SlackConformanceTarget

pytestmark = pytest.mark.slow  # real engine runs on the real clock: about a minute in all


class TestSlackConformance(DestinationConformance):
    @pytest.fixture
    def target(self, tmp_path: Path) -> Iterator[SlackConformanceTarget]:
        forget_callers()
        target = SlackConformanceTarget()
        target.start(tmp_path)
        yield target
        target.stop()
        forget_callers()
