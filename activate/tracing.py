"""OpenTelemetry spans: one per run (`activate.run`) and one per written batch (`activate.batch`).

Active when the `otel` extra is installed (opentelemetry-api); spans go to whatever TracerProvider the process
configured (the SDK's OTEL_* environment, a collector exporter...). Without it every call here is a no-op, so the
engine never depends on it. Batches are written on worker threads, which do not inherit the run's context: the
engine captures it with `current_context()` and hands it to `span(..., parent=...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TRACER_NAME = "activate"


def _trace() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def current_context() -> Any:
    """The active OpenTelemetry context (None without the extra), to parent spans opened on other threads."""
    try:
        from opentelemetry import context
    except ImportError:
        return None
    return context.get_current()


@contextmanager
def span(name: str, *, parent: Any = None, **attributes: Any) -> Iterator[Any]:
    """A span named `name` with the given attributes (None values dropped); yields it (or None without OTel)."""
    trace = _trace()
    if trace is None:
        yield None
        return
    tracer = trace.get_tracer(TRACER_NAME)
    clean = {f"activate.{k}": v for k, v in attributes.items() if v is not None}
    with tracer.start_as_current_span(name, context=parent, attributes=clean) as current:
        yield current


def set_attributes(current: Any, **attributes: Any) -> None:
    """Add attributes to a span from `span` (no-op without OTel)."""
    if current is not None:
        current.set_attributes({f"activate.{k}": v for k, v in attributes.items() if v is not None})
