"""The CRM v4 association endpoints of the simulator: batch create, associate default, archive and read.

Written from HubSpot's v4 Associations API (the OpenAPI spec `hubspot-api-client` is generated from):

- `POST /crm/v4/associations/{from}/{to}/batch/create` with `inputs: [{from: {id}, to: {id}, types:
  [{associationCategory, associationTypeId}]}]` answers 201 `{status, results: [{fromObjectTypeId, fromObjectId,
  toObjectTypeId, toObjectId, labels}], startedAt, completedAt}`, or 207 with `numErrors` and `errors[]` for the
  inputs it refused (unknown record ids, a type id that does not exist for the pair);
- `.../batch/associate/default` with `inputs: [{from: {id}, to: {id}}]` creates the unlabeled default type and
  answers 200 `{results: [{from: {id}, to: {id}, associationSpec: {associationCategory, associationTypeId}}]}`
  (207 with `errors[]` for unknown ids);
- `.../batch/archive` with `inputs: [{from: {id}, to: [{id}, ...]}]` removes every type between each pair and
  answers 204, also for pairs that were never linked (archiving is idempotent);
- `.../batch/read` with `inputs: [{id}]` answers `{results: [{from: {id}, to: [{toObjectId, associationTypes:
  [{category, typeId, label}]}]}]}`; a record without associations is an error `NO_ASSOCIATIONS_FOUND` (207).

Associations are two-way, as in HubSpot: creating contact -> company 279 also creates company -> contact 280, and
archiving either direction removes both. A primary type (contact -> company 1) comes with its unlabeled type.
The object types in the path may be names (`contacts`, `contact`) or ids (`0-1`). More than 100 inputs is a 400.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from activate.testing.hubspot.crm import MAX_BATCH_INPUTS, CrmApi, error
from activate.testing.hubspot.schema import ObjectType, singular
from activate.testing.server import Request, Response

ASSOCIATIONS = r"/crm/v4/associations/(?P<from>[^/]+)/(?P<to>[^/]+)"
HUBSPOT_DEFINED = "HUBSPOT_DEFINED"


@dataclass(frozen=True)
class AssociationType:
    """One HubSpot-defined association type: direction (object type ids), type id, label, and its inverse."""

    from_type: str
    to_type: str
    type_id: int
    label: str | None
    inverse: int


# HubSpot's published default type ids (v4 "Association type id values"). contacts 0-1, companies 0-2, deals 0-3.
DEFINED_TYPES: tuple[AssociationType, ...] = (
    AssociationType("0-1", "0-2", 279, None, 280),
    AssociationType("0-2", "0-1", 280, None, 279),
    AssociationType("0-1", "0-2", 1, "Primary", 2),
    AssociationType("0-2", "0-1", 2, "Primary", 1),
    AssociationType("0-3", "0-2", 341, None, 342),
    AssociationType("0-2", "0-3", 342, None, 341),
    AssociationType("0-3", "0-2", 5, "Primary", 6),
    AssociationType("0-2", "0-3", 6, "Primary", 5),
    AssociationType("0-3", "0-1", 3, None, 4),
    AssociationType("0-1", "0-3", 4, None, 3),
)

Side = tuple[str, str]  # (object type id, record id)
Link = tuple[str, int]  # (category, type id)


class AssociationApi:
    """Associations between records of a `CrmApi`, under its lock (a batch applies atomically)."""

    def __init__(self, crm: CrmApi) -> None:
        self.crm = crm
        self._links: dict[Side, dict[Side, set[Link]]] = {}
        self.calls = 0

    def routes(self) -> list[tuple[str, str, Callable[[Request], Response]]]:
        return [
            ("POST", ASSOCIATIONS + r"/batch/create", self._create),
            ("POST", ASSOCIATIONS + r"/batch/associate/default", self._associate_default),
            ("POST", ASSOCIATIONS + r"/batch/archive", self._archive),
            ("POST", ASSOCIATIONS + r"/batch/read", self._read),
        ]

    # -- inspection (tests) -------------------------------------------------------------------------------------

    def linked(self, from_type: str, from_id: str, to_type: str) -> dict[str, set[int]]:
        """Record ids of `to_type` linked to one record -> the type ids of each link."""
        source, target = self._types(from_type, to_type)
        with self.crm.lock:
            found = self._links.get((source.type_id, str(from_id)), {})
            return {
                to_id: {type_id for _, type_id in links}
                for (type_id_of, to_id), links in found.items()
                if type_id_of == target.type_id
            }

    def drop_record(self, object_type: ObjectType, record_id: str) -> None:
        """A record was archived: its associations go with it (both directions)."""
        side = (object_type.type_id, str(record_id))
        for other in list(self._links.pop(side, {})):
            self._links.get(other, {}).pop(side, None)

    # -- handlers -----------------------------------------------------------------------------------------------

    def _create(self, request: Request) -> Response:
        parsed = self._parse(request)
        if isinstance(parsed, Response):
            return parsed
        source, target, inputs = parsed
        started = self.crm.clock.now()
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.crm.lock:
            self.calls += 1
            for item in inputs:
                from_id, to_id = _id(item.get("from")), _id(item.get("to"))
                problem = self._missing(source, target, from_id, to_id)
                types: list[Any] = item["types"] if isinstance(item.get("types"), list) else []
                specs: list[AssociationType | None] = [self._spec(source, target, t) for t in types]
                if problem is None and (not specs or None in specs):
                    problem = _invalid_type(source, target, types, from_id, to_id)
                if problem is not None:
                    errors.append(problem)
                    continue
                labels: list[str] = []
                for spec in specs:
                    assert spec is not None
                    self._link(source, target, from_id, to_id, spec)
                    if spec.label:
                        labels.append(spec.label)
                results.append(
                    {
                        "fromObjectTypeId": source.type_id,
                        "fromObjectId": int(from_id),
                        "toObjectTypeId": target.type_id,
                        "toObjectId": int(to_id),
                        "labels": labels,
                    }
                )
        return self.crm.batch_response(201, started, results, errors)

    def _associate_default(self, request: Request) -> Response:
        parsed = self._parse(request)
        if isinstance(parsed, Response):
            return parsed
        source, target, inputs = parsed
        started = self.crm.clock.now()
        default = self._default(source, target)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.crm.lock:
            self.calls += 1
            for item in inputs:
                from_id, to_id = _id(item.get("from")), _id(item.get("to"))
                problem = self._missing(source, target, from_id, to_id)
                if problem is None and default is None:
                    problem = _invalid_type(source, target, [], from_id, to_id)
                if problem is not None:
                    errors.append(problem)
                    continue
                assert default is not None
                self._link(source, target, from_id, to_id, default)
                results.append(
                    {
                        "from": {"id": from_id},
                        "to": {"id": to_id},
                        "associationSpec": {
                            "associationCategory": HUBSPOT_DEFINED,
                            "associationTypeId": default.type_id,
                        },
                    }
                )
        return self.crm.batch_response(200, started, results, errors)

    def _archive(self, request: Request) -> Response:
        parsed = self._parse(request)
        if isinstance(parsed, Response):
            return parsed
        source, target, inputs = parsed
        with self.crm.lock:
            self.calls += 1
            for item in inputs:
                from_side = (source.type_id, _id(item.get("from")))
                targets: list[Any] = item["to"] if isinstance(item.get("to"), list) else []
                for to in targets:
                    to_side = (target.type_id, _id(to))
                    self._links.get(from_side, {}).pop(to_side, None)
                    self._links.get(to_side, {}).pop(from_side, None)
        return Response(204)

    def _read(self, request: Request) -> Response:
        parsed = self._parse(request)
        if isinstance(parsed, Response):
            return parsed
        source, target, inputs = parsed
        started = self.crm.clock.now()
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.crm.lock:
            self.calls += 1
            for item in inputs:
                from_id = str(item.get("id"))
                if self.crm.store(source).get(from_id) is None:
                    errors.append(_unknown_ids(source, target, [from_id], []))
                    continue
                linked = {
                    to_id: links
                    for (type_id, to_id), links in self._links.get((source.type_id, from_id), {}).items()
                    if type_id == target.type_id and links
                }
                if not linked:
                    errors.append(
                        {
                            "status": "error",
                            "category": "OBJECT_NOT_FOUND",
                            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                            "message": f"No {target.name} is associated with {singular(source.name)} {from_id}.",
                            "context": {"fromObjectId": [from_id]},
                            "errors": [],
                            "links": {},
                        }
                    )
                    continue
                results.append(
                    {
                        "from": {"id": from_id},
                        "to": [
                            {
                                "toObjectId": int(to_id),
                                "associationTypes": [
                                    {"category": category, "typeId": type_id, "label": self._label(source, type_id)}
                                    for category, type_id in sorted(links, key=lambda link: link[1])
                                ],
                            }
                            for to_id, links in sorted(linked.items(), key=lambda pair: int(pair[0]))
                        ],
                    }
                )
        return self.crm.batch_response(200, started, results, errors)

    # -- helpers ------------------------------------------------------------------------------------------------

    def _types(self, from_type: str, to_type: str) -> tuple[ObjectType, ObjectType]:
        source, target = self.crm.schema.resolve(from_type), self.crm.schema.resolve(to_type)
        if source is None or target is None:
            raise KeyError(from_type if source is None else to_type)
        return source, target

    def _parse(self, request: Request) -> tuple[ObjectType, ObjectType, list[dict[str, Any]]] | Response:
        source = self.crm.schema.resolve(request.params["from"])
        target = self.crm.schema.resolve(request.params["to"])
        if source is None or target is None:
            unknown = request.params["from"] if source is None else request.params["to"]
            return error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {unknown}")
        try:
            body = request.json()
        except ValueError:
            return error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            return error(400, "VALIDATION_ERROR", "Invalid input JSON: 'inputs' must be a list of objects")
        if len(inputs) > MAX_BATCH_INPUTS:
            size = f"Batch input size must be at most {MAX_BATCH_INPUTS}, got {len(inputs)}"
            return error(400, "VALIDATION_ERROR", size)
        return source, target, inputs

    def _missing(self, source: ObjectType, target: ObjectType, from_id: str, to_id: str) -> dict[str, Any] | None:
        bad_from = [from_id] if self.crm.store(source).get(from_id) is None else []
        bad_to = [to_id] if self.crm.store(target).get(to_id) is None else []
        return _unknown_ids(source, target, bad_from, bad_to) if bad_from or bad_to else None

    def _spec(self, source: ObjectType, target: ObjectType, raw: Any) -> AssociationType | None:
        if not isinstance(raw, dict) or raw.get("associationCategory") != HUBSPOT_DEFINED:
            return None
        try:
            type_id = int(raw["associationTypeId"])
        except (KeyError, TypeError, ValueError):
            return None
        for spec in DEFINED_TYPES:
            if (spec.from_type, spec.to_type, spec.type_id) == (source.type_id, target.type_id, type_id):
                return spec
        return None

    def _default(self, source: ObjectType, target: ObjectType) -> AssociationType | None:
        for spec in DEFINED_TYPES:
            if (spec.from_type, spec.to_type, spec.label) == (source.type_id, target.type_id, None):
                return spec
        return None

    def _label(self, source: ObjectType, type_id: int) -> str | None:
        return next((s.label for s in DEFINED_TYPES if s.from_type == source.type_id and s.type_id == type_id), None)

    def _link(self, source: ObjectType, target: ObjectType, from_id: str, to_id: str, spec: AssociationType) -> None:
        """Both directions; a labeled type also brings the pair's unlabeled type, as in HubSpot."""
        types = [spec]
        default = self._default(source, target)
        if spec.label is not None and default is not None:
            types.append(default)
        for each in types:
            forward = self._links.setdefault((source.type_id, from_id), {}).setdefault((target.type_id, to_id), set())
            forward.add((HUBSPOT_DEFINED, each.type_id))
            backward = self._links.setdefault((target.type_id, to_id), {}).setdefault((source.type_id, from_id), set())
            backward.add((HUBSPOT_DEFINED, each.inverse))


def _id(value: Any) -> str:
    return str(value.get("id")) if isinstance(value, dict) else str(value)


def _unknown_ids(source: ObjectType, target: ObjectType, bad_from: list[str], bad_to: list[str]) -> dict[str, Any]:
    parts = []
    if bad_from:
        parts.append(f"{singular(source.name).upper()} ids {bad_from} do not exist")
    if bad_to:
        parts.append(f"{singular(target.name).upper()} ids {bad_to} do not exist")
    context: dict[str, list[str]] = {}
    if bad_from:
        context["fromObjectId"] = bad_from
    if bad_to:
        context["toObjectId"] = bad_to
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "subCategory": "crm.associations.INVALID_OBJECT_IDS",
        "message": "; ".join(parts),
        "context": context,
        "errors": [],
        "links": {},
    }


def _invalid_type(source: ObjectType, target: ObjectType, types: list[Any], from_id: str, to_id: str) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "subCategory": "crm.associations.INVALID_ASSOCIATION_TYPE",
        "message": f"association types {types} are not valid from {source.name} to {target.name}",
        "context": {"fromObjectId": [from_id], "toObjectId": [to_id]},
        "errors": [],
        "links": {},
    }
