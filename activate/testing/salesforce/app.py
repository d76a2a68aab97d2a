"""A local Salesforce over HTTPS: the REST endpoints a writer uses, Bulk API 2.0 ingest, and the login flows.

Served by `activate.testing.server.SimulatorServer` with a trustme certificate, because simple-salesforce only
builds `https://` URLs: a client trusts the simulator by pointing its `requests.Session.verify` at `ca_bundle`.

Endpoints (`{v}` is any API version, e.g. `62.0`):

    POST   /services/oauth2/token                              jwt-bearer | client_credentials | password
    POST   /services/Soap/u/{v}                                SOAP login (password + security token)
    GET    /services/data/v{v}/sobjects[/{SObject}/describe]   describe
    GET    /services/data/v{v}/limits                          DailyApiRequests
    GET    /services/data/v{v}/query?q=SELECT ...              SOQL (filter by one field: `=` or `IN (...)`)
    PATCH  /services/data/v{v}/composite/sobjects/{SObject}/{ExtField}   collections upsert (<= 200)
    POST   /services/data/v{v}/composite/sobjects              collections create
    PATCH  /services/data/v{v}/composite/sobjects              collections update (by Id)
    DELETE /services/data/v{v}/composite/sobjects?ids=...      collections delete
    POST   /services/data/v{v}/sobjects/{SObject}              create one
    GET|PATCH|DELETE /services/data/v{v}/sobjects/{SObject}/{Id}
    PATCH  /services/data/v{v}/sobjects/{SObject}/{ExtField}/{value}    upsert one
    POST   /services/data/v{v}/jobs/ingest, GET|PATCH|DELETE .../jobs/ingest/{id}, PUT .../{id}/batches,
    GET    .../jobs/ingest/{id}/successfulResults | failedResults | unprocessedrecords

Every data request needs a live session (else 401 `INVALID_SESSION_ID`), spends one request of the org's daily
allocation (when spent: 403 `REQUEST_LIMIT_EXCEEDED`) and answers with `Sforce-Limit-Info: api-usage=N/M`.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from activate.testing.salesforce.bulk import BulkIngest, BulkRequestError
from activate.testing.salesforce.identity import (
    ConnectedApp,
    Identity,
    LoginRefused,
    OrgUser,
    soap_fault,
    soap_login_response,
    token_response,
)
from activate.testing.salesforce.org import QueryError, RecordError, SalesforceOrg
from activate.testing.salesforce.schema import OrgLimits
from activate.testing.server import Handler, Request, Response, Router, SimulatorServer, issue_certificate

USERNAME = "integration@activate.test"
PASSWORD = "s3cret-Passw0rd"
SECURITY_TOKEN = "TOKEN0123456789"
CONSUMER_KEY = "3MVG9activate.simulator.consumer.key"
CONSUMER_SECRET = "activate-simulator-consumer-secret"
MAX_COLLECTION = 200

_DATA = r"/services/data/v(?P<v>\d+\.\d+)"


MAX_URI_BYTES = 16_384  # a longer request URI answers 414; URI and headers over it together answer 431
COLLECTIONS_SINCE = 42.0
COLLECTIONS_UPSERT_SINCE = 46.0


def _too_long(request: Request) -> Response | None:
    """Salesforce's request-size limits (help article 000386264), checked on the bytes as sent."""
    uri = len(request.target.encode())
    if uri > MAX_URI_BYTES:
        return Response(414, "URI Too Long", content_type="text/plain")
    headers = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
    if uri + headers > MAX_URI_BYTES:
        return Response(431, "Request Header Fields Too Large", content_type="text/plain")
    return None


def _errors(status: int, code: str, message: str) -> Response:
    return Response(status, [{"message": message, "errorCode": code}])


