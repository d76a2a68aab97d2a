"""The `salesforce` connection (DESIGN §2) and Salesforce's default limits (DESIGN §7)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from activate.config.models import ConnectionSpec, CountOrPercent, RateLimitSpec, StrictModel
from activate.http.limits import RateLimits

DEFAULT_API_VERSION = "62.0"
# sObject Collections upsert (PATCH composite/sobjects/{SObject}/{ExternalIdField}) exists from API 46.0 on.
MIN_API_VERSION = 46.0
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
# Salesforce has no per-second REST limit; what bounds a writer is the org's daily request allocation (shared by
# every integration in the org, hence the 80% default budget) and 25 concurrent long-running requests per org
# (we keep well under it by default).
DEFAULT_LIMITS = RateLimits(
    requests=100, per_seconds=1.0, max_concurrency=10, daily_budget=CountOrPercent(percent=80.0)
)


class JwtAuth(StrictModel):
    """OAuth 2.0 JWT bearer flow: a connected app's consumer key and the private key of its certificate.

    The production default: no password to rotate, and a new session can always be minted.
    """

    method: Literal["jwt"]
    username: str
    consumer_key: str
    private_key_path: str


class ClientCredentialsAuth(StrictModel):
    """OAuth 2.0 client credentials flow against the org's My Domain (the token endpoint is `instance_url`
    unless `login_url` says otherwise)."""

    method: Literal["client_credentials"]
    consumer_key: str
    consumer_secret: SecretStr


class PasswordAuth(StrictModel):
    """SOAP `login` with username, password and security token (legacy; prefer `jwt`)."""

    method: Literal["password"]
    username: str
    password: SecretStr
    security_token: SecretStr = SecretStr("")


class SessionAuth(StrictModel):
    """A session id obtained elsewhere. It cannot be renewed: when it expires the run fails with a clear message."""

    method: Literal["session"]
    session_id: SecretStr


SalesforceAuth = Annotated[JwtAuth | ClientCredentialsAuth | PasswordAuth | SessionAuth, Field(discriminator="method")]


class SalesforceConnection(ConnectionSpec):
    """A Salesforce org reached through simple-salesforce.

    `instance_url` is the org's My Domain (`https://acme.my.salesforce.com`), a sandbox, or a simulator;
    `login_url` is where the jwt and password flows log in (`https://test.salesforce.com` for sandboxes);
    `ca_bundle` trusts a custom CA (corporate TLS proxy, the local simulator) and wins over `REQUESTS_CA_BUNDLE`.
    """

    type: Literal["salesforce"]
    instance_url: str
    auth: SalesforceAuth
    api_version: str = DEFAULT_API_VERSION
    login_url: str | None = None
    ca_bundle: str | None = None
    timeout: float = Field(default=120.0, gt=0)
    bulk_poll_timeout: float = Field(default=3600.0, gt=0)
    rate_limit: RateLimitSpec | None = None

    @field_validator("instance_url", "login_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("https://"):
            raise ValueError("Salesforce is only reached over https:// (simple-salesforce builds https URLs)")
        return value.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = value.removeprefix("v")
        if not re.fullmatch(r"\d{2,3}\.\d", value):
            raise ValueError("expected an API version like '62.0'")
        if float(value) < MIN_API_VERSION:
            raise ValueError(
                f"API version {value} is too old: sObject Collections upsert needs {MIN_API_VERSION:.1f} or later "
                f"(use '{DEFAULT_API_VERSION}')"
            )
        return value

    def limits(self) -> RateLimits:
        return DEFAULT_LIMITS.with_override(self.rate_limit)

    def token_url(self) -> str:
        """Where the OAuth flows ask for a token: `login_url`, else My Domain for client credentials, else
        login.salesforce.com."""
        if self.login_url:
            base = self.login_url
        elif self.auth.method == "client_credentials":
            base = self.instance_url
        else:
            base = DEFAULT_LOGIN_URL
        return f"{base}/services/oauth2/token"
