"""The one module that imports `hubspot` (hubspot-api-client): builds the SDK's API objects once and sends exactly
one request per method call, turning every non-2xx answer into an `activate.http.errors` type.

Why the answers are read raw (`_preload_content=False`) instead of through the SDK's generated models: the models
drop fields they do not declare (HubSpot's 207 errors carry `context.objectWriteTraceId`, which is how a row's
error is found) and their client-side checks break on harmless shape drift; the SDK still builds, authenticates
and sends every request. The SDK's urllib3 retry is switched off (`retry=False`): retrying is the toolkit's job,
and a silent urllib3 retry of a POST could write a batch twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from activate.clock import Clock
from activate.destinations.hubspot.classify import classify_hubspot, parse_body, quota_figures
from activate.destinations.hubspot.config import HubSpotConnection
from activate.http.errors import AuthFailed, TerminalError, WriterError

# Refresh an OAuth token this long before HubSpot says it expires, so no request races its expiry.
_EXPIRY_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class Reply:
    """A 2xx answer: status, parsed JSON body (None for 204) and headers."""

    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class BatchInput:
    """One input of a batch write: `id` (record id or idProperty value) for update/upsert/archive, `trace` the
    `objectWriteTraceId` HubSpot echoes back, `properties` already rendered as strings."""

    properties: Mapping[str, str] | None = None
    id: str | None = None
    trace: str | None = None


class HubSpotApi:
    """SDK clients for one connection, shared by every thread of a writer.

    Thread-safety: the SDK's ApiClient and urllib3 pool are safe to share; the access token is swapped under a
    lock, and a refresh is skipped when another thread already replaced the token that failed.
    """

    def __init__(
        self,
        connection: HubSpotConnection,
        *,
        clock: Clock,
        pool_size: int,
        on_quota: Callable[[int | None, int | None], None] | None = None,
        on_token_request: Callable[[], None] | None = None,
    ) -> None:
        from hubspot import HubSpot
        from hubspot.crm.associations.v4 import exceptions as associations_exceptions
        from hubspot.crm.objects import exceptions as objects_exceptions
        from hubspot.crm.properties import exceptions as properties_exceptions
        from hubspot.oauth import exceptions as oauth_exceptions

        self._connection = connection
        self._clock = clock
        self._timeout = connection.timeout
        self._on_quota = on_quota
        self._on_token_request = on_token_request
        self._lock = threading.Lock()
        self._token = connection.access_token.get_secret_value() if connection.access_token else None
        self._expires_at: float | None = None
        self._api_exceptions: tuple[type[Exception], ...] = (
            objects_exceptions.ApiException,
            properties_exceptions.ApiException,
            associations_exceptions.ApiException,
            oauth_exceptions.ApiException,
        )
        sdk = HubSpot(
            access_token=self._token or "",
            retry=False,
            host=connection.base_url.rstrip("/"),
            connection_pool_maxsize=pool_size,
        )
        # Each discovery attribute builds a new ApiClient and connection pool: take each once.
        self._batch = sdk.crm.objects.batch_api
        self._search = sdk.crm.objects.search_api
        self._properties = sdk.crm.properties.core_api
        self._associations = sdk.crm.associations.v4.batch_api
        self._tokens = sdk.oauth.tokens_api

    # -- credentials ----------------------------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        with self._lock:
            return self._token

    def needs_token(self) -> bool:
        """No token yet (OAuth only), or the current one is about to expire."""
        with self._lock:
            if self._token is None:
                return True
            return self._expires_at is not None and self._clock.monotonic() >= self._expires_at

    def use_token(self, token: str) -> None:
        """Send every later request with `token` (a private-app token re-read from its secret provider)."""
        with self._lock:
            self._token = token
            for api in (self._batch, self._search, self._properties, self._associations):
                api.api_client.configuration.access_token = token

    def refresh(self, stale: str | None) -> None:
        """Exchange the refresh token for a new access token, unless another thread already replaced `stale`."""
        connection = self._connection
        client_id, secret, refresh = connection.client_id, connection.client_secret, connection.refresh_token
        if not (client_id and secret and refresh):
            raise AuthFailed("HubSpot refused the access token and the connection has no OAuth refresh_token")
        client_secret, refresh_token = secret.get_secret_value(), refresh.get_secret_value()
        with self._lock:
            if self._token is not None and self._token != stale:
                return
            if self._on_token_request is not None:
                self._on_token_request()
            try:
                reply = self._send(
                    lambda: self._tokens.create_with_http_info(
                        grant_type="refresh_token",
                        client_id=client_id,
                        client_secret=client_secret,
                        refresh_token=refresh_token,
                        _preload_content=False,
                        _request_timeout=self._timeout,
                    )
                )
            except AuthFailed:
                raise
            except TerminalError as exc:
                raise AuthFailed(f"HubSpot refused the OAuth refresh: {exc.message}", status=exc.status) from exc
            body = reply.body if isinstance(reply.body, Mapping) else {}
            token = body.get("access_token")
            if not token:
                raise AuthFailed("HubSpot's OAuth token endpoint answered without an access_token")
            self._token = str(token)
            expires_in = body.get("expires_in")
            self._expires_at = (
                self._clock.monotonic() + float(expires_in) - _EXPIRY_MARGIN_SECONDS if expires_in else None
            )
            for api in (self._batch, self._search, self._properties, self._associations):
                api.api_client.configuration.access_token = self._token

    # -- requests: each method sends exactly one --------------------------------------------------------------------

    def batch(self, kind: str, object_type: str, inputs: Sequence[BatchInput], id_property: str | None) -> Reply:
        """`POST /crm/v3/objects/{object_type}/batch/{kind}` (kind: upsert, create, update, archive)."""
        from hubspot.crm import objects as m

        if kind == "upsert":
            payload: Any = m.BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    m.SimplePublicObjectBatchInputUpsert(
                        id=i.id,
                        id_property=id_property,
                        object_write_trace_id=i.trace,
                        properties=dict(i.properties or {}),
                    )
                    for i in inputs
                ]
            )
            call = self._batch.upsert_with_http_info
        elif kind == "update":
            payload = m.BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    m.SimplePublicObjectBatchInput(
                        id=i.id,
                        id_property=id_property,
                        object_write_trace_id=i.trace,
                        properties=dict(i.properties or {}),
                    )
                    for i in inputs
                ]
            )
            call = self._batch.update_with_http_info
        elif kind == "create":
            payload = m.BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    m.SimplePublicObjectBatchInputForCreate(
                        associations=[], object_write_trace_id=i.trace, properties=dict(i.properties or {})
                    )
                    for i in inputs
                ]
            )
            call = self._batch.create_with_http_info
        elif kind == "archive":
            payload = m.BatchInputSimplePublicObjectId(inputs=[m.SimplePublicObjectId(id=i.id) for i in inputs])
            call = self._batch.archive_with_http_info
        else:
            raise ValueError(f"unknown batch operation {kind!r}")
        return self._send(lambda: call(object_type, payload, _preload_content=False, _request_timeout=self._timeout))

    def search_in(self, object_type: str, property_name: str, values: Sequence[str], after: str | None) -> Reply:
        """`POST /crm/v3/objects/{object_type}/search` for records whose `property_name` is one of `values`."""
        from hubspot.crm import objects as m

        request = m.PublicObjectSearchRequest(
            filter_groups=[
                m.FilterGroup(filters=[m.Filter(property_name=property_name, operator="IN", values=list(values))])
            ],
            properties=[property_name],
            limit=100,
            after=after,
            sorts=["hs_object_id"],
        )
        return self._send(
            lambda: self._search.do_search_with_http_info(
                object_type, request, _preload_content=False, _request_timeout=self._timeout
            )
        )

    def associations(
        self,
        kind: str,
        from_type: str,
        to_type: str,
        pairs: Sequence[tuple[str, Sequence[str]]],
        association_type: tuple[str, int] | None = None,
    ) -> Reply:
        """`POST /crm/v4/associations/{from_type}/{to_type}/batch/{kind}`: `create` (with `association_type`,
        (category, type id)), `associate/default`, or `archive`. `pairs` are (from id, to ids); create and default
        take one to id per pair."""
        from hubspot.crm.associations import v4 as m

        api = self._associations
        if kind == "archive":
            payload: Any = m.BatchInputPublicAssociationMultiArchive(
                inputs=[
                    m.PublicAssociationMultiArchive(
                        _from=m.PublicObjectId(id=from_id), to=[m.PublicObjectId(id=t) for t in to_ids]
                    )
                    for from_id, to_ids in pairs
                ]
            )
            call = api.archive_with_http_info
        elif kind == "create" and association_type is not None:
            category, type_id = association_type
            spec = m.AssociationSpec(association_category=category, association_type_id=type_id)
            payload = m.BatchInputPublicAssociationMultiPost(
                inputs=[
                    m.PublicAssociationMultiPost(_from=m.PublicObjectId(id=f), to=m.PublicObjectId(id=t), types=[spec])
                    for f, to_ids in pairs
                    for t in to_ids
                ]
            )
            call = api.create_with_http_info
        elif kind == "associate/default":
            payload = m.BatchInputPublicDefaultAssociationMultiPost(
                inputs=[
                    m.PublicDefaultAssociationMultiPost(_from=m.PublicObjectId(id=f), to=m.PublicObjectId(id=t))
                    for f, to_ids in pairs
                    for t in to_ids
                ]
            )
            call = api.create_default_with_http_info
        else:
            raise ValueError(f"unknown association batch operation {kind!r}")
        return self._send(
            lambda: call(from_type, to_type, payload, _preload_content=False, _request_timeout=self._timeout)
        )

    def properties(self, object_type: str) -> Reply:
        """`GET /crm/v3/properties/{object_type}`."""
        return self._send(
            lambda: self._properties.get_all_with_http_info(
                object_type, _preload_content=False, _request_timeout=self._timeout
            )
        )

    def _send(self, request: Callable[[], Any]) -> Reply:
        try:
            raw = request()
        except self._api_exceptions as exc:
            status = int(getattr(exc, "status", 0) or 0)
            headers = getattr(exc, "headers", None)
            self._observe(headers)
            raise self._error(status, headers, getattr(exc, "body", None)) from exc
        headers = dict(raw.headers.items())
        data = raw.data
        raw.release_conn()
        self._observe(headers)
        return Reply(int(raw.status), parse_body(data), headers)

    def _error(self, status: int, headers: Mapping[str, str] | None, body: Any) -> WriterError:
        if status == 0:
            # The SDK reports TLS failures as ApiException(status=0): a certificate problem, not an outage.
            return TerminalError(f"TLS error talking to {self._connection.base_url}: {body}", code="TLS_ERROR")
        return classify_hubspot(status, headers, body, now=self._clock.now())

    def _observe(self, headers: Mapping[str, str] | None) -> None:
        if self._on_quota is None or not headers:
            return
        limit, remaining = quota_figures(headers)
        if limit is not None or remaining is not None:
            self._on_quota(limit, remaining)
