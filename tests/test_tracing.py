"""OpenTelemetry: a run is one `activate.run` span with one child `activate.batch` span per written batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):  # the global provider can be set once per process
        current = TracerProvider()
        trace.set_tracer_provider(current)
    current.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def target(tmp_path: Path) -> Iterator[WebhookConformanceTarget]:
    target = WebhookConformanceTarget()
    target.start(tmp_path)
    yield target
    target.stop()


def test_a_run_is_a_span_with_one_child_span_per_batch(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    _EXPORTER.clear()
    project = ScratchProject(tmp_path / "p")
    project.people(25)
    project.add_connection("hooks", target.connection())
    project.add_sync("people_hook", {"connection": "hooks", **target.destination("upsert")})  # 10 rows a batch
    summary = project.run("people_hook")
    assert summary.status == "succeeded"

    spans = _EXPORTER.get_finished_spans()
    [run] = [s for s in spans if s.name == "activate.run"]
    batches = [s for s in spans if s.name == "activate.batch"]
    assert run.attributes["activate.sync"] == "people_hook"
    assert run.attributes["activate.run_id"] == summary.run_id
    assert run.attributes["activate.rows_succeeded"] == 25
    assert sorted(b.attributes["activate.rows"] for b in batches) == [5, 10, 10]
    assert all(b.parent is not None and b.parent.span_id == run.context.span_id for b in batches)
    assert all(b.context.trace_id == run.context.trace_id for b in batches)
    assert sum(b.attributes["activate.succeeded"] for b in batches) == 25
