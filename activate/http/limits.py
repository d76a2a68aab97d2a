"""A connection's rate limits: the vendor default, overridden by the user's `rate_limit:` block."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    # type-only: importing activate.config here would load the whole config package (and through it the
    # secrets layer, which imports this toolkit)
    from activate.config.models import CountOrPercent, RateLimitSpec


@dataclass(frozen=True)
class RateLimits:
    """How fast one connection may call its API.

    At most `requests` calls in any `per_seconds` window and at most `max_concurrency` calls in flight; a
    `daily_budget` (count, or percent of the vendor's daily allocation) stops the run before the day's quota is
    spent. `backend="redis"` shares the window with every process that uses the same connection key and
    `redis_url`.
    """

    requests: int
    per_seconds: float
    max_concurrency: int = 1
    daily_budget: CountOrPercent | None = None
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str | None = None

    def __post_init__(self) -> None:
        if self.requests <= 0 or self.per_seconds <= 0 or self.max_concurrency <= 0:
            raise ValueError(f"rate limits must be positive: {self}")
        if self.backend == "redis" and not self.redis_url:
            raise ValueError("backend 'redis' needs a redis_url")

    @property
    def per_second(self) -> float:
        return self.requests / self.per_seconds

    def with_override(self, spec: RateLimitSpec | None) -> RateLimits:
        """The vendor default with every field the user set in `rate_limit:` replacing it."""
        if spec is None:
            return self
        return replace(
            self,
            requests=spec.requests if spec.requests is not None else self.requests,
            per_seconds=spec.per_seconds if spec.per_seconds is not None else self.per_seconds,
            max_concurrency=spec.max_concurrency if spec.max_concurrency is not None else self.max_concurrency,
            daily_budget=spec.daily_budget if spec.daily_budget is not None else self.daily_budget,
            backend=spec.backend if "backend" in spec.model_fields_set else self.backend,
            redis_url=spec.url if spec.url is not None else self.redis_url,
        )
