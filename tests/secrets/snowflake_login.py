"""fakesnow's server mode behind the one check it does not do: the login's password.

fakesnow (0.12.1) accepts every login. `PasswordCheckingSnowflake` is an ASGI front on fakesnow's own app that
answers `POST /session/v1/login-request` the way Snowflake answers a wrong password (HTTP 200, `success: false`,
code 390100) unless the body carries the password it currently expects; every other request, and accepted logins,
go to fakesnow untouched. The real connector talks to it over HTTP, so its real refusal path runs: it raises
`DatabaseError(errno=390100, sqlstate='28000')`. Key-pair logins (`SNOWFLAKE_JWT`) are passed through: fakesnow does
not verify the JWT, and a rotated key *passphrase* is refused before any request, by the key file itself.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from secret_servers import free_port

LOGIN_PATH = "/session/v1/login-request"
# Snowflake's own answer to a wrong password (the body the connector parses).
REFUSAL = {
    "data": {"nextAction": "RETRY_LOGIN", "authnMethod": "USERNAME_PASSWORD"},
    "code": "390100",
    "message": "Incorrect username or password was specified.",
    "success": False,
    "headers": None,
}


class PasswordCheckingSnowflake:
    """The ASGI front. `password` is what the account accepts now (a rotation sets it); `refused` counts refusals."""

    def __init__(self, app: Any, password: str) -> None:
        self.app = app
        self.password = password
        self.refused = 0
        self.logins = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != LOGIN_PATH:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        raw = gzip.decompress(body) if headers.get(b"content-encoding") == b"gzip" else body
        data = json.loads(raw)["data"]
        self.logins += 1
        if data.get("AUTHENTICATOR") != "SNOWFLAKE_JWT" and data.get("PASSWORD") != self.password:
            self.refused += 1
            await _json(send, REFUSAL)
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _json(send: Any, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def password_checking_snowflake(password: str) -> Iterator[tuple[PasswordCheckingSnowflake, dict[str, Any]]]:
    """The front on a free port, and connection settings for it (host/port/protocol, as activate's config takes)."""
    import uvicorn

    app = importlib.import_module("fakesnow.server").app
    front = PasswordCheckingSnowflake(app, password)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(front, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="snowflake login front", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("the Snowflake login front did not start")
    try:
        yield front, {"account": "fakesnow", "user": "fake", "host": "127.0.0.1", "port": port, "protocol": "http"}
    finally:
        server.should_exit = True
        thread.join()
