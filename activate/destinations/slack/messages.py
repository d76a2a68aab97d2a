"""A row as a Slack message: the rendered fields checked against Slack's limits, and the metadata that names the row.

Checking here, before any call, spends no API call (nor a second of the channel's one-message-per-second) on a
message Slack would refuse; the codes are Slack's own, so a row reads the same whether we or Slack refused it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from activate.destinations.encoding import decimals_as_text

MAX_TEXT_CHARS = 40_000
MAX_BLOCKS = 50
EVENT_TYPE = "activate_row"
_MESSAGE_FIELDS = frozenset({"text", "blocks", "channel"})


class MessageRefused(Exception):
    """A row whose message Slack would refuse (or did refuse): the row is rejected with `code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SlackMessage:
    """What one row posts: text, optional Block Kit blocks, the conversation it goes to (a channel name or id, an
    email or user id for a DM; None means the sync's `destination.object`), and the mapping fields carried in the
    message metadata so other Slack apps (and tests) can read the row back."""

    text: str
    blocks: list[dict[str, Any]] | None
    channel: str | None
    fields: dict[str, Any]

    def metadata(self, sync_name: str, row_key: str) -> dict[str, Any]:
        """Slack message metadata naming the row, so a crashed run's post can be found in the channel history."""
        payload: dict[str, Any] = {"sync": sync_name, "row_key": row_key}
        if self.fields:
            payload["fields"] = self.fields
        return {"event_type": EVENT_TYPE, "event_payload": payload}


def build_message(fields: Mapping[str, Any] | None) -> SlackMessage:
    """The message a row's rendered fields describe; raises `MessageRefused` when Slack would refuse it."""
    fields = fields or {}
    text = fields.get("text")
    text = "" if text is None else str(text)
    blocks = _blocks(decimals_as_text(fields.get("blocks")))
    if not text.strip() and not blocks:
        raise MessageRefused("no_text", "the rendered message has neither text nor blocks")
    if not text.strip() and blocks:
        # Slack shows `text` in notifications and to screen readers; without it, use the blocks' first words.
        text = fallback_text(blocks)
    if len(text) > MAX_TEXT_CHARS:
        raise MessageRefused("msg_too_long", f"text is {len(text):,} characters; Slack allows {MAX_TEXT_CHARS:,}")
    channel = fields.get("channel")
    channel = str(channel).strip() if channel is not None else None
    if channel == "":
        raise MessageRefused("channel_not_found", "the channel template rendered an empty value")
    extra = {name: decimals_as_text(value) for name, value in fields.items() if name not in _MESSAGE_FIELDS}
    return SlackMessage(text, blocks, channel, extra)


def _blocks(value: Any) -> list[dict[str, Any]] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise MessageRefused("invalid_blocks_format", f"blocks are not valid JSON: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in value):
        raise MessageRefused("invalid_blocks_format", "blocks must be a list of objects, each with a 'type'")
    if len(value) > MAX_BLOCKS:
        raise MessageRefused("invalid_blocks", f"{len(value)} blocks; Slack allows {MAX_BLOCKS} in a message")
    return value or None


def fallback_text(blocks: list[dict[str, Any]]) -> str:
    """The first text a reader would see in `blocks` (header, section or context), for notifications."""
    for block in blocks:
        candidates = [block.get("text"), *(block.get("fields") or []), *(block.get("elements") or [])]
        for candidate in candidates:
            value = candidate.get("text") if isinstance(candidate, Mapping) else None
            if isinstance(value, str) and value.strip():
                return value.strip()[:MAX_TEXT_CHARS]
    return "(message)"


def parse_destination_id(destination_id: str) -> tuple[str, str]:
    """`channel:ts` as stored by the engine -> (channel id, message ts)."""
    channel, sep, ts = destination_id.partition(":")
    if not sep or not channel or not ts:
        raise MessageRefused("invalid_destination_id", f"expected 'channel:ts', got {destination_id!r}")
    return channel, ts


def destination_id(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"
