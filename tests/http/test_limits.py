"""Vendor default limits and the user's `rate_limit:` override."""

from __future__ import annotations

import pytest

from activate.config.models import CountOrPercent, RateLimitSpec
from activate.http.limits import RateLimits

DEFAULT = RateLimits(100, 10.0, max_concurrency=8)


def test_no_override_keeps_the_default() -> None:
    assert DEFAULT.with_override(None) == DEFAULT
    assert DEFAULT.with_override(RateLimitSpec()) == DEFAULT


def test_each_field_the_user_sets_replaces_the_default() -> None:
    spec = RateLimitSpec.model_validate(
        {"requests": 50, "max_concurrency": 2, "daily_budget": "80%", "backend": "redis", "url": "redis://r:6379/1"}
    )
    assert DEFAULT.with_override(spec) == RateLimits(
        50, 10.0, 2, CountOrPercent(percent=80.0), backend="redis", redis_url="redis://r:6379/1"
    )
    assert DEFAULT.with_override(RateLimitSpec(per_seconds=1)).per_second == 100


def test_limits_must_be_positive_and_redis_needs_a_url() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimits(0, 1.0)
    with pytest.raises(ValueError, match="redis_url"):
        RateLimits(1, 1.0, backend="redis")
