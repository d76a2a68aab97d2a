"""The local HTTP server of `activate ui`: GET-only, bound to 127.0.0.1 by default.

Built on the standard library's `ThreadingHTTPServer` on purpose: the audit is a handful of read-only pages for one
operator on loopback, so a web framework and an ASGI server would be two dependencies for routing five paths.
A request whose Host header names another host is refused (DNS-rebinding: a page on the web cannot read the audit
through a name that resolves to 127.0.0.1).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from activate.ui.pages import NotFound, Pages

log = logging.getLogger("activate.ui")

_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"/"), "overview"),
    (re.compile(r"/syncs/(?P<sync>[^/]+)"), "sync"),
    (re.compile(r"/syncs/(?P<sync>[^/]+)/rows/(?P<key>.+)"), "row"),
    (re.compile(r"/runs/(?P<run>[^/]+)"), "run"),
]
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class AuditServer:
    """Serves `Pages` on host:port until `stop()`; `port=0` picks a free port (tests)."""

    def __init__(self, pages: Pages, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.pages = pages
        self.host = host
        self._server = ThreadingHTTPServer((host, port), _handler(pages, self._allowed_hosts))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def _allowed_hosts(self) -> set[str]:
        names = {"127.0.0.1", "localhost", "[::1]", self.host}
        return {f"{name}:{self.port}" for name in names} | names

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> AuditServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="activate-ui", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> AuditServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(pages: Pages, allowed_hosts: Callable[[], set[str]]) -> type[BaseHTTPRequestHandler]:
    assets = files("activate.ui").joinpath("templates")
    static = {
        "/static/style.css": (assets.joinpath("style.css").read_bytes(), "text/css; charset=utf-8"),
        "/static/icon.svg": (assets.joinpath("icon.svg").read_bytes(), "image/svg+xml"),
        "/favicon.ico": (assets.joinpath("icon.svg").read_bytes(), "image/svg+xml"),
    }

    class Handler(BaseHTTPRequestHandler):
        server_version = "activate-ui"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            log.debug("%s %s", self.address_string(), format % args)

        def do_GET(self) -> None:  # noqa: N802 - http.server's dispatch name
            host = self.headers.get("Host", "")
            if host and host not in allowed_hosts():
                self._send(HTTPStatus.FORBIDDEN, b"unknown Host header\n", "text/plain; charset=utf-8")
                return
            url = urlsplit(self.path)
            if url.path in static:
                self._send(HTTPStatus.OK, *static[url.path])
                return
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                body = self._page(url.path, params)
                status = HTTPStatus.OK
            except NotFound as exc:
                body, status = pages.error("Not found", str(exc)), HTTPStatus.NOT_FOUND
            except Exception as exc:  # one bad page must not take the server down; the log names the cause
                log.error("%s: %s", url.path, exc)
                body, status = pages.error("Error", f"this page failed: {exc}"), HTTPStatus.INTERNAL_SERVER_ERROR
            self._send(status, body.encode(), "text/html; charset=utf-8")

        def do_HEAD(self) -> None:  # noqa: N802
            self._send(HTTPStatus.OK, b"", "text/html; charset=utf-8")

        def _refuse(self) -> None:
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only\n", "text/plain; charset=utf-8", allow="GET, HEAD")

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

        def _page(self, path: str, params: dict[str, str]) -> str:
            for pattern, name in _ROUTES:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                parts = {k: unquote(v) for k, v in match.groupdict().items()}
                if name == "overview":
                    return pages.overview()
                if name == "sync":
                    return pages.sync(parts["sync"])
                if name == "row":
                    return pages.row(parts["sync"], parts["key"])
                return pages.run(
                    parts["run"],
                    status=params.get("status") or None,
                    code=params.get("code") or None,
                    key=params.get("key") or None,
                    page=_int(params.get("page"), 1),
                )
            raise NotFound(f"no page at {path}")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str, **extra: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in {**_SECURITY_HEADERS, **{k.title(): v for k, v in extra.items()}}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
