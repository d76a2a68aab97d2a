"""A local HubSpot portal over real HTTP: the CRM v3 API, OAuth token refresh, rate limits and fault injection.

Every CRM request (v3 objects, v4 association batches in `associations.py`) passes, in order: a forced 429 storm
(`storm`), authentication (401 `INVALID_AUTHENTICATION` / `EXPIRED_AUTHENTICATION`), the rate limits (429 with
`policyName`), then the endpoint. `/oauth/v1/*` is neither authenticated nor rate limited. The generic faults of
`SimulatorServer` (latency, 5xx share, dropped connections) apply before all of that.

In a test:

    with HubSpotSimulator(clock=FakeClock()) as sim:
        client = HubSpot(access_token=sim.token, host=sim.url)

From a shell: `activate simulate hubspot --port 8765` (see `serve`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Literal

from activate.clock import SYSTEM_CLOCK, Clock
from activate.testing.hubspot.associations import AssociationApi
from activate.testing.hubspot.auth import OAuthClient, TokenRegistry
from activate.testing.hubspot.crm import CrmApi
from activate.testing.hubspot.limits import RateLimiter
from activate.testing.hubspot.schema import ObjectType, PropertyDef, Schema
from activate.testing.server import Faults, LoggedCall, Request, RequestLog, Response, Router, SimulatorServer

Tier = Literal["free", "starter", "professional", "enterprise"]
# Requests per rolling 10 s and per day, by subscription tier (HubSpot's published private-app limits).
TIER_LIMITS: dict[str, tuple[int, int]] = {
    "free": (100, 250_000),
    "starter": (100, 250_000),
    "professional": (190, 625_000),
    "enterprise": (190, 1_000_000),
}
DEFAULT_TOKEN = "sim-hubspot-token"
DEFAULT_OAUTH = OAuthClient("sim-client-id", "sim-client-secret", "sim-refresh-token")


class HubSpotSimulator:
    """A running simulated portal: records, schema, tokens, limits, and the switches tests flip.

    Invariants: a batch applies atomically under one lock (concurrent batches never interleave inside a batch); a
    request refused with 401 or 429 changes nothing; `write_calls` counts the batch write requests that reached an
    endpoint (whatever their outcome), never refused ones.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        clock: Clock = SYSTEM_CLOCK,
        tier: Tier = "free",
        per_window: int | None = None,
        daily: int | None = None,
        token: str = DEFAULT_TOKEN,
        oauth: OAuthClient = DEFAULT_OAUTH,
        token_lifetime: int = 1800,
    ) -> None:
        window_default, daily_default = TIER_LIMITS[tier]
        self.clock = clock
        self.token = token
        self.oauth = oauth
        self.schema = Schema()
        self.crm = CrmApi(self.schema, clock)
        self.associations = AssociationApi(self.crm)
        self.crm.on_archive = self.associations.drop_record
        self.limits = RateLimiter(clock, per_window=per_window or window_default, daily=daily or daily_default)
        self.tokens = TokenRegistry(clock, token_lifetime=token_lifetime)
        self.tokens.add_private_app_token(token)
        self.tokens.add_oauth_client(oauth)
        self._storm_lock = threading.Lock()
        self._storm: list[tuple[str, int | None]] = []
        # Recorded before the answer is sent (the server's own log records after), so a test that has its answer
        # always finds the request here.
        self.answered = RequestLog()
        # The simulator clock's time of every CRM request the rate limits admitted (a test checks the window on
        # the same clock the limits run on, a FakeClock included).
        self.admitted: list[float] = []
        router = Router()
        router.add("POST", r"/oauth/v1/token", self._recorded(self._grant))
        router.add("GET", r"/oauth/v1/access-tokens/(?P<token>[^/]+)", self._recorded(self._token_info))
        for method, pattern, handler in [*self.crm.routes(), *self.associations.routes()]:
            guarded = self._guarded(handler, search=pattern.endswith("/search"))
            router.add(method, pattern, self._recorded(guarded))
        self.server = SimulatorServer(router, port=port)

    # -- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def log(self) -> RequestLog:
        """Every request answered by the server, including injected faults (recorded after the answer is sent)."""
        return self.server.log

    @property
    def faults(self) -> Faults:
        return self.server.faults

    def start(self) -> HubSpotSimulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> HubSpotSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- switches -------------------------------------------------------------------------------------------------

    def storm(self, requests: int, *, retry_after: int | None = None, policy: str = "TEN_SECONDLY_ROLLING") -> None:
        """Answer the next `requests` CRM requests with HubSpot's 429 for `policy` (and `Retry-After` when given)."""
        with self._storm_lock:
            self._storm.extend([(policy, retry_after)] * requests)

    def expire_tokens(self) -> None:
        """Every token issued so far is expired now (401 EXPIRED_AUTHENTICATION); OAuth clients can refresh."""
        self.tokens.expire_all()

    def reject_values(self, property_name: str, values: Iterable[str]) -> None:
        """Refuse these values of a property as invalid data (INVALID_EMAIL for `email`, else INVALID_OPTION)."""
        normalized = {v.strip().lower() if property_name == "email" else v for v in values}
        with self.crm.lock:
            self.crm.rejected_values.setdefault(property_name, set()).update(normalized)

    def refuse_whole_batches(self, refuse: bool = True) -> None:
        """Answer any batch holding an invalid input with one 400 for the whole batch (nothing is written)."""
        self.crm.refuse_whole_batches = refuse

    def define_object(self, type_id: str, name: str, properties: list[PropertyDef]) -> ObjectType:
        """Add a custom object type (`2-1234`)."""
        with self.crm.lock:
            return self.schema.define_custom(type_id, name, properties)

    def add_property(self, object_type: str, definition: PropertyDef) -> None:
        with self.crm.lock:
            resolved = self.schema.resolve(object_type)
            if resolved is None:
                raise KeyError(object_type)
            resolved.properties[definition.name] = definition

    # -- inspection -----------------------------------------------------------------------------------------------

    def records(self, object_type: str) -> list[dict[str, Any]]:
        """Every live record of a type: `{"id": ..., **properties}`, in id order."""
        resolved = self.schema.resolve(object_type)
        if resolved is None:
            raise KeyError(object_type)
        with self.crm.lock:
            return [{"id": r.id, **r.properties} for r in self.crm.store(resolved).search([])]

    @property
    def write_calls(self) -> int:
        return self.crm.write_calls

    @property
    def association_calls(self) -> int:
        """v4 association batch requests that reached an endpoint (create, default, archive, read)."""
        return self.associations.calls

    def linked(self, from_type: str, from_id: str, to_type: str) -> dict[str, set[int]]:
        """Ids of `to_type` records associated with one record -> the association type ids of each link."""
        return self.associations.linked(from_type, from_id, to_type)

    # -- the guard in front of every CRM endpoint -----------------------------------------------------------------

    def _take_storm(self) -> tuple[str, int | None] | None:
        with self._storm_lock:
            return self._storm.pop(0) if self._storm else None

    def _recorded(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def recorded(request: Request) -> Response:
            response = handler(request)
            self.answered.append(
                LoggedCall(request.method, request.path, response.status, request.body, request.received_at)
            )
            return response

        return recorded

    def _guarded(self, handler: Callable[[Request], Response], *, search: bool) -> Callable[[Request], Response]:
        def guarded(request: Request) -> Response:
            forced = self._take_storm()
            if forced is not None:
                policy, retry_after = forced
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                body = {
                    "status": "error",
                    "message": "You have reached your ten_secondly_rolling limit."
                    if policy == "TEN_SECONDLY_ROLLING"
                    else "You have reached your daily limit.",
                    "errorType": "RATE_LIMIT",
                    "policyName": policy,
                }
                return Response(429, body, headers)
            refused = self.tokens.authenticate(request.header("authorization"))
            if refused is not None:
                return Response(401, refused)
            verdict = self.limits.admit(search=search)
            if verdict.policy is not None:
                return Response(429, verdict.body(), verdict.headers)
            with self._storm_lock:
                self.admitted.append(self.clock.monotonic())
            response = handler(request)
            response.headers.update(verdict.headers)
            return response

        return guarded

    def _grant(self, request: Request) -> Response:
        status, body = self.tokens.grant(request.form())
        return Response(status, body)

    def _token_info(self, request: Request) -> Response:
        if self.tokens.authenticate(f"Bearer {request.params['token']}") is not None:
            return Response(404, {"status": "error", "message": "Token not found", "category": "OBJECT_NOT_FOUND"})
        return Response(
            200,
            {
                "token": request.params["token"],
                "hub_id": 1234567,
                "app_id": 1,
                "expires_in": 1800,
                "token_type": "access",
                "scopes": ["crm.objects.contacts.write"],
            },
        )


def serve(port: int) -> None:
    """Run a simulated portal on 127.0.0.1:`port` until interrupted (for `activate simulate hubspot`)."""
    simulator = HubSpotSimulator(port=port)
    print(f"HubSpot simulator on {simulator.url}  access_token: {simulator.token}", flush=True)
    try:
        simulator.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.server.stop()
