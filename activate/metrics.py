"""Prometheus metrics of scheduled runs, on a registry of their own, served with `/metrics` and `/healthz`.

Series (labels): `activate_rows_total{sync,status}`, `activate_api_calls_total{sync}`,
`activate_throttled_seconds_total{sync}`, `activate_runs_total{sync,status}`, `activate_run_failures_total{sync,kind}`
(kind: the run's `FailureKind`; counters over this process's runs),
`activate_run_duration_seconds{sync}` and `activate_last_success_timestamp_seconds{sync}` (gauges of the last run).
A registry per `Metrics` (never prometheus_client's global one) so tests and several schedulers in one process never
see each other's numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from activate.config import Project
    from activate.scheduler import ScheduledRun

ROW_STATUSES = ("succeeded", "failed", "rejected", "skipped", "invalid")


class Metrics:
    """The scheduler's series; `observe` is the scheduler's `on_run` callback (thread-safe, as prometheus_client is)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry()
        r = self.registry
        self.rows = Counter("activate_rows", "Rows written, by outcome.", ["sync", "status"], registry=r)
        self.api_calls = Counter("activate_api_calls", "API calls made to destinations.", ["sync"], registry=r)
        self.throttled = Counter(
            "activate_throttled_seconds", "Seconds spent waiting on rate limits.", ["sync"], registry=r
        )
        self.runs = Counter("activate_runs", "Runs finished, by status.", ["sync", "status"], registry=r)
        self.failures = Counter(
            "activate_run_failures", "Runs that did not succeed, by failure kind.", ["sync", "kind"], registry=r
        )
        self.duration = Gauge("activate_run_duration_seconds", "Duration of the last run.", ["sync"], registry=r)
        self.last_success = Gauge(
            "activate_last_success_timestamp_seconds",
            "Unix time of the last success.",
            ["sync"],
            registry=r,
        )

    def seed(self, project: Project) -> None:
        """Start `activate_last_success_timestamp_seconds` from the state store, so a restarted scheduler's freshness
        alerts see the last success before its first run."""
        from activate.scheduler import aware
        from activate.state.open import open_state_store

        for name, sync in project.syncs.items():
            store = open_state_store(project, sync)
            try:
                success = store.last_success(name)
            finally:
                store.dispose()
            if success is not None:
                finished = aware(success.finished_at or success.started_at)
                self.last_success.labels(name).set(finished.timestamp())

    def observe(self, outcome: ScheduledRun) -> None:
        """Count one scheduled run; a skipped window (another replica ran it) counts nothing."""
        from activate.engine.outcome import FailureKind, RunStatus

        summary = outcome.summary
        if summary is None:
            return
        sync = summary.sync_name
        for status in ROW_STATUSES:
            count = getattr(summary, f"rows_{status}")
            if count:
                self.rows.labels(sync, status).inc(count)
        self.api_calls.labels(sync).inc(summary.api_calls)
        self.throttled.labels(sync).inc(summary.throttled_seconds)
        self.runs.labels(sync, RunStatus(summary.status).value).inc()
        if summary.failure_kind is not None:
            self.failures.labels(sync, FailureKind(summary.failure_kind).value).inc()
        self.duration.labels(sync).set(outcome.duration_seconds)
        if summary.status == RunStatus.SUCCEEDED and outcome.finished_at is not None:
            self.last_success.labels(sync).set(outcome.finished_at.timestamp())

    def render(self) -> bytes:
        """The text exposition format, as `/metrics` serves it."""
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's parameter name
        return None


class _ThreadingServer(WSGIServer):
    # One thread per scrape so a slow scraper never blocks /healthz.
    daemon_threads = True

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        thread.start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


class MetricsServer:
    """`/metrics` (prometheus_client's WSGI app on the registry) and `/healthz` (200 while `healthy()`, else 503),
    served by wsgiref in a daemon thread. Port 0 picks a free port (see `port`)."""

    def __init__(
        self, metrics: Metrics, port: int, *, host: str = "127.0.0.1", healthy: Callable[[], bool] = lambda: True
    ) -> None:
        from prometheus_client import make_wsgi_app

        metrics_app = make_wsgi_app(metrics.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                ok = healthy()
                start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"ok\n" if ok else b"stopping\n"]
            result: Iterable[bytes] = metrics_app(environ, start_response)
            return result

        self._server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="activate-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


__all__ = ["Metrics", "MetricsServer"]
