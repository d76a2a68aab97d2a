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
# Request bodies are bounded: a batch over it is split, a single row over it is rejected (PAYLOAD_TOO_LARGE).
# 5 MB sits under the common gateway limits (AWS API Gateway 10 MB, Lambda 6 MB, nginx's default 1 MB is lower:
# lower `max_body_bytes` to match such an endpoint).
DEFAULT_MAX_BODY_BYTES = 5_000_000


class WebhookConnection(ConnectionSpec):
    """An HTTP endpoint that receives JSON batches (`POST <url>/<object>`, wire format in DESIGN §7).

    `headers` are sent with every request (typically `Authorization`); their values are secrets, masked wherever
    the connection is printed. `timeout` bounds each request in seconds; `batch_size` caps rows per POST (a sync's
    `destination.batch_size` may lower it). `rate_limit` overrides the default 10 requests/s, 4 in flight.
    `max_body_bytes` bounds each request body (UTF-8 JSON): a batch over it goes in smaller requests, and a row
    whose body alone is over it is rejected with `PAYLOAD_TOO_LARGE`, never sent.
    `idempotent_inserts: true` declares that the endpoint drops a request whose `Idempotency-Key` it has seen;
    without it `validate` warns about insert-mode syncs, whose retried batches would create records again.
    """

    type: Literal["webhook"] = "webhook"
    url: str
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, gt=0)
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
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
