"""The `type: webhook` connection and its default limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from activate.config.models import ConnectionSpec, RateLimitSpec
from activate.http.limits import RateLimits

# A webhook endpoint publishes no limit of its own; these defaults are gentle enough for a small service and are
# meant to be overridden with `rate_limit:` once the endpoint's capacity is known.
DEFAULT_REQUESTS = 10
DEFAULT_PER_SECONDS = 1.0
DEFAULT_CONCURRENCY = 4
DEFAULT_BATCH_SIZE = 100


class WebhookConnection(ConnectionSpec):
    """An HTTP endpoint that receives JSON batches (`POST <url>/<object>`, wire format in DESIGN §7).

    `headers` are sent with every request (typically `Authorization`); their values are secrets, masked wherever
    the connection is printed. `timeout` bounds each request in seconds; `batch_size` caps rows per POST (a sync's
    `destination.batch_size` may lower it). `rate_limit` overrides the default 10 requests/s, 4 in flight.
    `idempotent_inserts: true` declares that the endpoint drops a request whose `Idempotency-Key` it has seen;
    without it `validate` warns about insert-mode syncs, whose retried batches would create records again.
    """

    type: Literal["webhook"] = "webhook"
    url: str
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, gt=0)
    rate_limit: RateLimitSpec | None = None
    idempotent_inserts: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    def limits(self) -> RateLimits:
        """The default limits with the user's `rate_limit:` block applied."""
        default = RateLimits(DEFAULT_REQUESTS, DEFAULT_PER_SECONDS, max_concurrency=DEFAULT_CONCURRENCY)
        return default.with_override(self.rate_limit)

    def plain_headers(self) -> dict[str, str]:
        """The headers with their secret values revealed, for the HTTP client only."""
        return {name: value.get_secret_value() for name, value in self.headers.items()}
