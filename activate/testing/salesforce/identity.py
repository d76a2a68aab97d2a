"""The simulated org's identity side: users, connected apps, login flows and sessions.

Flows, as Salesforce serves them:
- `POST /services/oauth2/token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (an RS256 assertion
  signed by the connected app's private key: `iss` = consumer key, `sub` = username, `aud` = login URL, `exp`),
  `grant_type=client_credentials` (consumer key/secret as HTTP Basic or form fields), or `grant_type=password`.
  Success: `{"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}`; failure: HTTP 400
  `{"error": "invalid_grant" | "invalid_client", "error_description": ...}`.
- `POST /services/Soap/u/{version}` SOAP `login` (password + security token): a `loginResponse` with `sessionId`
  and `serverUrl`, or a SOAP fault whose `sf:exceptionCode` is `INVALID_LOGIN`.

Sessions can be expired at once (`expire_all`) or after N more API requests (`expire_after`), so a test can make a
session die in the middle of a write.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import jwt

ORG_ID = "00D5g000004ActvEAA"
USER_ID = "0055g00000ActvUAAS"


@dataclass(frozen=True)
class ConnectedApp:
    """A connected app: its consumer key/secret, and the certificate (public key PEM) JWT assertions verify with."""

    consumer_key: str
    consumer_secret: str
    public_key_pem: bytes | None = None


@dataclass(frozen=True)
class OrgUser:
    """A user who can log in with a password and security token, or be the subject of a JWT assertion."""

    username: str
    password: str
    security_token: str


class LoginRefused(Exception):
    """A login the org refuses; `error` is the OAuth error code (or SOAP exception code)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class Identity:
    """Users, apps and live sessions of one org. Thread-safe; counts every successful login by grant type."""

    users: dict[str, OrgUser] = field(default_factory=dict)
    apps: dict[str, ConnectedApp] = field(default_factory=dict)
    audiences: set[str] = field(default_factory=lambda: {"https://login.salesforce.com", "https://test.salesforce.com"})
    logins: list[str] = field(default_factory=list)
    _sessions: set[str] = field(default_factory=set, repr=False)
    _expire_countdown: int | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ----- sessions ----------------------------------------------------------------------------------------------

    def issue(self, grant: str) -> str:
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(48)}"
        with self._lock:
            self._sessions.add(token)
            self.logins.append(grant)
        return token

    def add_session(self, token: str) -> None:
        """Register a session id handed to a user out of band (the `session` auth method)."""
        with self._lock:
            self._sessions.add(token)

    def authorize(self, header: str | None) -> bool:
        """Whether an `Authorization: Bearer <token>` header carries a live session; ticks `expire_after`."""
        if not header or not header.startswith(("Bearer ", "OAuth ")):
            return False
        token = header.split(" ", 1)[1].strip()
        with self._lock:
            if self._expire_countdown is not None:
                if self._expire_countdown <= 0:
                    self._sessions.clear()
                    self._expire_countdown = None
                else:
                    self._expire_countdown -= 1
            return token in self._sessions

    def expire_all(self) -> None:
        with self._lock:
            self._sessions.clear()

    def expire_after(self, requests: int) -> None:
        """Let `requests` more API requests through, then expire every session issued so far."""
        with self._lock:
            self._expire_countdown = requests

    # ----- OAuth token endpoint ----------------------------------------------------------------------------------

    def token(self, form: dict[str, str], authorization: str | None) -> str:
        grant = form.get("grant_type", "")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            self._jwt(form.get("assertion", ""))
            return self.issue("jwt")
        if grant == "client_credentials":
            key, secret = _client_credentials(form, authorization)
            app = self.apps.get(key)
            if app is None or not secrets.compare_digest(app.consumer_secret, secret):
                raise LoginRefused("invalid_client", "invalid client credentials")
            return self.issue("client_credentials")
        if grant == "password":
            key, secret = _client_credentials(form, authorization)
            app = self.apps.get(key)
            if app is None or not secrets.compare_digest(app.consumer_secret, secret):
                raise LoginRefused("invalid_client", "invalid client credentials")
            self._check_password(form.get("username", ""), form.get("password", ""))
            return self.issue("password")
        raise LoginRefused("unsupported_grant_type", f"grant type not supported: {grant or '(none)'}")

    def _jwt(self, assertion: str) -> None:
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise LoginRefused("invalid_grant", f"invalid assertion: {exc}") from exc
        app = self.apps.get(str(unverified.get("iss", "")))
        if app is None or app.public_key_pem is None:
            raise LoginRefused("invalid_client_id", "client identifier invalid")
        try:
            claims = jwt.decode(
                assertion,
                app.public_key_pem,
                algorithms=["RS256"],
                audience=sorted(self.audiences),
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise LoginRefused("invalid_grant", "expired authorization code") from exc
        except jwt.InvalidAudienceError as exc:
            raise LoginRefused("invalid_grant", "audience is invalid") from exc
        except jwt.PyJWTError as exc:
            raise LoginRefused("invalid_grant", f"invalid assertion: {exc}") from exc
        if claims["sub"] not in self.users:
            raise LoginRefused("invalid_grant", "user hasn't approved this consumer")

    def _check_password(self, username: str, password: str) -> None:
        user = self.users.get(username)
        expected = f"{user.password}{user.security_token}" if user else None
        if expected is None or not secrets.compare_digest(expected, password):
            raise LoginRefused("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")

    # ----- SOAP login --------------------------------------------------------------------------------------------

    def soap_login(self, body: bytes) -> str:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise LoginRefused("INVALID_LOGIN", f"malformed SOAP request: {exc}") from exc
        values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        self._check_password(values.get("username", ""), values.get("password", ""))
        return self.issue("soap")


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str, str]:
    if authorization and authorization.startswith("Basic "):
        decoded = base64.b64decode(authorization[6:]).decode()
        key, _, secret = decoded.partition(":")
        return key, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def token_response(token: str, instance_url: str) -> dict[str, Any]:
    issued = str(int(time.time() * 1000))
    return {
        "access_token": token,
        "instance_url": instance_url,
        "id": f"{instance_url}/id/{ORG_ID}/{USER_ID}",
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
        "scope": "api",
    }


def soap_login_response(token: str, instance_url: str, version: str) -> str:
    server = f"{instance_url}/services/Soap/u/{version}/{ORG_ID[:15]}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{instance_url}/services/Soap/m/{version}/{ORG_ID[:15]}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{server}</serverUrl><sessionId>{token}</sessionId><userId>{USER_ID}</userId>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def soap_fault(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring>"
        f'<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
