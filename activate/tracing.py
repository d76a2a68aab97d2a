"""OpenTelemetry spans: one per run (`activate.run`) and one per written batch (`activate.batch`).

Active when the `otel` extra is installed (opentelemetry-api); spans go to whatever TracerProvider the process
configured. When none is configured (a CLI run, the scheduler) and the standard OTLP environment names an endpoint
(`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), the first span installs an SDK provider
with a batching OTLP/HTTP exporter configured by the OTEL_* variables (endpoint, headers, timeout, service name,
resource attributes); `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turns that off. The SDK flushes the
batch at interpreter exit, so a one-shot `activate run` exports its spans. Without the extra every call here is a
no-op, so the engine never depends on it. Batches are written on worker threads, which do not inherit the run's
context: the engine captures it with `current_context()` and hands it to `span(..., parent=...)`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

TRACER_NAME = "activate"
SERVICE_NAME = "activate"
_configured = threading.Lock()
_checked = False


def _trace() -> Any:
    global _checked
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    if not _checked:
        with _configured:
            if not _checked:
                configure_exporter(os.environ)
                _checked = True
    return trace


def configure_exporter(env: Mapping[str, str]) -> bool:
    """Install an OTLP/HTTP-exporting TracerProvider when `env` asks for one and the process has none; True if it
    did. Needs opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http (the `otel` extra)."""
    from opentelemetry import trace

    wanted = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    disabled = env.get("OTEL_SDK_DISABLED", "").lower() == "true" or env.get("OTEL_TRACES_EXPORTER") == "none"
    if not wanted or disabled or not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return False
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; unless they name the service, we do.
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(
        resource=Resource.create({} if named else {"service.name": SERVICE_NAME})
    )  # shutdown_on_exit: spans still batched are sent at exit
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


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