class SalesforceSimulator:
    """One simulated org behind an HTTPS server. Start with `start()` (background thread) or use as a context
    manager; `serve_forever()` blocks (for `activate simulate salesforce`).

    Knobs a test turns: `org.lock_rate` (UNABLE_TO_LOCK_ROW share), `org.validation_rules`, `org.duplicate_rules`,
    `limits.daily_requests` / `limits.used`, `identity.expire_after(n)` / `expire_all()`, `bulk.fail_next_jobs`,
    `bulk.polls_to_complete`, and the shared `faults` (latency, 5xx rate, 429 storm, dropped connections).
    """

    def __init__(
        self,
        cert_dir: Path,
        *,
        port: int = 0,
        daily_requests: int = 100_000,
        org: SalesforceOrg | None = None,
    ) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        cert_dir.mkdir(parents=True, exist_ok=True)
        certificate = issue_certificate(cert_dir)
        self.ca_bundle = certificate.ca_bundle
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_path = cert_dir / "jwt-private-key.pem"
        self.private_key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.org = org or SalesforceOrg()
        self.limits = OrgLimits(daily_requests=daily_requests)
        self.identity = Identity(
            users={USERNAME: OrgUser(USERNAME, PASSWORD, SECURITY_TOKEN)},
            apps={CONSUMER_KEY: ConnectedApp(CONSUMER_KEY, CONSUMER_SECRET, public_pem)},
        )
        self.bulk = BulkIngest(self.org)
        self._writes = 0
        self._writes_lock = threading.Lock()
        self.server = SimulatorServer(self._router(), port=port, tls=certificate.server_context)
        self.identity.audiences.add(self.url)
        self.faults = self.server.faults
        self.log = self.server.log

    # ----- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    def start(self) -> SalesforceSimulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def __enter__(self) -> SalesforceSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- test helpers ------------------------------------------------------------------------------------------

    def issue_session(self) -> str:
        """A session id as a user would copy it from Setup (for the `session` auth method)."""
        return self.identity.issue("manual")

    @property
    def write_calls(self) -> int:
        with self._writes_lock:
            return self._writes

    def api_calls(self) -> int:
        """Requests that reached the data API (logins excluded)."""
        return len([c for c in self.log.calls() if c.path.startswith("/services/data/")])

    # ----- routing -----------------------------------------------------------------------------------------------

    def _router(self) -> Router:
        router = Router()
        router.add("POST", r"/services/oauth2/token", self._token)
        router.add("POST", r"/services/Soap/u/(?P<v>\d+\.\d+)", self._soap_login)
        api = self._api
        router.add("GET", _DATA + r"/sobjects", api(self._describe_global))
        router.add("GET", _DATA + r"/sobjects/(?P<sobject>\w+)/describe", api(self._describe))
        router.add("GET", _DATA + r"/limits", api(self._limits))
        router.add("GET", _DATA + r"/query", api(self._query))
        router.add("PATCH", _DATA + r"/composite/sobjects/(?P<sobject>\w+)/(?P<field>\w+)", api(self._c_upsert, True))
        router.add("POST", _DATA + r"/composite/sobjects", api(self._c_create, True))
        router.add("PATCH", _DATA + r"/composite/sobjects", api(self._c_update, True))
        router.add("DELETE", _DATA + r"/composite/sobjects", api(self._c_delete, True))
        router.add("POST", _DATA + r"/sobjects/(?P<sobject>\w+)", api(self._create_one, True))
        router.add(
            "PATCH", _DATA + r"/sobjects/(?P<sobject>\w+)/(?P<field>\w+)/(?P<value>[^/]+)", api(self._upsert_one, True)
        )
        router.add("GET", _DATA + r"/sobjects/(?P<sobject>\w+)/(?P<id>\w+)", api(self._get_one))
        router.add("PATCH", _DATA + r"/sobjects/(?P<sobject>\w+)/(?P<id>\w+)", api(self._update_one, True))
        router.add("DELETE", _DATA + r"/sobjects/(?P<sobject>\w+)/(?P<id>\w+)", api(self._delete_one, True))
        router.add("POST", _DATA + r"/jobs/ingest", api(self._job_create))
        router.add("PUT", _DATA + r"/jobs/ingest/(?P<job>\w+)/batches", api(self._job_upload, True))
        router.add(
            "GET",
            _DATA + r"/jobs/ingest/(?P<job>\w+)/(?P<kind>successfulResults|failedResults|unprocessed[rR]ecords)",
            api(self._job_results),
        )
        router.add("GET", _DATA + r"/jobs/ingest/(?P<job>\w+)", api(self._job_info))
        router.add("PATCH", _DATA + r"/jobs/ingest/(?P<job>\w+)", api(self._job_state))
        router.add("DELETE", _DATA + r"/jobs/ingest/(?P<job>\w+)", api(self._job_delete))
        return router

    def _api(self, handler: Handler, write: bool = False) -> Handler:
        def guarded(request: Request) -> Response:
            refused = _too_long(request)
            if refused is not None:
                return refused
            if not self.identity.authorize(request.header("authorization")):
                return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if not self.limits.spend():
                response = _errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            else:
                if write:
                    with self._writes_lock:
                        self._writes += 1
                try:
                    response = handler(request)
                except BulkRequestError as exc:
                    response = _errors(exc.status, exc.code, exc.message)
                except (ValueError, TypeError) as exc:
                    response = _errors(400, "JSON_PARSER_ERROR", f"The request body is malformed: {exc}")
            response.headers["Sforce-Limit-Info"] = self.limits.header()
            return response

        return guarded

    # ----- identity ----------------------------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        try:
            token = self.identity.token(request.form(), request.header("authorization"))
        except LoginRefused as exc:
            return Response(400, {"error": exc.error, "error_description": exc.description})
        return Response(200, token_response(token, self.url))

    def _soap_login(self, request: Request) -> Response:
        try:
            token = self.identity.soap_login(request.body)
        except LoginRefused as exc:
            return Response(500, soap_fault(exc.error, exc.description), content_type="text/xml")
        return Response(200, soap_login_response(token, self.url, request.params["v"]), content_type="text/xml")

    # ----- metadata and queries ----------------------------------------------------------------------------------

    def _describe_global(self, request: Request) -> Response:
        sobjects = [{k: v for k, v in s.describe().items() if k != "fields"} for s in self.org.objects.values()]
        return Response(200, {"encoding": "UTF-8", "maxBatchSize": MAX_COLLECTION, "sobjects": sobjects})

    def _describe(self, request: Request) -> Response:
        schema = self.org.schema(request.params["sobject"])
        if schema is None:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(200, schema.describe())

    def _limits(self, request: Request) -> Response:
        used, limit = self.limits.used, self.limits.daily_requests
        return Response(200, {"DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)}})

    def _query(self, request: Request) -> Response:
        soql = request.arg("q") or ""
        try:
            sobject, rows = self.org.query(soql)
        except QueryError as exc:
            return _errors(400, "MALFORMED_QUERY", str(exc))
        version = request.params["v"]
        records = [
            {"attributes": {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{r.get('Id')}"}, **r}
            for r in rows
        ]
        return Response(200, {"totalSize": len(records), "done": True, "records": records})

    # ----- sObject Collections -----------------------------------------------------------------------------------

    def _collection(self, request: Request, sobject: str | None) -> tuple[list[dict[str, Any]], bool] | Response:
        # sObject Collections exist from API 42.0 on, their upsert (by External ID) from 46.0 on: an older version
        # has no such resource
        since = COLLECTIONS_UPSERT_SINCE if request.params.get("field") else COLLECTIONS_SINCE
        if float(request.params["v"]) < since:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            return _errors(400, "JSON_PARSER_ERROR", 'expected {"allOrNone": ..., "records": [...]}')
        records = body["records"]
        if len(records) > MAX_COLLECTION:
            return _errors(
                400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
            )
        for record in records:
            kind = (record.get("attributes") or {}).get("type") if isinstance(record, dict) else None
            if not kind:
                return _errors(400, "INVALID_TYPE", "sObject type must be specified in attributes")
            schema = self.org.schema(kind)
            if schema is None or (sobject is not None and kind != sobject):
                return _errors(400, "INVALID_TYPE", f"sObject type '{kind}' is not supported.")
            for name, value in record.items():
                # Salesforce deserializes the whole body first: an object where a field takes a scalar refuses
                # the entire request, not just that record.
                if name != "attributes" and name in schema.fields and isinstance(value, dict | list):
                    return _errors(
                        400,
                        "JSON_PARSER_ERROR",
                        f"Cannot deserialize instance of {schema.fields[name].type} from "
                        f"{'START_OBJECT' if isinstance(value, dict) else 'START_ARRAY'} value at [{name}]",
                    )
        return records, bool(body.get("allOrNone", False))

    def _run_collection(
        self,
        records: list[dict[str, Any]],
        all_or_none: bool,
        write: Callable[[str, dict[str, Any]], Any],
        *,
        with_created: bool,
        duplicates: set[str] | None = None,
        external: str | None = None,
    ) -> Response:
        with self.org.lock:
            snapshot = self.org.snapshot() if all_or_none else None
            results = []
            for record in records:
                values = {k: v for k, v in record.items() if k != "attributes"}
                if duplicates and external and str(values.get(external)) in duplicates:
                    error = RecordError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {values[external]}")
                    results.append({"id": None, "success": False, "errors": [error.as_json()]})
                    continue
                outcome = write(record["attributes"]["type"], values)
                results.append(outcome.as_json(with_created=with_created))
            if snapshot is not None and not all(r["success"] for r in results):
                self.org.restore(snapshot)
                rolled_back = RecordError(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were valid"
                )
                results = [
                    r if not r["success"] else {"id": None, "success": False, "errors": [rolled_back.as_json()]}
                    for r in results
                ]
        return Response(200, results)

    def _c_upsert(self, request: Request) -> Response:
        sobject, external = request.params["sobject"], request.params["field"]
        schema = self.org.schema(sobject)
        if schema is None:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        if external not in schema.external_id_fields():
            return _errors(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {external}"
            )
        parsed = self._collection(request, sobject)
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed
        duplicates = self.org.duplicate_external_ids(external, records)
        return self._run_collection(
            records,
            all_or_none,
            lambda kind, values: self.org.upsert(kind, external, values),
            with_created=True,
            duplicates=duplicates,
            external=external,
        )

    def _c_create(self, request: Request) -> Response:
        parsed = self._collection(request, None)
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed
        for record in records:
            if record.get("Id"):
                return _errors(400, "INVALID_FIELD", "Records with an Id cannot be created: use update")
        return self._run_collection(records, all_or_none, self.org.create, with_created=False)

    def _c_update(self, request: Request) -> Response:
        parsed = self._collection(request, None)
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed
        return self._run_collection(records, all_or_none, self.org.update, with_created=False)

    def _c_delete(self, request: Request) -> Response:
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if not ids:
            return _errors(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_COLLECTION:
            return _errors(
                400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
            )
        all_or_none = (request.arg("allOrNone") or "false").lower() == "true"
        with self.org.lock:
            snapshot = self.org.snapshot() if all_or_none else None
            results = [self.org.delete(record_id).as_json(with_created=False) for record_id in ids]
            if snapshot is not None and not all(r["success"] for r in results):
                self.org.restore(snapshot)
        return Response(200, results)

    # ----- single records ----------------------------------------------------------------------------------------

    def _single(self, outcome: Any, ok_status: int) -> Response:
        if outcome.error is not None:
            return Response(
                400,
                [
                    {
                        "errorCode": outcome.error.code,
                        "message": outcome.error.message,
                        "fields": list(outcome.error.fields),
                    }
                ],
            )
        return Response(ok_status, {"id": outcome.id, "success": True, "errors": [], "created": outcome.created})

    def _create_one(self, request: Request) -> Response:
        sobject = request.params["sobject"]
        if self.org.schema(sobject) is None:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        outcome = self.org.create(sobject, dict(request.json() or {}))
        return self._single(outcome, 201)

    def _upsert_one(self, request: Request) -> Response:
        sobject, external = request.params["sobject"], request.params["field"]
        schema = self.org.schema(sobject)
        if schema is None or external not in schema.external_id_fields():
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        value = urllib.parse.unquote(request.params["value"])
        matches = self.org.find(sobject, external, value)
        if len(matches) > 1:
            return Response(
                300, [f"/services/data/v{request.params['v']}/sobjects/{sobject}/{m['Id']}" for m in matches]
            )
        values = {**dict(request.json() or {}), external: value}
        outcome = self.org.upsert(sobject, external, values)
        return self._single(outcome, 201 if outcome.created else 200)

    def _get_one(self, request: Request) -> Response:
        record = self.org.get(request.params["sobject"], request.params["id"])
        if record is None:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(200, {"attributes": {"type": request.params["sobject"]}, **record})

    def _update_one(self, request: Request) -> Response:
        values = {**dict(request.json() or {}), "Id": request.params["id"]}
        outcome = self.org.update(request.params["sobject"], values)
        if outcome.error is not None and outcome.error.code in {"ENTITY_IS_DELETED", "MALFORMED_ID"}:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(204) if outcome.error is None else self._single(outcome, 204)

    def _delete_one(self, request: Request) -> Response:
        outcome = self.org.delete(request.params["id"])
        if outcome.error is not None:
            return _errors(404, "ENTITY_IS_DELETED", "entity is deleted")
        return Response(204)

    # ----- Bulk API 2.0 ------------------------------------------------------------------------------------------

    def _job_create(self, request: Request) -> Response:
        return Response(200, self.bulk.create(dict(request.json() or {}), request.params["v"]).info())

    def _job_upload(self, request: Request) -> Response:
        self.bulk.upload(request.params["job"], request.body)
        return Response(201)

    def _job_state(self, request: Request) -> Response:
        state = str((request.json() or {}).get("state", ""))
        return Response(200, self.bulk.set_state(request.params["job"], state).info())

    def _job_info(self, request: Request) -> Response:
        return Response(200, self.bulk.poll(request.params["job"]))

    def _job_results(self, request: Request) -> Response:
        text = self.bulk.results(request.params["job"], request.params["kind"])
        return Response(200, text, content_type="text/csv")

    def _job_delete(self, request: Request) -> Response:
        job = self.bulk.job(request.params["job"])
        self.bulk.jobs.pop(job.id, None)
        return Response(204)


def serve(port: int, cert_dir: Path) -> None:
    """Run a simulator on `port` until interrupted (blocking); prints how to connect."""
    simulator = SalesforceSimulator(cert_dir, port=port)
    print(f"Salesforce simulator on {simulator.url}")
    print(f"  ca_bundle: {simulator.ca_bundle}")
    print(f"  jwt: username={USERNAME} consumer_key={CONSUMER_KEY} private_key_path={simulator.private_key_path}")
    print(f"  client_credentials: consumer_key={CONSUMER_KEY} consumer_secret={CONSUMER_SECRET}")
    print(f"  password: username={USERNAME} password={PASSWORD} security_token={SECURITY_TOKEN}")
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.server.stop()
