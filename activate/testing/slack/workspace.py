"""The simulated Slack workspace: channels, users, DMs and the messages the bot posted, with Slack's own rules.

Kept apart from the HTTP layer (`activate.testing.slack.api`) so the rules a message must follow (text length,
block count and shape, metadata format) read in one place, and tests can inspect the workspace directly.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from activate.clock import Clock

MAX_TEXT_CHARS = 40_000  # Slack refuses longer text with `msg_too_long`
MAX_BLOCKS = 50  # per message (100 in modals, 50 in messages)
MAX_SECTION_TEXT = 3_000
MAX_HEADER_TEXT = 150
BLOCK_TYPES = frozenset(
    {"section", "header", "divider", "context", "actions", "image", "rich_text", "input", "file", "video", "markdown"}
)
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_]+$")


class SlackApiFailure(Exception):
    """An `ok: false` answer: Slack reports API errors with HTTP 200 and an `error` code."""

    def __init__(self, error: str, messages: Iterable[str] = ()) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)


@dataclass
class Channel:
    """A conversation: public/private channel (`C`/`G` ids) or a DM with a user (`D` id)."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_member: bool = True
    is_archived: bool = False
    user: str | None = None  # the other side of a DM

    def as_json(self) -> dict[str, Any]:
        if self.is_im:
            return {"id": self.id, "is_im": True, "user": self.user, "is_open": True}
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": False,
            "is_im": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_member": self.is_member,
            "name_normalized": self.name,
        }


@dataclass
class User:
    """A workspace member that `users.lookupByEmail` can find."""

    id: str
    name: str
    email: str
    real_name: str = ""

    def as_json(self, team_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "real_name": self.real_name or self.name,
            "is_bot": False,
            "profile": {"email": self.email, "real_name": self.real_name or self.name},
        }


@dataclass
class Message:
    """A message in a channel, as `conversations.history` returns it."""

    ts: str
    user: str
    bot_id: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    edited_ts: str | None = None

    def as_json(self, *, with_metadata: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "bot_id": self.bot_id,
            "text": self.text,
            "ts": self.ts,
        }
        if self.blocks is not None:
            body["blocks"] = self.blocks
        if self.edited_ts is not None:
            body["edited"] = {"user": self.user, "ts": self.edited_ts}
        if with_metadata and self.metadata is not None:
            body["metadata"] = self.metadata
        return body


def check_text_and_blocks(text: Any, blocks: Any) -> None:
    """Slack's checks on message content; raises the code Slack answers with."""
    if text is not None and not isinstance(text, str):
        raise SlackApiFailure("invalid_arguments", ["[ERROR] text must be a string"])
    if not text and not blocks:
        raise SlackApiFailure("no_text")
    if text and len(text) > MAX_TEXT_CHARS:
        raise SlackApiFailure("msg_too_long")
    if blocks is None:
        return
    if not isinstance(blocks, list):
        raise SlackApiFailure("invalid_blocks_format")
    if len(blocks) > MAX_BLOCKS:
        too_many = f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
        raise SlackApiFailure("invalid_blocks", [too_many])
    problems = [problem for index, block in enumerate(blocks) for problem in _block_problems(index, block)]
    if problems:
        raise SlackApiFailure("invalid_blocks", problems)


def _block_problems(index: int, block: Any) -> list[str]:
    where = f"[json-pointer:/blocks/{index}"
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return [f"[ERROR] unsupported type {where}/type]"]
    text = block.get("text")
    if block["type"] == "section":
        if text is None and not block.get("fields"):
            return [f"[ERROR] must provide either text or fields {where}]"]
        return _text_object_problems(text, MAX_SECTION_TEXT, f"{where}/text]") if text is not None else []
    if block["type"] == "header":
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            return [f"[ERROR] must be a plain_text object {where}/text]"]
        return _text_object_problems(text, MAX_HEADER_TEXT, f"{where}/text]")
    if block["type"] == "context" and not block.get("elements"):
        return [f"[ERROR] must provide elements {where}/elements]"]
    return []


