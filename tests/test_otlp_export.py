"""A CLI run with `OTEL_EXPORTER_OTLP_ENDPOINT` set exports its run and batch spans over OTLP/HTTP.

The receiver is a small `http.server` that decodes each protobuf `ExportTraceServiceRequest` (what a collector's
`/v1/traces` receives); the run is a real `python -m activate run` subprocess, so nothing but the OTEL_* environment
configures its tracing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator


class Receiver:
    """Collects every span exported to it, as (service name, span name, attributes)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, dict[str, Any]]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                receiver.paths.append(self.path)
                for resource_spans in request.resource_spans:
                    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            attributes = {a.key: _value(a.value) for a in span.attributes}
                            receiver.spans.append((service.get("service.name", ""), span.name, attributes))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_cli_run_exports_run_and_batch_spans(tmp_path: Path, receiver: Receiver) -> None:
    with WebhookSimulator() as hooks:
        project = ScratchProject(tmp_path / "p")
        project.people(7)
        project.add_connection("hooks", {"type": "webhook", "url": hooks.url})
        project.add_sync(
            "people_hook", {"connection": "hooks", "object": "people", "mapping": {"email": "email"}, "batch_size": 3}
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ACTIVATE_", "OTEL_"))}
        env.update(ACTIVATE_PROJECT_DIR=str(project.root), OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
        command = [sys.executable, "-m", "activate", "run", "people_hook"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    assert set(receiver.paths) == {"/v1/traces"}
    names = [name for _, name, _ in receiver.spans]
    assert names.count("activate.run") == 1
    assert names.count("activate.batch") == 3  # 7 rows in batches of 3
    assert {service for service, _, _ in receiver.spans} == {"activate"}
    [run] = [attrs for _, name, attrs in receiver.spans if name == "activate.run"]
    assert run["activate.sync"] == "people_hook"


def test_no_endpoint_no_exporter(tmp_path: Path, receiver: Receiver) -> None:
    from activate.tracing import configure_exporter

    assert not configure_exporter({})
    assert not configure_exporter({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SDK_DISABLED": "true"})
