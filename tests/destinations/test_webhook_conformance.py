"""The shared destination conformance suite against the webhook simulator, through the real engine and httpx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activate.http.caller import forget_callers
from activate.testing.conformance import DestinationConformance
from activate.testing.conformance_target import ConformanceTarget
from activate.testing.webhook_sim import WebhookConformanceTarget


class TestWebhookConformance(DestinationConformance):
    @pytest.fixture
    def target(self, tmp_path: Path) -> Iterator[ConformanceTarget]:
        forget_callers()
        target = WebhookConformanceTarget()
        target.start(tmp_path)
        yield target
        target.stop()
        forget_callers()