def _text_object_problems(text: Any, limit: int, where: str) -> list[str]:
    if not isinstance(text, dict) or text.get("type") not in ("plain_text", "mrkdwn"):
        return [f"[ERROR] must be a text object of type plain_text or mrkdwn {where}"]
    value = text.get("text")
    if not isinstance(value, str) or not value:
        return [f"[ERROR] text must be a non-empty string {where}"]
    if len(value) > limit:
        return [f"[ERROR] must be less than {limit + 1} characters {where}"]
    return []


def check_metadata(metadata: Any) -> dict[str, Any] | None:
    """Slack's message metadata shape: `event_type` (word characters) and an object `event_payload`."""
    if metadata is None:
        return None
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not _EVENT_TYPE.match(metadata["event_type"])
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackApiFailure("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


@dataclass
class Workspace:
    """One team with one bot. Thread-safe: every mutation holds the lock.

    Message `ts` values come from the injected clock (seconds.micro-sequence), strictly increasing per channel, so
    a FakeClock gives reproducible ids.
    """

    clock: Clock
    team_id: str = "T0ACTIVATE"
    team: str = "activate-sim"
    bot_user_id: str = "U0BOT"
    bot_id: str = "B0BOT"
    channels: dict[str, Channel] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    messages: dict[str, list[Message]] = field(default_factory=dict)  # channel id -> oldest first
    _last_ts: dict[str, tuple[int, int]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- setup ---------------------------------------------------------------------------------------------------

    def add_channel(
        self, name: str, *, is_private: bool = False, is_member: bool = True, is_archived: bool = False
    ) -> Channel:
        with self._lock:
            prefix = "G" if is_private else "C"
            channel = Channel(f"{prefix}{next(self._ids):08d}", name, is_private, False, is_member, is_archived)
            self.channels[channel.id] = channel
            self.messages[channel.id] = []
            return channel

    def add_user(self, name: str, email: str, real_name: str = "") -> User:
        with self._lock:
            user = User(f"U{next(self._ids):08d}", name, email.lower(), real_name)
            self.users[user.id] = user
            return user

    # -- lookups -------------------------------------------------------------------------------------------------

    def channel(self, ref: Any) -> Channel:
        """A channel by id, `#name` or name; a user id means the bot's DM with that user (opened on first use)."""
        if not isinstance(ref, str) or not ref:
            raise SlackApiFailure("channel_not_found")
        with self._lock:
            if ref in self.channels:
                return self.channels[ref]
            if ref in self.users:
                return self.open_dm(ref)
            name = ref.removeprefix("#")
            for channel in self.channels.values():
                if channel.name == name and not channel.is_im:
                    return channel
        raise SlackApiFailure("channel_not_found")

    def open_dm(self, user_id: str) -> Channel:
        with self._lock:
            if user_id not in self.users:
                raise SlackApiFailure("user_not_found")
            for channel in self.channels.values():
                if channel.is_im and channel.user == user_id:
                    return channel
            channel = Channel(f"D{next(self._ids):08d}", f"dm-{self.users[user_id].name}", is_im=True, user=user_id)
            self.channels[channel.id] = channel
            self.messages[channel.id] = []
            return channel

    def user_by_email(self, email: Any) -> User:
        if not isinstance(email, str) or not email:
            raise SlackApiFailure("invalid_arguments")
        with self._lock:
            for user in self.users.values():
                if user.email == email.lower():
                    return user
        raise SlackApiFailure("users_not_found")

    def _writable(self, ref: Any) -> Channel:
        channel = self.channel(ref)
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if not channel.is_member:
            raise SlackApiFailure("not_in_channel")
        return channel

    def _find(self, channel: Channel, ts: Any) -> Message:
        for message in self.messages[channel.id]:
            if message.ts == ts:
                return message
        raise SlackApiFailure("message_not_found")

    def _next_ts(self, channel_id: str) -> str:
        seconds = int(self.clock.now().timestamp())
        last_seconds, last_seq = self._last_ts.get(channel_id, (0, 0))
        seq = last_seq + 1 if seconds <= last_seconds else 1
        seconds = max(seconds, last_seconds)
        self._last_ts[channel_id] = (seconds, seq)
        return f"{seconds}.{seq:06d}"

    # -- the methods ---------------------------------------------------------------------------------------------

    def list_channels(self) -> list[Channel]:
        with self._lock:
            return list(self.channels.values())

    def post(
        self, channel_ref: Any, text: Any, blocks: Any, metadata: Any, admit: Callable[[Channel], None] | None = None
    ) -> tuple[Channel, Message]:
        """Post a message; `admit` (the rate limit) runs under the lock once the message is known to be valid, so
        two threads posting to one channel cannot both slip under the limit."""
        with self._lock:
            channel = self._writable(channel_ref)
            check_text_and_blocks(text, blocks)
            checked_metadata = check_metadata(metadata)
            if admit is not None:
                admit(channel)
            message = Message(
                self._next_ts(channel.id), self.bot_user_id, self.bot_id, text or "", blocks, checked_metadata
            )
            self.messages[channel.id].append(message)
            return channel, message

    def update(self, channel_ref: Any, ts: Any, text: Any, blocks: Any, metadata: Any) -> tuple[Channel, Message]:
        with self._lock:
            channel = self._writable(channel_ref)
            message = self._find(channel, ts)
            check_text_and_blocks(text if text is not None else message.text, blocks)
            if text is not None:
                message.text = text
            if blocks is not None:
                message.blocks = blocks or None  # `blocks: []` clears them, as in Slack
            if metadata is not None:
                message.metadata = check_metadata(metadata)
            message.edited_ts = self._next_ts(channel.id)
            return channel, message

    def delete(self, channel_ref: Any, ts: Any) -> Channel:
        with self._lock:
            channel = self._writable(channel_ref)
            message = self._find(channel, ts)
            self.messages[channel.id].remove(message)
            return channel

    def history(self, channel_ref: Any, oldest: float | None, latest: float | None, inclusive: bool) -> list[Message]:
        """Messages newest first, within `oldest`..`latest` (exclusive unless `inclusive`)."""
        with self._lock:
            channel = self.channel(channel_ref)
            if not channel.is_member and not channel.is_im:
                raise SlackApiFailure("not_in_channel")
            selected = []
            for message in reversed(self.messages[channel.id]):
                at = float(message.ts)
                if oldest is not None and (at < oldest or (at == oldest and not inclusive)):
                    continue
                if latest is not None and (at > latest or (at == latest and not inclusive)):
                    continue
                selected.append(message)
            return selected

    def message_count(self, channel_ref: str) -> int:
        with self._lock:
            return len(self.messages[self.channel(channel_ref).id])

    def render_channel(self, name: str) -> str:
        """The channel as a user would read it, oldest message first."""
        with self._lock:
            channel = self.channel(name)
            title = f"@{self.users[channel.user].name}" if channel.is_im and channel.user else f"#{channel.name}"
            lines = [f"{title} ({len(self.messages[channel.id])} messages)"]
            for message in self.messages[channel.id]:
                edited = " (edited)" if message.edited_ts else ""
                lines.append(f"[{message.ts}] activate{edited}")
                lines.extend(f"    {line}" for line in _rendered_body(message))
            return "\n".join(lines)


def _rendered_body(message: Message) -> list[str]:
    if not message.blocks:
        return message.text.splitlines() or [""]
    lines: list[str] = []
    for block in message.blocks:
        kind = block.get("type")
        if kind == "divider":
            lines.append("-" * 40)
        elif kind == "header":
            lines.append(str(_text_of(block.get("text"))).upper())
        elif kind == "section":
            lines.extend(str(_text_of(block.get("text"))).splitlines())
            lines.extend(str(_text_of(f)) for f in block.get("fields") or [])
        elif kind == "context":
            lines.append("  ".join(str(_text_of(e)) for e in block.get("elements") or []))
        else:
            lines.append(f"<{kind} block>")
    return lines


def _text_of(value: Any) -> Any:
    return value.get("text", "") if isinstance(value, Mapping) else (value or "")
