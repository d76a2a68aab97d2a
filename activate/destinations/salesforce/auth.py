"""Logging in to Salesforce and keeping one live session per writer, shared by its threads.

simple-salesforce's own login helpers build `https://{domain}.salesforce.com` URLs, which cannot reach a My
Domain token endpoint with a custom `login_url`, a sandbox proxy or the local simulator. So the flows here call
its lower-level `token_login` / `SalesforceLogin(scratch_url=...)` with the URL we choose, then hand the session
id to `Salesforce(instance_url=..., session_id=...)`. The SDK then never re-logs in on its own: a 401 reaches
our classifier, and the caller refreshes exactly once per expiry (`SalesforceSession.refresh` ignores a refresh
for a session that another thread has already replaced).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activate.http.classify import parse_retry_after, transport_error
from activate.http.errors import AuthFailed, RateLimited, TransientError
from activate.secrets.connections import CredentialsRefused
from activate.secrets.rotation import Rotation

if TYPE_CHECKING:
    import requests
    from simple_salesforce.api import Salesforce

    from activate.clock import Clock
    from activate.destinations.salesforce.config import SalesforceConnection

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class Usage:
    """The org's daily API usage as the last `Sforce-Limit-Info` header reported it."""

    used: int
    limit: int

    def __str__(self) -> str:
        share = 100.0 * self.used / self.limit if self.limit else 0.0
        return f"{self.used:,}/{self.limit:,} daily API requests used ({share:.0f}%)"


def parse_limit_info(header: str | None) -> Usage | None:
    """`api-usage=25/5000[; per-app-api-usage=...]` -> Usage(25, 5000)."""
    match = _USAGE.search(header or "")
    return Usage(int(match.group(1)), int(match.group(2))) if match else None


def http_session(ca_bundle: str | None, timeout: float) -> requests.Session:
    """A requests session that trusts `ca_bundle` and applies `timeout` to every request the SDK makes.

    requests lets `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` override `Session.verify` (psf/requests#3829), which
    would silently ignore the configured bundle on machines that set them; the override below keeps it.
    """
    import requests

    class _Session(requests.Session):
        def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
            if ca_bundle:
                settings["verify"] = ca_bundle
            return settings

        def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            kwargs.setdefault("timeout", timeout)
            return super().request(*args, **kwargs)

    session = _Session()
    if ca_bundle:
        session.verify = ca_bundle
    return session


