"""HubSpot's API rate limits as the simulator enforces them: a rolling 10-second window, a daily allocation, and
the separate per-second limit of the CRM search endpoints.

Documented behaviour modelled here: a request over a limit gets 429 with a JSON body whose `policyName` names the
limit (`TEN_SECONDLY_ROLLING`, `DAILY`, `SECONDLY` for search); every CRM response carries
`X-HubSpot-RateLimit-*` headers. The day rolls over at midnight (UTC here; HubSpot uses the portal's time zone).
Refused requests do not count against a window, so a client that waits recovers.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import date
from typing import Any

from activate.clock import Clock

WINDOW_SECONDS = 10.0


@dataclass(frozen=True)
class Verdict:
    """The limiter's answer: `policy` is None when the request may proceed."""

    policy: str | None
    headers: dict[str, str]

    def body(self) -> dict[str, Any]:
        messages = {
            "DAILY": "You have reached your daily limit.",
            "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
            "SECONDLY": "You have reached your secondly limit.",
        }
        return {
            "status": "error",
            "message": messages.get(self.policy or "", "You have reached your rate limit."),
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": self.policy,
            "groupName": "publicapi:private-app",
        }


class RateLimiter:
    """Counts accepted requests per rolling window and per day (thread-safe)."""

    def __init__(self, clock: Clock, *, per_window: int, daily: int, search_per_second: int = 5) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.per_window = per_window
        self.daily = daily
        self.search_per_second = search_per_second
        self._window: deque[float] = deque()
        self._search: deque[float] = deque()
        self._day: date = clock.now().date()
        self.used_today = 0

    def reset_day(self) -> None:
        """Start a new day's allocation (HubSpot does this at midnight)."""
        with self._lock:
            self.used_today = 0

    def exhaust_day(self) -> None:
        """Spend the rest of today's allocation: every further request gets the DAILY 429."""
        with self._lock:
            self.used_today = self.daily

    def admit(self, *, search: bool = False) -> Verdict:
        """Decide on one request and count it when admitted."""
        with self._lock:
            now = self._clock.monotonic()
            today = self._clock.now().date()
            if today != self._day:
                self._day, self.used_today = today, 0
            while self._window and self._window[0] <= now - WINDOW_SECONDS:
                self._window.popleft()
            while self._search and self._search[0] <= now - 1.0:
                self._search.popleft()
            policy: str | None = None
            if self.used_today >= self.daily:
                policy = "DAILY"
            elif search and len(self._search) >= self.search_per_second:
                policy = "SECONDLY"
            elif not search and len(self._window) >= self.per_window:
                policy = "TEN_SECONDLY_ROLLING"
            else:
                self.used_today += 1
                (self._search if search else self._window).append(now)
            return Verdict(policy, self._headers(search))

    def _headers(self, search: bool) -> dict[str, str]:
        if search:
            # HubSpot's search endpoints do not return the standard rate-limit headers.
            return {}
        remaining = max(self.per_window - len(self._window), 0)
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(self.daily - self.used_today, 0)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.per_window),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
            "X-HubSpot-RateLimit-Secondly": str(max(self.per_window // int(WINDOW_SECONDS), 1)),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(min(remaining, max(self.per_window // 10, 1))),
        }
