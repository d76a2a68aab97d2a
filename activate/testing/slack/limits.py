"""Slack's rate limits as the simulator enforces them: per-method tiers and the per-channel message limit.

Slack documents limits per app per workspace per method in tiers (Tier 1: 1+/min, Tier 2: 20+/min, Tier 3: 50+/min,
Tier 4: 100+/min) and a special limit for `chat.postMessage`: about one message per second per channel. Over a limit
it answers HTTP 429 with an integer `Retry-After` header and `{"ok": false, "error": "ratelimited"}`.
Windows are sliding and read the injected clock, so a test drives them with `FakeClock`.
"""

from __future__ import annotations

import math
import threading
from collections import deque

from activate.clock import Clock

TIER_1, TIER_2, TIER_3, TIER_4 = 1, 20, 50, 100

METHOD_TIERS: dict[str, int] = {
    "auth.test": TIER_4,
    "conversations.list": TIER_2,
    "conversations.history": TIER_3,
    "conversations.open": TIER_3,
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "users.lookupByEmail": TIER_3,
}

# Float sums on a FakeClock can land a hair before a window boundary that the client computed exactly.
_EPSILON = 1e-6


class SlidingWindow:
    """At most `limit` events in any `seconds`-long window, per key. Thread-safe."""

    def __init__(self, limit: int, seconds: float, clock: Clock) -> None:
        self.limit = limit
        self.seconds = seconds
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> int:
        """Record an event when allowed; otherwise the `Retry-After` seconds (nothing recorded)."""
        with self._lock:
            events = self._prune(key)
            if len(events) < self.limit:
                events.append(self._clock.monotonic())
                return 0
            remaining = events[0] + self.seconds - self._clock.monotonic()
            return max(1, math.ceil(remaining - _EPSILON))

    def _prune(self, key: str) -> deque[float]:
        events = self._events.setdefault(key, deque())
        horizon = self._clock.monotonic() - self.seconds + _EPSILON
        while events and events[0] < horizon:
            events.popleft()
        return events


class SlackRateLimits:
    """The simulator's limits: one window per method tier, one per channel for posts."""

    def __init__(
        self,
        clock: Clock,
        *,
        posts_per_channel: int = 1,
        post_window_seconds: float = 1.0,
        tiers: dict[str, int] | None = None,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self._tiers = {**METHOD_TIERS, **(tiers or {})}
        self._methods = {method: SlidingWindow(limit, 60.0, clock) for method, limit in self._tiers.items()}
        self.posts = SlidingWindow(posts_per_channel, post_window_seconds, clock)

    def take_method(self, method: str) -> int:
        window = self._methods.get(method)
        if not self.enabled or window is None:
            return 0
        return window.take(method)

    def take_post(self, channel_id: str) -> int:
        return self.posts.take(channel_id) if self.enabled else 0