class SalesforceSession:
    """The writer's live Salesforce session: logs in lazily, re-logs in once per expiry, thread-safe.

    `client()` returns the current `Salesforce` client; `refresh(stale)` replaces it unless another thread already
    did (so ten threads that all got INVALID_SESSION_ID log in once). A `session` auth cannot log in again:
    `refreshable` is False and the classifier turns its expiry into `AuthFailed`.
    """

    def __init__(self, connection: SalesforceConnection, http: requests.Session, clock: Clock) -> None:
        self.connection = connection
        self.http = http
        self.clock = clock
        self.logins = 0
        self._lock = threading.Lock()
        self._client: Salesforce | None = None
        self._last = threading.local()
        self.rotation = Rotation(connection)
        http.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # The SDK's login errors drop the HTTP status; a 429 or 5xx from the token endpoint is an outage to wait
        # out or retry, not refused credentials.
        self._last.status = response.status_code
        self._last.retry_after = response.headers.get("Retry-After")

    @property
    def refreshable(self) -> bool:
        return self.connection.auth.method != "session"

    @property
    def method(self) -> str:
        return self.connection.auth.method

    def client(self) -> Salesforce:
        with self._lock:
            if self._client is None:
                self._client = self._login()
            return self._client

    def refresh(self, stale: Salesforce | None) -> None:
        """Log in again, unless the client that failed (`stale`) was already replaced by another thread."""
        with self._lock:
            if self._client is not None and self._client is not stale:
                return
            self._client = self._login()

    def _login(self) -> Salesforce:
        from simple_salesforce.api import Salesforce

        session_id, instance_url = self._authenticate()
        return Salesforce(
            instance_url=instance_url,
            session_id=session_id,
            session=self.http,
            version=self.connection.api_version,
        )

    def _authenticate(self) -> tuple[str, str]:
        """Log in; when Salesforce refuses credentials that came from a secret provider (a rotated client secret,
        password or security token; a key file is read afresh at every login anyway), re-read them once and try
        again with the new values."""
        try:
            return self._authenticate_once()
        except CredentialsRefused:
            raise
        except AuthFailed as exc:
            if not self.rotation.active:
                raise
            self.connection = self.rotation.reread(self.rotation.current()[0])
            try:
                return self._authenticate_once()
            except AuthFailed as again:
                raise self.rotation.explain(again) from exc

    def _authenticate_once(self) -> tuple[str, str]:
        from simple_salesforce.exceptions import SalesforceAuthenticationFailed

        auth = self.connection.auth
        if auth.method == "session":
            if self._client is not None:
                raise AuthFailed(_SESSION_EXPIRED)
            return auth.session_id.get_secret_value(), self.connection.instance_url
        self._last.status = None
        try:
            session_id, instance = self._flow()
        except SalesforceAuthenticationFailed as exc:
            status = getattr(self._last, "status", None)
            if status == 429:
                wait = parse_retry_after(getattr(self._last, "retry_after", None), now=self.clock.now())
                raise RateLimited(f"Salesforce login at {self._where()} was rate limited", retry_after=wait) from exc
            if status is not None and status >= 500:
                raise TransientError(
                    f"Salesforce login at {self._where()} failed with HTTP {status}", status=status
                ) from exc
            raise AuthFailed(
                f"Salesforce refused the {auth.method} login at {self._where()}: {exc.code}: {exc.auth_message}",
                code=str(exc.code or "AUTH_FAILED"),
            ) from exc
        except Exception as exc:
            error = transport_error(exc)
            if error is None:
                raise
            raise TransientError(f"Salesforce login at {self._where()} failed: {error.message}", sent=False) from exc
        self.logins += 1
        return session_id, f"https://{instance}" if instance else self.connection.instance_url

    def _where(self) -> str:
        if self.connection.auth.method == "password":
            return f"{self.connection.login_url or 'https://login.salesforce.com'}/services/Soap/u/"
        return self.connection.token_url()

    def _flow(self) -> tuple[str, str]:
        from simple_salesforce.login import SalesforceLogin, token_login

        auth = self.connection.auth
        if auth.method == "jwt":
            import jwt

            audience = (self.connection.login_url or "https://login.salesforce.com").rstrip("/")
            claims = {
                "iss": auth.consumer_key,
                "sub": auth.username,
                "aud": audience,
                # Salesforce checks `exp` against its own wall clock, so this is real time, never the injected
                # clock (a test's FakeClock may sit at any date).
                "exp": int(time.time()) + 180,
            }
            key = Path(auth.private_key_path).expanduser().read_bytes()
            assertion = jwt.encode(claims, key, algorithm="RS256")
            data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
            return token_login(self.connection.token_url(), data, "login", auth.consumer_key, None, None, self.http)
        if auth.method == "client_credentials":
            secret = auth.consumer_secret.get_secret_value()
            basic = base64.b64encode(f"{auth.consumer_key}:{secret}".encode()).decode()
            return token_login(
                self.connection.token_url(),
                {"grant_type": "client_credentials"},
                "login",
                auth.consumer_key,
                {"Authorization": f"Basic {basic}"},
                None,
                self.http,
            )
        if auth.method == "password":
            result: tuple[str, str] = SalesforceLogin(
                username=auth.username,
                password=auth.password.get_secret_value(),
                security_token=auth.security_token.get_secret_value(),
                sf_version=self.connection.api_version,
                session=self.http,
                scratch_url=self.connection.login_url or "https://login.salesforce.com",
            )
            return result
        raise AuthFailed(f"unknown Salesforce auth method {auth.method!r}")


_SESSION_EXPIRED = (
    "Salesforce rejected the session id (INVALID_SESSION_ID: session expired or invalid), and the `session` auth "
    "method cannot log in again: paste a fresh session_id, or switch the connection to `jwt`, "
    "`client_credentials` or `password` auth so activate can re-authenticate on its own"
)


def session_expired_message() -> str:
    return _SESSION_EXPIRED
