"""The shared destination conformance suite against the Salesforce simulator (real engine, simple-salesforce, TLS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activate.http.caller import forget_callers
from activate.testing.conformance import DestinationConformance
from activate.testing.salesforce import SalesforceConformanceTarget


class TestSalesforceConformance(DestinationConformance):
    @pytest.fixture
    def target(self, tmp_path: Path) -> Iterator[SalesforceConformanceTarget]:
        forget_callers()
        target = SalesforceConformanceTarget()
        target.start(tmp_path)
        yield target
        target.stop()
        forget_callers()
