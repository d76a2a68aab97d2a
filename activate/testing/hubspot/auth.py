"""Access tokens of the simulated portal: private-app tokens and OAuth tokens issued by `POST /oauth/v1/token`.

HubSpot answers a missing or unknown token with 401 `INVALID_AUTHENTICATION` and an expired OAuth token with 401
`EXPIRED_AUTHENTICATION`. OAuth access tokens live `expires_in` seconds (1800 by default); `expire_all()` makes
every token issued so far expired at once (the "expired token" fault).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from activate.clock import Clock


@dataclass
class _Token:
    expires_at: float | None  # monotonic seconds; None never expires (private app)
    oauth: bool


@dataclass(frozen=True)
class OAuthClient:
    """An OAuth app installed in the portal, with the refresh token it was granted."""

    client_id: str
    client_secret: str
    refresh_token: str


class TokenRegistry:
    """Which bearer tokens are valid now (thread-safe)."""

    def __init__(self, clock: Clock, *, token_lifetime: int = 1800) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._clients: dict[str, OAuthClient] = {}
        self._serial = itertools.count(1)
        self.token_lifetime = token_lifetime
        self.refreshes = 0

    def add_private_app_token(self, token: str) -> None:
        with self._lock:
            self._tokens[token] = _Token(None, oauth=False)

    def revoke(self, token: str) -> None:
        """The token is unknown from now on (a rotated private-app token): 401 INVALID_AUTHENTICATION."""
        with self._lock:
            self._tokens.pop(token, None)

    def add_oauth_client(self, client: OAuthClient) -> None:
        with self._lock:
            self._clients[client.client_id] = client

    def expire_all(self) -> None:
        """Every token issued so far is expired from now on; OAuth clients can refresh."""
        with self._lock:
            now = self._clock.monotonic()
            for token in self._tokens.values():
                token.expires_at = now

    def authenticate(self, authorization: str | None) -> dict[str, Any] | None:
        """None when the bearer token is valid, else HubSpot's 401 body."""
        token = (authorization or "").removeprefix("Bearer ").strip()
        with self._lock:
            known = self._tokens.get(token)
            now = self._clock.monotonic()
            if known is None:
                return {
                    "status": "error",
                    "message": "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
                    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "correlationId": str(uuid.uuid4()),
                    "category": "INVALID_AUTHENTICATION",
                }
            if known.expires_at is not None and now >= known.expires_at:
                ago = int(now - known.expires_at)
                return {
                    "status": "error",
                    "message": f"The OAuth token used to make this call expired {ago} second(s) ago.",
                    "correlationId": str(uuid.uuid4()),
                    "category": "EXPIRED_AUTHENTICATION",
                    "context": {},
                }
        return None

    def grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """`POST /oauth/v1/token` with `grant_type=refresh_token`: (status, body)."""
        with self._lock:
            client = self._clients.get(form.get("client_id", ""))
            if form.get("grant_type") != "refresh_token":
                return 400, {"status": "BAD_GRANT_TYPE", "message": "grant_type must be refresh_token here"}
            if client is None or client.client_secret != form.get("client_secret"):
                return 400, {"status": "BAD_CLIENT_ID", "message": "missing or invalid client_id/client_secret"}
            if client.refresh_token != form.get("refresh_token"):
                return 400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}
            access = f"sim-oauth-{next(self._serial)}-{uuid.uuid4().hex[:8]}"
            self._tokens[access] = _Token(self._clock.monotonic() + self.token_lifetime, oauth=True)
            self.refreshes += 1
            return 200, {
                "token_type": "bearer",
                "refresh_token": client.refresh_token,
                "access_token": access,
                "expires_in": self.token_lifetime,
            }
