"""The CRM v3 endpoints of the simulator: batch upsert/create/update/read/archive, search, single reads, properties.

Response shapes follow HubSpot's public API (and parse with `hubspot-api-client`'s models):

- batch writes answer 200 (201 for create) `{"status": "COMPLETE", "results": [...], "startedAt", "completedAt"}`
  or 207 with `numErrors` and `errors[]`, each error a StandardError: `status`, `category`, `message`,
  `context` (`ids` with the inputs' ids, `objectWriteTraceId` with their trace ids), `errors[]` of
  `{message, code, context: {propertyName: [...]}}` and `links`;
- results carry the input's `objectWriteTraceId`, and upserts say whether the record is `new`;
- a request HubSpot refuses as a whole answers 400 `{"status": "error", "category": "VALIDATION_ERROR", ...}`: more
  than 100 inputs, duplicate ids, a non-unique `idProperty`, an unknown object type, or invalid property values in
  inputs that cannot be told apart (no `objectWriteTraceId` or id) or while `refuse_whole_batches` is on.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from activate.clock import Clock
from activate.testing.hubspot.schema import (
    VALUE_TOO_LONG,
    ObjectType,
    PropertyDef,
    PropertyProblem,
    Schema,
    validate_properties,
)
from activate.testing.hubspot.store import Conflict, Record, RecordStore
from activate.testing.server import Request, Response

MAX_BATCH_INPUTS = 100
MAX_SEARCH_LIMIT = 200
OBJECTS = r"/crm/v3/objects/(?P<type>[^/]+)"


def error(status: int, category: str, message: str, **extra: Any) -> Response:
    """HubSpot's error envelope."""
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}
    return Response(status, body)


