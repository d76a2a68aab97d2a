"""The daily budget: the caller stops before the day's quota is spent, and says how much was left.

The simulator reports its daily allocation in `X-RateLimit-Daily-Limit` / `X-RateLimit-Daily-Remaining`, which the
`send` below feeds to `observe_quota` as a vendor writer does with HubSpot's and Salesforce's headers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from activate.clock import FakeClock
from activate.config.models import CountOrPercent
from activate.http.budget import QuotaBudget
from activate.http.caller import ApiCaller
from activate.http.classify import classify_response
from activate.http.errors import QuotaExhausted
from activate.http.limits import RateLimits
from activate.http.stats import RunStats
from activate.testing.webhook_sim import WebhookSimulator


def budgeted(clock: FakeClock, budget: str | int | None) -> ApiCaller:
    return ApiCaller("quota", RateLimits(1_000_000, 1.0, 1, CountOrPercent.parse(budget)), clock=clock)


def reporting_sender(sim: WebhookSimulator, caller: ApiCaller, client: httpx.Client) -> Callable[[], None]:
    def send() -> None:
        response = client.post(f"{sim.url}/people", json={"sync": "s", "operation": "upsert", "rows": []})
        if "X-RateLimit-Daily-Limit" in response.headers:
            caller.observe_quota(
                limit=int(response.headers["X-RateLimit-Daily-Limit"]),
                remaining=int(response.headers["X-RateLimit-Daily-Remaining"]),
            )
        error = classify_response(response.status_code, response.headers, response.content)
        if error is not None:
            raise error

    return send


def calls_until_exhausted(sim: WebhookSimulator, caller: ApiCaller, limit: int = 5000) -> tuple[int, QuotaExhausted]:
    stats = RunStats()
    with httpx.Client() as client:
        send = reporting_sender(sim, caller, client)
        for made in range(limit):
            try:
                caller.call(send, stats=stats)
            except QuotaExhausted as exc:
                assert stats.api_calls == made
                return made, exc
    raise AssertionError(f"no QuotaExhausted after {limit} calls")


def test_a_count_budget_stops_at_exactly_that_many_calls(sim: WebhookSimulator, clock: FakeClock) -> None:
    sim.quota(1_000_000, used=500)
    made, exc = calls_until_exhausted(sim, budgeted(clock, 1000))
    assert made == 1000
    assert sim.requests == 1000
    assert exc.message == (
        "daily_budget of 1000 API calls reached: 1000 calls made today, 0 left in the budget; "
        "the API reports 998500 of 1000000 daily calls left"
    )
    assert exc.results == []


def test_the_vendors_remaining_quota_stops_the_caller_before_a_daily_429(
    sim: WebhookSimulator, clock: FakeClock
) -> None:
    sim.quota(1000, used=990)
    made, exc = calls_until_exhausted(sim, budgeted(clock, 1000))
    assert made == 10
    assert "the API reports 0 of 1000 daily calls left" in exc.message
    assert sim.throttled == 0, "never spent a call only to be told the day is over"


def test_a_percent_budget_caps_the_days_total_usage(sim: WebhookSimulator, clock: FakeClock) -> None:
    sim.quota(1000, used=900)
    made, exc = calls_until_exhausted(sim, budgeted(clock, "95%"))
    assert made == 50
    assert exc.message.startswith("daily_budget of 95% of 1000 API calls (950) reached: 950 used today")
    assert "50 of 1000 daily calls left" in exc.message


def test_the_budget_starts_over_the_next_day(sim: WebhookSimulator, clock: FakeClock) -> None:
    caller = budgeted(clock, 3)
    made, _ = calls_until_exhausted(sim, caller)
    assert made == 3
    clock.advance(timedelta(days=1).total_seconds())
    made, _ = calls_until_exhausted(sim, caller)
    assert made == 3
    assert sim.requests == 6


def test_remaining_counts_down_between_reports() -> None:
    budget = QuotaBudget(None, FakeClock())
    budget.observe(remaining=2)
    budget.spend()
    budget.spend()
    with pytest.raises(QuotaExhausted, match="the API reports 0 daily calls left"):
        budget.spend()
    budget.observe(used=10, limit=100)
    budget.spend()
    assert budget.spent == 3


def test_without_a_budget_or_a_report_nothing_is_refused() -> None:
    budget = QuotaBudget(None, FakeClock())
    for _ in range(10_000):
        budget.spend()
    assert budget.spent == 10_000
