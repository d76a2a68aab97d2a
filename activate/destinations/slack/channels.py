"""Where a row's message goes: a channel name, a channel id, a user id or an email, resolved to a conversation id.

Resolved once per run and cached (the writer lives for one run): channel names through one paginated
`conversations.list`, emails through `users.lookupByEmail`, and a user's DM through `conversations.open`, so
posting 1,000 rows to `#alerts` or to 30 account owners costs a handful of lookups, not one per row.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from activate.destinations.slack.errors import SlackRowError
from activate.destinations.slack.messages import MessageRefused

# Conversation ids: C (public), G (private, legacy), D (direct message); users: U, W (Enterprise Grid).
_CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")

SlackCall = Callable[..., Any]
"""`call(method, **arguments) -> response data`: one Slack API call through the toolkit's caller."""


class ChannelResolver:
    """Turns the `channel` a row names into the conversation id to post to. Thread-safe."""

    def __init__(self, call: SlackCall) -> None:
        self._call = call
        self._lock = threading.Lock()
        self._names: dict[str, str] | None = None
        self._members: dict[str, bool] = {}
        self._users: dict[str, str] = {}
        self._dms: dict[str, str] = {}

    def resolve(self, ref: str) -> str:
        """The conversation id for `ref`; raises `MessageRefused` when there is no such conversation or person."""
        ref = ref.strip()
        if _CONVERSATION_ID.match(ref):
            return ref
        if "@" in ref and not ref.startswith("#"):
            return self._dm(self._user_by_email(ref))
        if _USER_ID.match(ref):
            return self._dm(ref)
        name = ref.removeprefix("#").lower()
        channel = self._channel_names().get(name)
        if channel is None:
            raise MessageRefused(
                "channel_not_found",
                f"no channel #{name} in the workspace (a private channel is only visible once the app is invited)",
            )
        return channel

    def is_member(self, channel_id: str) -> bool | None:
        """Whether the app is in a channel it found by name (None when the channel was not listed)."""
        self._channel_names()
        return self._members.get(channel_id)

    def _channel_names(self) -> dict[str, str]:
        with self._lock:
            if self._names is None:
                names: dict[str, str] = {}
                cursor: str | None = None
                while True:
                    page = self._call(
                        "conversations.list",
                        types="public_channel,private_channel",
                        exclude_archived=True,
                        limit=1000,
                        cursor=cursor,
                    )
                    for channel in page.get("channels") or []:
                        names[str(channel["name"]).lower()] = channel["id"]
                        self._members[channel["id"]] = bool(channel.get("is_member"))
                    cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                    if not cursor:
                        break
                self._names = names
            return self._names

    def _user_by_email(self, email: str) -> str:
        key = email.lower()
        with self._lock:
            if key in self._users:
                return self._users[key]
        try:
            user = self._call("users.lookupByEmail", email=email)["user"]["id"]
        except SlackRowError as exc:
            if exc.code == "users_not_found":
                raise MessageRefused("users_not_found", f"no Slack user with the email {email}") from exc
            raise
        with self._lock:
            self._users[key] = user
        return str(user)

    def _dm(self, user_id: str) -> str:
        with self._lock:
            if user_id in self._dms:
                return self._dms[user_id]
        channel = self._call("conversations.open", users=user_id)["channel"]["id"]
        with self._lock:
            self._dms[user_id] = channel
        return str(channel)
