"""The daily quota budget: stop before a run spends more of the day's API allocation than the user allowed."""

from __future__ import annotations

import threading
from datetime import date
from typing import TYPE_CHECKING

from activate.clock import Clock
from activate.http.errors import QuotaExhausted

if TYPE_CHECKING:
    # type-only: importing activate.config here would load the whole config package (and through it the
    # secrets layer, which imports this toolkit)
    from activate.config.models import CountOrPercent


class QuotaBudget:
    """Counts a connection's API calls per UTC day and refuses the call that would go over budget.

    `daily_budget` as a count caps the calls this connection makes in a day (counted here, per process); as a
    percentage it caps the day's total usage the vendor reports (`observe`) at that share of the vendor's daily
    allocation, so other integrations keep the rest. Whatever the budget, a call is refused when the vendor's
    reported remaining quota (less the calls made since that report) would not cover it: spending it would only
    earn a daily-limit error. Thread-safe; the counters start over when the UTC date changes.
    """

    def __init__(self, daily_budget: CountOrPercent | None, clock: Clock) -> None:
        self.daily_budget = daily_budget
        self._clock = clock
        self._lock = threading.Lock()
        self._day: date | None = None
        self._spent = 0
        self._vendor_used: int | None = None
        self._vendor_limit: int | None = None
        self._vendor_remaining: int | None = None
        self._since_report = 0

    def _roll_day(self) -> None:
        today = self._clock.now().date()
        if today != self._day:
            self._day = today
            self._spent = 0
            self._vendor_used = self._vendor_remaining = None
            self._since_report = 0

    @property
    def spent(self) -> int:
        """Calls this connection made today (in this process)."""
        with self._lock:
            self._roll_day()
            return self._spent

    def observe(self, *, used: int | None = None, limit: int | None = None, remaining: int | None = None) -> None:
        """Figures from a response's quota headers; any may be missing."""
        with self._lock:
            self._roll_day()
            if limit is not None:
                self._vendor_limit = limit
            if used is None and remaining is not None and self._vendor_limit is not None:
                used = self._vendor_limit - remaining
            if remaining is None and used is not None and self._vendor_limit is not None:
                remaining = self._vendor_limit - used
            if used is not None:
                self._vendor_used = used
            if remaining is not None:
                self._vendor_remaining = remaining
            if used is not None or remaining is not None:
                self._since_report = 0

    def spend(self, cost: int = 1) -> None:
        """Account for a call about to be sent, or raise `QuotaExhausted` when it would go over budget."""
        with self._lock:
            self._roll_day()
            refusal = self._refusal(cost)
            if refusal is not None:
                raise QuotaExhausted(refusal, code="DAILY_BUDGET")
            self._spent += cost
            self._since_report += cost

    def exhaust(self) -> None:
        """The vendor said the daily quota is gone: refuse every further call today."""
        with self._lock:
            self._roll_day()
            self._vendor_remaining = 0
            self._since_report = 0

    def _remaining(self) -> int | None:
        if self._vendor_remaining is None:
            return None
        return self._vendor_remaining - self._since_report

    def _refusal(self, cost: int) -> str | None:
        remaining = self._remaining()
        vendor = (
            f"the API reports {max(remaining, 0)} of {self._vendor_limit} daily calls left"
            if remaining is not None and self._vendor_limit is not None
            else f"the API reports {max(remaining, 0)} daily calls left"
            if remaining is not None
            else "the API has not reported its remaining daily quota"
        )
        budget = self.daily_budget
        if budget is not None and budget.count is not None and self._spent + cost > budget.count:
            return (
                f"daily_budget of {budget.count} API calls reached: {self._spent} calls made today, "
                f"{budget.count - self._spent} left in the budget; {vendor}"
            )
        if budget is not None and budget.percent is not None and self._vendor_limit is not None:
            cap = budget.of(self._vendor_limit)
            used = self._vendor_limit - remaining if remaining is not None else self._spent
            if used + cost > cap:
                return (
                    f"daily_budget of {budget} of {self._vendor_limit} API calls ({cap:.0f}) reached: "
                    f"{used} used today; {vendor}"
                )
        if remaining is not None and remaining < cost:
            return f"daily API quota exhausted: {vendor}"
        return None
