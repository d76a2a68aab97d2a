"""The `slack` connection and Slack's default limits (DESIGN §7)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from activate.config.models import ConnectionSpec, RateLimitSpec
from activate.destinations.base import Capabilities

DEFAULT_BASE_URL = "https://slack.com/api/"
# Slack's documented method tiers, calls per minute per workspace (https://api.slack.com/apis/rate-limits).
TIER_2 = 20
TIER_3 = 50
TIER_4 = 100
METHOD_TIERS: dict[str, int] = {
    "auth.test": TIER_4,
    "conversations.list": TIER_2,
    "conversations.history": TIER_3,
    "conversations.open": TIER_3,
    "users.lookupByEmail": TIER_3,
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
}


class SlackConnection(ConnectionSpec):
    """A Slack workspace reached with a bot token (`xoxb-...`).

    `rate_limit` overrides the message limit: Slack allows about one `chat.postMessage` per second per channel,
    which is what limits a sync (updates and deletes follow the method tiers above). `reconcile_scan_messages`
    bounds how far back in a channel's history a crashed post is looked for.
    """

    type: Literal["slack"]
    token: SecretStr
    base_url: str = DEFAULT_BASE_URL
    timeout: int = Field(default=30, gt=0)
    reconcile_scan_messages: int = Field(default=5_000, gt=0)
    rate_limit: RateLimitSpec | None = None


CAPABILITIES = Capabilities(
    modes=frozenset({"insert", "upsert", "mirror"}),
    batch_size=1,  # one message per call: Slack has no batch write
    max_concurrency=4,  # messages to different channels go in parallel; one channel is paced by its own limiter
    requires_match=False,
    idempotent_insert=False,
    idempotent_upsert=False,  # a row's first post creates a message every time it is sent: guarded by reconcile
)