class CrmApi:
    """Handlers over one Schema and its records. Every handler holds `lock`, so batches apply atomically."""

    def __init__(self, schema: Schema, clock: Clock) -> None:
        self.schema = schema
        self.clock = clock
        self.lock = threading.RLock()
        self._stores: dict[str, RecordStore] = {}
        self.rejected_values: dict[str, set[str]] = {}
        self.refuse_whole_batches = False
        self.write_calls = 0
        # Called under `lock` for each archived record (the association store drops its links).
        self.on_archive: Callable[[ObjectType, str], None] | None = None

    def store(self, object_type: ObjectType) -> RecordStore:
        with self.lock:
            if object_type.type_id not in self._stores:
                self._stores[object_type.type_id] = RecordStore(object_type)
            return self._stores[object_type.type_id]

    def routes(self) -> list[tuple[str, str, Callable[[Request], Response]]]:
        return [
            ("POST", OBJECTS + r"/batch/upsert", lambda r: self._batch_write(r, "upsert")),
            ("POST", OBJECTS + r"/batch/create", lambda r: self._batch_write(r, "create")),
            ("POST", OBJECTS + r"/batch/update", lambda r: self._batch_write(r, "update")),
            ("POST", OBJECTS + r"/batch/read", self._batch_read),
            ("POST", OBJECTS + r"/batch/archive", self._batch_archive),
            ("POST", OBJECTS + r"/search", self._search),
            ("GET", OBJECTS + r"/(?P<id>[^/]+)", self._get_one),
            ("GET", OBJECTS, self._list),
            ("GET", r"/crm/v3/properties/(?P<type>[^/]+)", self._properties),
            ("POST", r"/crm/v3/properties/(?P<type>[^/]+)", self._create_property),
        ]

    # -- helpers --------------------------------------------------------------------------------------------------

    def _object_type(self, request: Request) -> ObjectType | Response:
        object_type = self.schema.resolve(request.params["type"])
        if object_type is None:
            return error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {request.params['type']}")
        return object_type

    def _inputs(self, request: Request) -> list[dict[str, Any]] | Response:
        try:
            body = request.json()
        except ValueError:
            return error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            return error(400, "VALIDATION_ERROR", "Invalid input JSON: 'inputs' must be a list of objects")
        if len(inputs) > MAX_BATCH_INPUTS:
            return error(
                400,
                "VALIDATION_ERROR",
                f"Batch input size must be at most {MAX_BATCH_INPUTS}, got {len(inputs)}",
                context={"size": [str(len(inputs))]},
            )
        return inputs

    def _now(self) -> datetime:
        return self.clock.now()

    def batch_response(self, ok_status: int, started: datetime, results: list[Any], errors: list[Any]) -> Response:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": _iso(started),
            "completedAt": _iso(self._now()),
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        return Response(207 if errors else ok_status, body)

    # -- batch writes ---------------------------------------------------------------------------------------------

    def _batch_write(self, request: Request, kind: str) -> Response:
        object_type = self._object_type(request)
        if isinstance(object_type, Response):
            return object_type
        inputs = self._inputs(request)
        if isinstance(inputs, Response):
            return inputs
        with self.lock:
            self.write_calls += 1
            return _BatchWrite(self, object_type, kind, inputs).run()

    def _batch_read(self, request: Request) -> Response:
        object_type = self._object_type(request)
        if isinstance(object_type, Response):
            return object_type
        inputs = self._inputs(request)
        if isinstance(inputs, Response):
            return inputs
        body = request.json()
        id_property = body.get("idProperty") or "hs_object_id"
        wanted = body.get("properties") or None
        started = self._now()
        with self.lock:
            store = self.store(object_type)
            results, missing = [], []
            for item in inputs:
                record = store.find(id_property, item.get("id"))
                if record is None:
                    missing.append(str(item.get("id")))
                else:
                    results.append(record.to_json(wanted))
        errors = [_not_found(object_type, missing)] if missing else []
        return self.batch_response(200, started, results, errors)

    def _batch_archive(self, request: Request) -> Response:
        object_type = self._object_type(request)
        if isinstance(object_type, Response):
            return object_type
        inputs = self._inputs(request)
        if isinstance(inputs, Response):
            return inputs
        with self.lock:
            self.write_calls += 1
            store = self.store(object_type)
            for item in inputs:
                # HubSpot answers 204 for ids that are already gone: archiving is idempotent.
                if store.archive(str(item.get("id"))) and self.on_archive is not None:
                    self.on_archive(object_type, str(item.get("id")))
        return Response(204)

    # -- reads ----------------------------------------------------------------------------------------------------

    def _search(self, request: Request) -> Response:
        object_type = self._object_type(request)
        if isinstance(object_type, Response):
            return object_type
        body = request.json() or {}
        limit = int(body.get("limit") or 10)
        if limit > MAX_SEARCH_LIMIT:
            return error(400, "VALIDATION_ERROR", f"limit must be at most {MAX_SEARCH_LIMIT}")
        after = int(body.get("after") or 0)
        try:
            with self.lock:
                matched = self.store(object_type).search(body.get("filterGroups") or [])
        except ValueError as exc:
            return error(400, "VALIDATION_ERROR", str(exc))
        page = matched[after : after + limit]
        wanted = body.get("properties") or None
        result: dict[str, Any] = {"total": len(matched), "results": [r.to_json(wanted) for r in page]}
        if after + limit < len(matched):
            result["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, result)

    def _get_one(self, request: Request) -> Response:
        object_type = self._object_type(request)
        if isinstance(object_type, Response):
            return object_type
        with self.lock:
            record = self.store(object_type).find(request.arg("idProperty") or "hs_object_id", request.params["id"])
        if record is None:
            return error(404, "OBJECT_NOT_FOUND", "resource not found")
        wanted = (request.arg("properties") or "").split(",") if request.arg("properties") else None
        return Response(200, record.to_json(wanted))

    def _list(self, request: Request) -> Response:
        object_type = self._object_type(request)
        if isinstance(object_type, Response):
            return object_type
        limit = min(int(request.arg("limit") or 10), 100)
        after = int(request.arg("after") or 0)
        with self.lock:
            records = self.store(object_type).search([])
        page = [r.to_json() for r in records[after : after + limit]]
        result: dict[str, Any] = {"results": page}
        if after + limit < len(records):
            result["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, result)

    def _properties(self, request: Request) -> Response:
        object_type = self._object_type(request)
        if isinstance(object_type, Response):
            return object_type
        group = f"{object_type.name.rstrip('s')}information"
        return Response(200, {"results": [p.to_json(group) for p in object_type.properties.values()]})

    def _create_property(self, request: Request) -> Response:
        object_type = self._object_type(request)
        if isinstance(object_type, Response):
            return object_type
        body = request.json() or {}
        name = body.get("name")
        if not name or not body.get("type") or not body.get("fieldType"):
            return error(400, "VALIDATION_ERROR", "name, type and fieldType are required")
        with self.lock:
            if name in object_type.properties:
                return error(409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists.")
            definition = PropertyDef(
                name, body["type"], body["fieldType"], body.get("label", ""), unique=bool(body.get("hasUniqueValue"))
            )
            object_type.properties[name] = definition
        return Response(201, definition.to_json(body.get("groupName", "")))


class _BatchWrite:
    """One batch upsert/create/update: validate every input, refuse the batch or apply the valid inputs."""

    def __init__(self, api: CrmApi, object_type: ObjectType, kind: str, inputs: list[dict[str, Any]]) -> None:
        self.api = api
        self.object_type = object_type
        self.kind = kind
        self.inputs = inputs
        self.store = api.store(object_type)
        self.started = api.clock.now()

    def run(self) -> Response:
        refused = self._refuse_request()
        if refused is not None:
            return refused
        problems = [self._validate(item) for item in self.inputs]
        failing = [(item, p) for item, p in zip(self.inputs, problems, strict=True) if p]
        anonymous = any(not item.get("objectWriteTraceId") and item.get("id") is None for item, _ in failing)
        too_long = any(p.code == VALUE_TOO_LONG for _, ps in failing for p in ps)
        if failing and (self.api.refuse_whole_batches or anonymous or too_long):
            return _refuse_values([p for _, ps in failing for p in ps])
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = [_invalid(item, ps) for item, ps in failing]
        missing: list[dict[str, Any]] = []
        for item, item_problems in zip(self.inputs, problems, strict=True):
            if not item_problems:
                self._apply(item, results, errors, missing)
        if missing:
            errors.append(_not_found(self.object_type, [str(i.get("id")) for i in missing], missing))
        return self.api.batch_response(201 if self.kind == "create" else 200, self.started, results, errors)

    def _refuse_request(self) -> Response | None:
        if self.kind == "create":
            return None
        id_properties = {item.get("idProperty") or "hs_object_id" for item in self.inputs}
        if self.kind == "upsert" and any(not item.get("idProperty") for item in self.inputs):
            return error(400, "VALIDATION_ERROR", "idProperty is required for batch upsert")
        for id_property in id_properties:
            if id_property not in self.object_type.unique_properties:
                return error(
                    400,
                    "VALIDATION_ERROR",
                    f"Unable to perform update/upsert by non-unique {self.object_type.type_id} property {id_property}",
                )
        ids = [str(item.get("id")) for item in self.inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            return error(
                400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
            )
        return None

    def _validate(self, item: dict[str, Any]) -> list[PropertyProblem]:
        properties = dict(item.get("properties") or {})
        if self.kind == "upsert":
            properties[item["idProperty"]] = item.get("id")
        return validate_properties(self.object_type, properties, self.api.rejected_values)

    def _apply(
        self,
        item: dict[str, Any],
        results: list[dict[str, Any]],
        errors: list[dict[str, Any]],
        missing: list[dict[str, Any]],
    ) -> None:
        properties = {k: "" if v is None else str(v) for k, v in (item.get("properties") or {}).items()}
        trace = item.get("objectWriteTraceId")
        extra: dict[str, Any] = {"objectWriteTraceId": trace} if trace else {}
        now = self.api.clock.now()
        try:
            if self.kind == "create":
                record = self.store.create(properties, now)
            else:
                record_or_none = self.store.find(item.get("idProperty") or "hs_object_id", item.get("id"))
                if record_or_none is None and self.kind == "update":
                    missing.append(item)
                    return
                if self.kind == "upsert":
                    properties[item["idProperty"]] = str(item.get("id"))
                    extra["new"] = record_or_none is None
                record = (
                    self.store.create(properties, now)
                    if record_or_none is None
                    else self.store.update(record_or_none, properties, now)
                )
        except Conflict as exc:
            errors.append(_conflict(self.object_type, item, exc))
            return
        results.append(_written(record, properties, extra))


def _written(record: Record, properties: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    return record.to_json(properties.keys(), **extra)


def _context(item: dict[str, Any]) -> dict[str, list[str]]:
    context: dict[str, list[str]] = {}
    if item.get("id") is not None:
        context["ids"] = [str(item["id"])]
    if item.get("objectWriteTraceId"):
        context["objectWriteTraceId"] = [str(item["objectWriteTraceId"])]
    return context


def _invalid(item: dict[str, Any], problems: list[PropertyProblem]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "; ".join(p.message for p in problems),
        "context": _context(item),
        "errors": [
            {"message": p.message, "code": p.code, "context": {"propertyName": [p.property_name]}} for p in problems
        ],
        "links": {},
    }


def _conflict(object_type: ObjectType, item: dict[str, Any], exc: Conflict) -> dict[str, Any]:
    label = object_type.name.rstrip("s").capitalize()
    return {
        "status": "error",
        "category": "CONFLICT",
        "message": f"{label} already exists. Existing ID: {exc.existing_id}",
        "context": {**_context(item), "existingId": [exc.existing_id]},
        "errors": [{"message": str(exc), "code": "CONFLICT", "context": {"propertyName": [exc.property_name]}}],
        "links": {},
    }


def _not_found(object_type: ObjectType, ids: list[str], items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    context: dict[str, list[str]] = {"ids": ids}
    traces = [str(i["objectWriteTraceId"]) for i in items or [] if i.get("objectWriteTraceId")]
    if traces:
        context["objectWriteTraceId"] = traces
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not get some {object_type.name.rstrip('s').upper()} objects, they may be deleted or not "
        "exist. Check that ids are valid.",
        "context": context,
        "errors": [],
        "links": {},
    }


def _refuse_values(problems: list[PropertyProblem]) -> Response:
    details = [{"isValid": False, "message": p.message, "error": p.code, "name": p.property_name} for p in problems]
    return error(
        400,
        "VALIDATION_ERROR",
        f"Property values were not valid: {json.dumps(details)}",
        errors=[
            {"message": p.message, "code": p.code, "context": {"propertyName": [p.property_name]}} for p in problems
        ],
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
