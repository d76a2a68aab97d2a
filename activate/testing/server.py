"""The HTTP server every simulator runs on: a threaded stdlib server on a background thread.

Hand-written on `http.server` rather than an ASGI stack so the simulators need no extra dependency, start in
milliseconds inside a test, and speak plain HTTP/1.1 (or TLS, for Salesforce) to the vendors' own SDKs.

A simulator is a `Router` of handlers `(Request) -> Response`. The server keeps a `RequestLog` so tests assert
exactly which calls were made, and a `Faults` switchboard for latency, 5xx and 429 storms.
"""

from __future__ import annotations

import json
import random
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Request:
    """One received request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the matched route
    received_at: float = 0.0
    target: str = ""  # the request target as sent: path and still-encoded query (for URI length limits)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in urllib.parse.parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    """A reply; a dict or list body is sent as JSON."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Handler = Callable[[Request], Response]


class Router:
    """Method + path regex -> handler. Patterns use named groups: r"/crm/v3/objects/(?P<type>[^/]+)/batch/upsert"."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern + r"/?$"), handler))

    def dispatch(self, request: Request) -> Response:
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if not match:
                continue
            path_matched = True
            if method == request.method:
                request.params = match.groupdict()
                return handler(request)
        if path_matched:
            return Response(405, {"error": "method not allowed"})
        return Response(404, {"error": f"no route for {request.method} {request.path}"})


@dataclass
class LoggedCall:
    """What the log keeps of a request and its answer."""

    method: str
    path: str
    status: int
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class RequestLog:
    """Every request a simulator answered, in order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[LoggedCall] = []

    def append(self, call: LoggedCall) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self, method: str | None = None, path_contains: str | None = None) -> list[LoggedCall]:
        with self._lock:
            return [
                c
                for c in self._calls
                if (method is None or c.method == method) and (path_contains is None or path_contains in c.path)
            ]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def __iter__(self) -> Iterator[LoggedCall]:
        return iter(self.calls())

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)


@dataclass
class Faults:
    """Fault injection shared by all simulators. Set fields at any time; they apply to the next requests.

    `error_rate` answers that share of requests with `error_status`; `storm_429` answers the next N requests 429
    (with `retry_after` seconds when set); `latency` delays every answer; `drop_connection_next` closes the socket
    without answering the next N requests (a connection reset as a client sees it).
    """

    latency: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500
    storm_429: int = 0
    retry_after: int | None = None
    drop_connection_next: int = 0
    seed: int = 7
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def take_storm(self) -> bool:
        with self._lock:
            if self.storm_429 > 0:
                self.storm_429 -= 1
                return True
            return False

    def take_drop(self) -> bool:
        with self._lock:
            if self.drop_connection_next > 0:
                self.drop_connection_next -= 1
                return True
            return False

    def roll_error(self) -> bool:
        with self._lock:
            return self.error_rate > 0 and self._rng.random() < self.error_rate

    def reset(self) -> None:
        with self._lock:
            self.latency = self.error_rate = 0.0
            self.storm_429 = self.drop_connection_next = 0
            self.retry_after = None


class DropConnection(Exception):
    """Raise inside a handler to close the socket without a response (a reset, as the client sees it)."""


def _make_handler(server: SimulatorServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return  # quiet: the RequestLog is the record

        def _handle(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parsed.path,
                query=urllib.parse.parse_qs(parsed.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                received_at=time.monotonic(),
                target=self.path,
            )
            try:
                response = server.respond(request)
            except DropConnection:
                self.close_connection = True
                self.connection.close()
                return
            payload = response.encoded()
            # logged before answering, so a client that has its answer always finds the call in the log
            server.log.append(LoggedCall(request.method, request.path, response.status, body, request.received_at))
            self.send_response(response.status)
            if payload:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815

    return _Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class SimulatorServer:
    """Serves a Router on 127.0.0.1 (an ephemeral port by default) from a background thread.

    Use as a context manager in tests, or `serve_forever()` for `activate simulate`.
    """

    def __init__(
        self,
        router: Router,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        faults: Faults | None = None,
        before: Handler | None = None,
    ) -> None:
        self.router = router
        self.faults = faults or Faults()
        self.log = RequestLog()
        self._before = before
        self._httpd = _Server((host, port), _make_handler(self))
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._scheme = "https" if tls is not None else "http"
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def respond(self, request: Request) -> Response:
        """Apply faults, then the optional `before` hook (auth, rate limits), then the route."""
        if self.faults.latency:
            time.sleep(self.faults.latency)
        if self.faults.take_drop():
            raise DropConnection
        if self.faults.take_storm():
            headers = {"Retry-After": str(self.faults.retry_after)} if self.faults.retry_after is not None else {}
            return Response(429, {"status": "error", "message": "Too many requests (injected)"}, headers)
        if self.faults.roll_error():
            return Response(self.faults.error_status, {"status": "error", "message": "Injected server error"})
        if self._before is not None:
            early = self._before(request)
            if early is not None:
                return early
        return self.router.dispatch(request)

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sim-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class SimulatorCertificate:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost (simple-salesforce only speaks https)."""

    server_context: ssl.SSLContext
    ca_bundle: Path


def issue_certificate(directory: Path) -> SimulatorCertificate:
    """Issue a local CA and server certificate with trustme; the CA bundle is written to `directory`."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    directory.mkdir(parents=True, exist_ok=True)
    bundle = directory / "simulator-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return SimulatorCertificate(context, bundle)
