"""A local Slack Web API: the methods activate uses, answered the way slack.com answers them.

Every method lives under `/api/<method>` and accepts GET query strings, form-encoded and multipart POST bodies (what
slack-sdk sends for read methods and `chat.delete`) and JSON bodies (what it sends for `chat.postMessage` and
`chat.update`), with the token in `Authorization: Bearer` or a `token` argument. Errors are HTTP 200 with
`{"ok": false, "error": code}`, except rate limits: HTTP 429, integer `Retry-After`, `error: ratelimited`.

Faults on top of the shared `Faults` switchboard (latency, 5xx, connection drops): a revoked token, a storm of
Slack-shaped 429s, a method failing with a given error, content refused as `invalid_blocks`, and a response lost
after the message was posted (the crash window the writer's reconcile closes).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from activate.clock import SYSTEM_CLOCK, Clock
from activate.testing.server import (
    DropConnection,
    Request,
    Response,
    Router,
    SimulatorServer,
)
from activate.testing.slack.limits import SlackRateLimits
from activate.testing.slack.workspace import Channel, Message, SlackApiFailure, Workspace

DEFAULT_TOKEN = "xoxb-activate-simulator"
_AUTH_ERRORS = frozenset({"invalid_auth", "token_revoked", "account_inactive", "token_expired", "not_authed"})


@dataclass(frozen=True)
class SlackCall:
    """One API call as the simulator understood it: the decoded arguments and the `error` it answered, if any."""

    method: str
    args: dict[str, Any]
    status: int
    error: str | None
    at: float


class SlackSimulator:
    """A Slack workspace served over real HTTP; point slack-sdk's `WebClient(base_url=sim.base_url)` at it.

    Starts with channels `#general` and `#alerts` (the bot is a member of both) unless told otherwise. Rate windows
    and message timestamps read `clock`, so a test using `FakeClock` on both sides never sleeps.
    """

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        channels: tuple[str, ...] = ("general", "alerts"),
        posts_per_channel: int = 1,
        post_window_seconds: float = 1.0,
        tiers: dict[str, int] | None = None,
        rate_limits: bool = True,
    ) -> None:
        self.clock = clock
        self.token = token
        self.workspace = Workspace(clock)
        for name in channels:
            self.workspace.add_channel(name)
        self.limits = SlackRateLimits(
            clock,
            posts_per_channel=posts_per_channel,
            post_window_seconds=post_window_seconds,
            tiers=tiers,
            enabled=rate_limits,
        )
        router = Router()
        router.add("GET", r"/api/(?P<method>[A-Za-z0-9_.]+)", self._handle)
        router.add("POST", r"/api/(?P<method>[A-Za-z0-9_.]+)", self._handle)
        self.server = SimulatorServer(router, host=host, port=port)
        self.faults = self.server.faults
        self.answer_delay = 0.0
        """Seconds every answer is held back after the call was carried out (a slow way back, not a slow Slack)."""
        self._lock = threading.Lock()
        self._calls: list[SlackCall] = []
        self._revoked = False
        self._storm = 0
        self._storm_retry_after = 1
        self._failures: dict[str, list[str]] = {}
        self._rate_limited: dict[str, list[int | None]] = {}
        self._refused: set[str] = set()
        self._lose_responses: dict[str, int] = {}
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "conversations.list": self._conversations_list,
            "conversations.history": self._conversations_history,
            "conversations.open": self._conversations_open,
            "users.lookupByEmail": self._users_lookup_by_email,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
        }

    # -- lifecycle -----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        """What `WebClient(base_url=...)` and the `slack` connection's `base_url` take."""
        return f"{self.server.url}/api/"

    def start(self) -> SlackSimulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def __enter__(self) -> SlackSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inspection ----------------------------------------------------------------------------------------------

    def calls(self, method: str | None = None, *, ok: bool | None = None) -> list[SlackCall]:
        """Calls answered so far, optionally only one method's, optionally only those that succeeded or failed."""
        with self._lock:
            return [
                c
                for c in self._calls
                if (method is None or c.method == method) and (ok is None or (c.error is None) == ok)
            ]

    def messages(self, channel: str) -> list[Message]:
        """A channel's messages, oldest first (a copy of the list)."""
        return list(self.workspace.messages[self.workspace.channel(channel).id])

    def render_channel(self, name: str) -> str:
        """The channel as a Slack user would read it."""
        return self.workspace.render_channel(name)

    # -- faults --------------------------------------------------------------------------------------------------

    def revoke_token(self) -> None:
        """Every later call answers `token_revoked`, as after an admin uninstalled the app."""
        self._revoked = True

    def ratelimited_storm(self, requests: int, retry_after: int = 1) -> None:
        """Answer the next `requests` calls (any method) 429 `ratelimited` with `Retry-After: retry_after`."""
        with self._lock:
            self._storm = requests
            self._storm_retry_after = retry_after

    def rate_limited_next(self, method: str, times: int = 1, retry_after: int | None = None) -> None:
        """The next `times` calls of `method` answer HTTP 200 `{"ok": false, "error": "rate_limited"}`.

        Slack documents this error for `chat.postMessage` and `chat.update` ("Application has posted too many
        messages"): unlike `ratelimited` it comes without a 429, and with `Retry-After` only sometimes.
        """
        with self._lock:
            self._rate_limited.setdefault(method, []).extend([retry_after] * times)

    def fail_next(self, method: str, error: str, times: int = 1) -> None:
        """The next `times` calls of `method` answer `ok: false` with `error` (e.g. `internal_error`)."""
        with self._lock:
            self._failures.setdefault(method, []).extend([error] * times)

    def refuse_content(self, *needles: str) -> None:
        """Posts and updates whose text or blocks contain any of `needles` are refused as `invalid_blocks`."""
        with self._lock:
            self._refused.update(n for n in needles if n)

    def lose_response_next(self, method: str, times: int = 1) -> None:
        """Carry out the next `times` calls of `method`, then close the connection without answering."""
        with self._lock:
            self._lose_responses[method] = self._lose_responses.get(method, 0) + times

    # -- request handling ----------------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        method = request.params["method"]
        args = _decode_args(request)
        token = _bearer(request.header("authorization")) or args.pop("token", None)
        args.pop("token", None)
        response, error = self._answer(method, args, token)
        lose = error is None and self._take(self._lose_responses, method)
        with self._lock:
            self._calls.append(SlackCall(method, args, response.status, error, self.clock.monotonic()))
        if self.answer_delay > 0:
            time.sleep(self.answer_delay)
        if lose:
            raise DropConnection
        return response

    def _answer(self, method: str, args: dict[str, Any], token: str | None) -> tuple[Response, str | None]:
        with self._lock:
            storm = self._storm > 0
            if storm:
                self._storm -= 1
        if storm:
            return _ratelimited(self._storm_retry_after), "ratelimited"
        handler = self._methods.get(method)
        if handler is None:
            return Response(404, {"ok": False, "error": "unknown_method"}), "unknown_method"
        if not token:
            return _failure(SlackApiFailure("not_authed"))
        if token != self.token:
            return _failure(SlackApiFailure("invalid_auth"))
        if self._revoked:
            return _failure(SlackApiFailure("token_revoked"))
        wait = self.limits.take_method(method)
        if wait:
            return _ratelimited(wait), "ratelimited"
        with self._lock:
            queued = self._rate_limited.get(method)
            limited, retry_after = (True, queued.pop(0)) if queued else (False, None)
        if limited:
            headers = {} if retry_after is None else {"Retry-After": str(int(retry_after))}
            return Response(200, {"ok": False, "error": "rate_limited"}, headers), "rate_limited"
        injected = self._take_failure(method)
        if injected is not None:
            return _failure(SlackApiFailure(injected))
        try:
            return Response(200, {"ok": True, **handler(args)}), None
        except _PostThrottled as throttled:
            return _ratelimited(throttled.retry_after), "ratelimited"
        except SlackApiFailure as failure:
            return _failure(failure)

    def _take_failure(self, method: str) -> str | None:
        with self._lock:
            queued = self._failures.get(method)
            return queued.pop(0) if queued else None

    def _take(self, counters: dict[str, int], method: str) -> bool:
        with self._lock:
            if counters.get(method, 0) > 0:
                counters[method] -= 1
                return True
            return False

    def _check_refused(self, args: dict[str, Any]) -> None:
        with self._lock:
            refused = set(self._refused)
        content = f"{args.get('text') or ''} {json.dumps(args.get('blocks'))}"
        if any(needle in content for needle in refused):
            raise SlackApiFailure("invalid_blocks", ["[ERROR] content refused by the simulator [json-pointer:/blocks]"])

    # -- methods -------------------------------------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.workspace
        return {
            "url": f"https://{ws.team}.slack.com/",
            "team": ws.team,
            "user": "activate",
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "is_enterprise_install": False,
        }

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = set(str(args.get("types") or "public_channel").split(","))
        exclude_archived = _flag(args.get("exclude_archived"))
        channels = [
            c for c in self.workspace.list_channels() if _listed(c, types) and not (exclude_archived and c.is_archived)
        ]
        page, next_cursor = _page(channels, args, default_limit=100, max_limit=1000)
        return {"channels": [c.as_json() for c in page], "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        messages = self.workspace.history(
            args.get("channel"),
            _float(args.get("oldest")),
            _float(args.get("latest")),
            _flag(args.get("inclusive")),
        )
        page, next_cursor = _page(messages, args, default_limit=100, max_limit=999)
        with_metadata = _flag(args.get("include_all_metadata"))
        return {
            "messages": [m.as_json(with_metadata=with_metadata) for m in page],
            "has_more": bool(next_cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            return {"channel": {"id": self.workspace.channel(args["channel"]).id}}
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise SlackApiFailure("not_enough_users" if not users else "too_many_users")
        return {"channel": {"id": self.workspace.open_dm(users[0]).id}}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user": self.workspace.user_by_email(args.get("email")).as_json(self.workspace.team_id)}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        self._check_refused(args)
        channel, message = self.workspace.post(
            args.get("channel"), args.get("text"), args.get("blocks"), args.get("metadata"), self._admit_post
        )
        return {"channel": channel.id, "ts": message.ts, "message": _echo(message)}

    def _admit_post(self, channel: Channel) -> None:
        wait = self.limits.take_post(channel.id)
        if wait:
            raise _PostThrottled(wait)

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        self._check_refused(args)
        channel, message = self.workspace.update(
            args.get("channel"), args.get("ts"), args.get("text"), args.get("blocks"), args.get("metadata")
        )
        return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": _echo(message)}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel: Channel = self.workspace.delete(args.get("channel"), args.get("ts"))
        return {"channel": channel.id, "ts": args.get("ts")}


class _PostThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


def _echo(message: Message) -> dict[str, Any]:
    return message.as_json(with_metadata=True)


def _failure(failure: SlackApiFailure) -> tuple[Response, str]:
    body: dict[str, Any] = {"ok": False, "error": failure.error}
    if failure.messages:
        body["response_metadata"] = {"messages": failure.messages}
    return Response(200, body), failure.error


def _ratelimited(retry_after: int) -> Response:
    return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(int(retry_after))})


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def _decode_args(request: Request) -> dict[str, Any]:
    """Query string and body merged (the body wins); JSON-encoded `blocks`/`metadata` strings are parsed."""
    args: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
    content_type = (request.header("content-type") or "").lower()
    if request.body:
        if content_type.startswith("application/json"):
            decoded = json.loads(request.body)
            if isinstance(decoded, dict):
                args.update(decoded)
        elif content_type.startswith("multipart/form-data"):
            args.update(_multipart(request.body, content_type))
        else:
            args.update(request.form())
    for name in ("blocks", "metadata", "attachments"):
        value = args.get(name)
        if isinstance(value, str) and value.strip():
            try:
                args[name] = json.loads(value)
            except json.JSONDecodeError:
                args[name] = value  # left as a string: the method answers `invalid_blocks_format`
    return args


def _multipart(body: bytes, content_type: str) -> dict[str, str]:
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode()
    return fields


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _float(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SlackApiFailure("invalid_ts_oldest") from None


def _listed(channel: Channel, types: set[str]) -> bool:
    if channel.is_im:
        return "im" in types
    if channel.is_private:
        return "private_channel" in types and channel.is_member
    return "public_channel" in types


def _page(items: list[Any], args: dict[str, Any], *, default_limit: int, max_limit: int) -> tuple[list[Any], str]:
    """Cursor pagination: `cursor` is opaque to clients (base64 of an offset here), `""` when there is no more."""
    try:
        limit = min(max(int(args.get("limit") or default_limit), 1), max_limit)
    except (TypeError, ValueError):
        raise SlackApiFailure("invalid_limit") from None
    start = 0
    cursor = args.get("cursor")
    if cursor:
        try:
            start = int(base64.b64decode(str(cursor)).decode().removeprefix("offset:"))
        except (ValueError, UnicodeDecodeError):
            raise SlackApiFailure("invalid_cursor") from None
    end = start + limit
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], next_cursor
