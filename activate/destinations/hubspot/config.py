"""The `type: hubspot` connection and HubSpot's default rate limits per subscription tier."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from activate.config.models import ConnectionSpec, RateLimitSpec
from activate.http.limits import RateLimits

Tier = Literal["free", "starter", "professional", "enterprise"]

# HubSpot's published burst limit for private apps: 100 requests per rolling 10 s on Free/Starter, 190 on
# Professional/Enterprise. The daily allocation is enforced by HubSpot itself (429 `DAILY`, and the
# `X-HubSpot-RateLimit-Daily-Remaining` header the writer feeds to the budget), so no daily default is set here.
TIER_REQUESTS: dict[str, int] = {"free": 100, "starter": 100, "professional": 190, "enterprise": 190}
WINDOW_SECONDS = 10.0
# Enough requests in flight to use the window against HubSpot's real latency (a 100-input upsert takes ~0.3-1 s);
# the limiter, not the concurrency, is what keeps the rate under the tier's limit.
DEFAULT_CONCURRENCY = 8


class HubSpotConnection(ConnectionSpec):
    """How to reach one HubSpot portal.

    Credentials: a private-app or OAuth `access_token`, or an OAuth app (`client_id`, `client_secret`,
    `refresh_token`) from which access tokens are obtained and refreshed via `POST /oauth/v1/token`; both may be
    given (the token is used until it expires, then refreshed). Secrets are `SecretStr`, so they never print.
    `base_url` points at an EU host, a proxy or the local simulator. `tier` picks the default burst limit;
    `rate_limit` overrides any of it.
    """

    type: Literal["hubspot"] = "hubspot"
    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    base_url: str = "https://api.hubapi.com"
    tier: Tier = "free"
    timeout: float = Field(default=30.0, gt=0)
    rate_limit: RateLimitSpec | None = None

    @model_validator(mode="after")
    def _credentials(self) -> HubSpotConnection:
        oauth = [self.client_id, self.client_secret, self.refresh_token]
        if any(oauth) and not all(oauth):
            raise ValueError("OAuth refresh needs all of client_id, client_secret and refresh_token")
        if self.access_token is None and not all(oauth):
            raise ValueError("give access_token, or client_id + client_secret + refresh_token for OAuth")
        return self

    @property
    def can_refresh(self) -> bool:
        return self.refresh_token is not None

    def limits(self) -> RateLimits:
        """The tier's default limits with the user's `rate_limit:` block applied."""
        default = RateLimits(TIER_REQUESTS[self.tier], WINDOW_SECONDS, max_concurrency=DEFAULT_CONCURRENCY)
        return default.with_override(self.rate_limit)
