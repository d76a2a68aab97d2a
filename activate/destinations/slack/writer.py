"""The Slack writer: one message per row, posted once, updated when the row changes, deleted when it leaves.

    new row (insert/upsert, no stored id)  chat.postMessage with metadata naming the row -> id `channel:ts`
    changed row (stored `channel:ts`)      chat.update; `message_not_found` (someone deleted it) -> post again
    removed row (mirror)                   chat.delete; `message_not_found` counts as done
    after a crash between post and record  reconcile: conversations.history metadata -> the message already posted

Every call goes through the toolkit's `ApiCaller`: `chat.postMessage` through one caller per channel (Slack allows
about one message per second per channel) and not idempotent, so a post whose answer was lost is never re-sent
blindly (the row fails and the next run's reconcile finds the message); other methods through one caller per
method at its Slack tier. slack-sdk's own retry handlers are switched off (`retry_handlers=[]`) so nothing
retries behind the toolkit's back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from activate.destinations.base import Operation, RowOp, RowResult, WriteBatch, WriteContext
from activate.destinations.slack.channels import ChannelResolver
from activate.destinations.slack.config import CAPABILITIES, METHOD_TIERS, TIER_3, SlackConnection
from activate.destinations.slack.errors import SlackRowError, classify_slack
from activate.destinations.slack.messages import (
    EVENT_TYPE,
    MessageRefused,
    SlackMessage,
    build_message,
    destination_id,
    parse_destination_id,
)
from activate.http.caller import ApiCaller, caller_for
from activate.http.errors import (
    AuthExpired,
    AuthFailed,
    QuotaExhausted,
    RateLimited,
    TerminalError,
    TransientError,
    WriterError,
)
from activate.http.limits import RateLimits
from activate.secrets.rotation import Rotation

# Slack's answers for a token that is no longer valid; with a token from a secret provider, one re-read may fix them.
ROTATABLE_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired"})

if TYPE_CHECKING:
    from slack_sdk import WebClient

# Slack's guidance for chat.postMessage: one message per second per channel, short bursts tolerated.
POST_LIMITS = RateLimits(requests=1, per_seconds=1.0, max_concurrency=1)
TIER_CONCURRENCY = 4
HISTORY_PAGE = 200  # Slack recommends no more than 200 messages per conversations.history page


class SlackWriter:
    """A `Destination` writing one sync's rows to Slack for one run.

    Lookups (channel names, users, DMs) are cached for the life of the writer, i.e. one run. Thread-safe: the
    engine may write batches from several threads; one channel's posts are still paced to its limit.
    """

    capabilities = CAPABILITIES

    def __init__(self, connection: SlackConnection, context: WriteContext) -> None:
        from slack_sdk import WebClient

        self._context = context
        self._connection = connection
        self._client: WebClient = WebClient(
            token=connection.token.get_secret_value(),
            base_url=connection.base_url,
            timeout=connection.timeout,
            retry_handlers=[],
        )
        self._key = f"slack:{context.spec.connection}"
        self._rotation = Rotation(connection)
        self._post_limits = POST_LIMITS.with_override(connection.rate_limit)
        self._resolver = ChannelResolver(self._call)

    # -- Destination ---------------------------------------------------------------------------------------------

    def batch_size(self, operation: Operation, total_rows: int) -> int:
        return CAPABILITIES.batch_size

    def write(self, batch: WriteBatch) -> list[RowResult]:
        results: list[RowResult] = []
        for row in batch.rows:
            try:
                results.append(self._write_row(batch.operation, row))
            except QuotaExhausted as exc:
                raise QuotaExhausted(exc.message, code=exc.code, results=results) from exc
        return results

    def reconcile(self, rows: Sequence[RowOp]) -> dict[str, str]:
        """Find messages an interrupted run posted for these rows, by the row key in their metadata.

        Scans each target conversation's history newest first (`include_all_metadata`), at most
        `reconcile_scan_messages` messages per conversation, and stops as soon as every row is found.
        """
        wanted: dict[str, set[str]] = {}
        for row in rows:
            try:
                channel = self._target(build_message(row.fields))
            except (MessageRefused, SlackRowError):
                continue  # the row cannot have been posted: its message or conversation is refused
            wanted.setdefault(channel, set()).add(row.key)
        found: dict[str, str] = {}
        for channel, keys in wanted.items():
            found.update(self._scan_history(channel, keys))
        return found

    def check(self, fields: Iterable[str]) -> list[str]:
        """Token valid, a message configured, and the sync's channel found with the app in it."""
        try:
            self._call("auth.test")
        except AuthFailed as exc:
            return [f"Slack refused the bot token ({exc.code}): check the connection's token"]
        except WriterError as exc:
            return [f"cannot call Slack at {self._connection.base_url}: {exc.message}"]
        spec = self._context.spec
        problems: list[str] = []
        if spec.message is None:
            problems.append("a Slack sync needs destination.message.text (and optional blocks), rendered per row")
        if spec.channel is None or "{{" not in spec.channel:
            problems += self._check_channel(spec.channel or spec.object)
        return problems

    def close(self) -> None:
        """Nothing to release: slack-sdk's urllib client keeps no connection pool."""

    # -- rows ----------------------------------------------------------------------------------------------------

    def _write_row(self, operation: Operation, row: RowOp) -> RowResult:
        try:
            if operation is Operation.DELETE:
                return self._delete(row)
            message = build_message(row.fields)
            if row.destination_id and operation is Operation.INSERT:
                # Insert mode never touches a message that exists: re-posting it would duplicate it.
                return RowResult.ok(row.key, row.destination_id)
            if row.destination_id:
                return self._update(row, message)
            if operation is Operation.UPDATE:
                return RowResult.rejected(row.key, "message_not_found", "no message was posted for this row yet")
            return self._post(row, message)
        except MessageRefused as exc:
            return RowResult.rejected(row.key, exc.code, exc.message)
        except (AuthFailed, QuotaExhausted):
            raise
        except SlackRowError as exc:
            return RowResult.rejected(row.key, exc.code or "rejected", exc.message)
        except (RateLimited, TransientError) as exc:
            return RowResult.failed(row.key, exc.code or "transient", exc.message)
        except TerminalError as exc:
            if type(exc) is TerminalError:  # an HTTP-level 4xx about this request, not the app's setup
                return RowResult.rejected(row.key, exc.code or "rejected", exc.message)
            raise

    def _post(self, row: RowOp, message: SlackMessage) -> RowResult:
        channel = self._target(message)
        arguments = self._message_arguments(row, message)
        caller = caller_for(f"{self._key}:chat.postMessage:{channel}", self._post_limits, clock=self._context.clock)
        data = self._call("chat.postMessage", caller=caller, idempotent=False, channel=channel, **arguments)
        return RowResult.ok(row.key, destination_id(data["channel"], data["ts"]))

    def _update(self, row: RowOp, message: SlackMessage) -> RowResult:
        assert row.destination_id is not None
        channel, ts = parse_destination_id(row.destination_id)
        try:
            data = self._call("chat.update", channel=channel, ts=ts, **self._message_arguments(row, message))
        except SlackRowError as exc:
            if exc.code != "message_not_found":
                raise
            return self._post(row, message)  # deleted in Slack: the row gets a new message and a new id
        return RowResult.ok(row.key, destination_id(data["channel"], data["ts"]))

    def _delete(self, row: RowOp) -> RowResult:
        if not row.destination_id:
            return RowResult.ok(row.key, None)  # nothing was ever posted for it
        channel, ts = parse_destination_id(row.destination_id)
        try:
            self._call("chat.delete", channel=channel, ts=ts)
        except SlackRowError as exc:
            if exc.code != "message_not_found":
                raise
        return RowResult.ok(row.key, row.destination_id)

    def _message_arguments(self, row: RowOp, message: SlackMessage) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "text": message.text,
            "metadata": message.metadata(self._context.sync_name, row.key),
        }
        if message.blocks is not None:
            arguments["blocks"] = message.blocks
        return arguments

    def _target(self, message: SlackMessage) -> str:
        return self._resolver.resolve(message.channel or self._context.spec.object)

    # -- reconcile and check -------------------------------------------------------------------------------------

    def _scan_history(self, channel: str, keys: set[str]) -> dict[str, str]:
        remaining = set(keys)
        found: dict[str, str] = {}
        scanned = 0
        cursor: str | None = None
        while remaining and scanned < self._connection.reconcile_scan_messages:
            try:
                page = self._call(
                    "conversations.history",
                    channel=channel,
                    include_all_metadata=True,
                    limit=HISTORY_PAGE,
                    cursor=cursor,
                )
            except SlackRowError:
                return found  # the app cannot read the conversation, so it cannot have posted there
            for message in page.get("messages") or []:
                scanned += 1
                key = self._row_key_of(message)
                if key in remaining:
                    found[key] = destination_id(channel, message["ts"])
                    remaining.discard(key)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return found

    def _row_key_of(self, message: dict[str, Any]) -> str | None:
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") != EVENT_TYPE or payload.get("sync") != self._context.sync_name:
            return None
        key = payload.get("row_key")
        return key if isinstance(key, str) else None

    def _check_channel(self, ref: str) -> list[str]:
        try:
            channel = self._resolver.resolve(ref)
        except MessageRefused as exc:
            return [f"destination.object {ref!r}: {exc.message}"]
        except WriterError as exc:
            return [f"destination.object {ref!r}: cannot look it up: {exc.message}"]
        if self._resolver.is_member(channel) is False:
            return [f"the app is not a member of {ref!r}: invite it with /invite @<app name> in that channel"]
        return []

    # -- one API call --------------------------------------------------------------------------------------------

    def _call(
        self, method: str, *, caller: ApiCaller | None = None, idempotent: bool = True, **arguments: Any
    ) -> dict[str, Any]:
        """One Slack call through the toolkit: limited, retried per policy, failures as `activate.http.errors`."""
        if caller is None:
            # A tier's calls per minute as a tenth per 6 s: the same rate and a small burst, and after a 429 the
            # toolkit's backed-off window recovers within seconds instead of a minute.
            per_minute = METHOD_TIERS.get(method, TIER_3)
            limits = RateLimits(max(1, per_minute // 10), 6.0, TIER_CONCURRENCY)
            caller = caller_for(f"{self._key}:{method}", limits, clock=self._context.clock)
        version = self._rotation.current()[0]
        refresh = functools.partial(self._reread_token, version) if self._rotation.active else None
        try:
            return caller.call(
                lambda: self._send(method, arguments),
                stats=self._context.stats,
                idempotent=idempotent,
                refresh=refresh,
            )
        except AuthFailed as exc:
            raise self._rotation.explain(exc) from None

    def _reread_token(self, version: int) -> None:
        """After Slack refused a token that came from a secret provider: re-read it (once per run) and use it."""
        self._client.token = self._rotation.reread(version).token.get_secret_value()

    def _send(self, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError

        # The SDK's typed methods, so each call is encoded exactly as slack-sdk sends it (JSON for chat.postMessage
        # and chat.update, form fields for the rest).
        send = getattr(self._client, method.replace(".", "_"))
        try:
            response = send(**arguments)
        except SlackApiError as exc:
            answer = exc.response
            error = classify_slack(
                method, answer.status_code, answer.headers or {}, answer.data, now=self._context.clock.now()
            )
            if self._rotation.active and isinstance(error, AuthFailed) and error.code in ROTATABLE_ERRORS:
                # a token from a secret provider may have been rotated: the caller re-reads it once
                raise AuthExpired(error.message, code=error.code) from exc
            raise error from exc
        return dict(response.data) if isinstance(response.data, dict) else {}
