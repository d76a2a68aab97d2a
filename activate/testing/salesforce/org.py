"""The simulated org's data: records per sObject, unique indexes, and the per-record validation Salesforce applies.

Every write path (REST collections, single-record calls, Bulk API 2.0 jobs) goes through `SalesforceOrg`, so a
record refused by one path is refused the same way by the others. A refusal is a `RecordError` with the status
code and message Salesforce uses (`REQUIRED_FIELD_MISSING`, `INVALID_FIELD`, `STRING_TOO_LONG`, `DUPLICATE_VALUE`,
`FIELD_CUSTOM_VALIDATION_EXCEPTION`, `DUPLICATES_DETECTED`, `UNABLE_TO_LOCK_ROW`, ...).
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from activate.testing.salesforce.schema import FieldSchema, IdFactory, SObjectSchema, default_objects

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# A custom validation rule: (sObject, the record as it would be saved) -> error message, or None to accept.
ValidationRule = Callable[[str, dict[str, Any]], str | None]


@dataclass(frozen=True)
class RecordError:
    """A per-record refusal, as Salesforce reports it in `errors[]` or a Bulk `sf__Error` cell."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}

    def as_bulk(self) -> str:
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


@dataclass(frozen=True)
class Outcome:
    """The result of one record's write: the record Id, whether it was created, or the error."""

    id: str | None
    created: bool = False
    error: RecordError | None = None

    @property
    def success(self) -> bool:
        return self.error is None

    def as_json(self, *, with_created: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "success": self.success,
            "errors": [self.error.as_json()] if self.error else [],
        }
        if with_created:
            body["created"] = self.created if self.success else False
        return body


class QueryError(ValueError):
    """A SOQL statement the simulator cannot parse or that names something unknown (MALFORMED_QUERY)."""


@dataclass
class SalesforceOrg:
    """Records, indexes, validation and per-record fault injection of one org. Thread-safe.

    `lock_rate` answers that share of record writes with UNABLE_TO_LOCK_ROW (seeded, so reproducible);
    `validation_rules` act as the org's custom validation rules; `duplicate_rules` maps an sObject to the field a
    duplicate rule matches on (a second record with the same value is refused with DUPLICATES_DETECTED).
    """

    objects: dict[str, SObjectSchema] = field(default_factory=default_objects)
    lock_rate: float = 0.0
    validation_rules: list[ValidationRule] = field(default_factory=list)
    duplicate_rules: dict[str, str] = field(default_factory=dict)
    seed: int = 11
    ids: IdFactory = field(default_factory=IdFactory)
    _records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)
    _unique: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    writes: int = 0  # record writes attempted (any path), for tests asserting "nothing was written"

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)
        for name in self.objects:
            self._records.setdefault(name, {})

    @property
    def lock(self) -> threading.RLock:
        """Held by a request that must see the org unchanged by others (an `allOrNone: true` collection)."""
        return self._lock

    # ----- reads -------------------------------------------------------------------------------------------------

    def schema(self, sobject: str) -> SObjectSchema | None:
        return self.objects.get(sobject)

    def records(self, sobject: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._records.get(sobject, {}).values()]

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._records.get(sobject, {}).get(record_id)
            return dict(found) if found else None

    def find(self, sobject: str, field_name: str, value: Any) -> list[dict[str, Any]]:
        with self._lock:
            text = _key(value)
            return [dict(r) for r in self._records.get(sobject, {}).values() if _key(r.get(field_name)) == text]

    def sobject_of(self, record_id: str) -> str | None:
        with self._lock:
            for name, table in self._records.items():
                if record_id in table:
                    return name
            return None

    # ----- writes ------------------------------------------------------------------------------------------------

    def create(self, sobject: str, values: dict[str, Any]) -> Outcome:
        with self._lock:
            schema = self.objects[sobject]
            resolved = self._resolve_references(schema, values)
            if isinstance(resolved, RecordError):
                self.writes += 1
                return Outcome(None, error=resolved)
            error = self._fault(None) or self._validate(schema, resolved, existing=None)
            if error:
                return Outcome(None, error=error)
            return self._insert(schema, resolved)

    def update(self, sobject: str, values: dict[str, Any]) -> Outcome:
        with self._lock:
            schema = self.objects[sobject]
            record_id = values.get("Id")
            rest_or_error = self._resolve_references(schema, {k: v for k, v in values.items() if k != "Id"})
            if isinstance(rest_or_error, RecordError):
                self.writes += 1
                return Outcome(str(record_id) if record_id else None, error=rest_or_error)
            rest = rest_or_error
            existing = self._records[sobject].get(str(record_id)) if record_id else None
            if existing is None:
                self.writes += 1
                if record_id and self.ids_prefix_ok(schema, str(record_id)):
                    return Outcome(str(record_id), error=RecordError("ENTITY_IS_DELETED", "entity is deleted"))
                message = f"{sobject} ID: id value of incorrect type: {record_id}"
                return Outcome(None, error=RecordError("MALFORMED_ID", message, ("Id",)))
            error = self._fault(existing["Id"]) or self._validate(schema, rest, existing=existing)
            if error:
                return Outcome(existing["Id"], error=error)
            return self._apply(schema, existing, rest)

    def upsert(self, sobject: str, external_field: str, values: dict[str, Any]) -> Outcome:
        with self._lock:
            schema = self.objects[sobject]
            value = values.get(external_field)
            if value is None or _key(value) == "":
                return Outcome(
                    None, error=RecordError("MISSING_ARGUMENT", f"{external_field} not specified", (external_field,))
                )
            existing_id = self._unique.get((sobject, external_field), {}).get(_key(value))
            existing = self._records[sobject].get(existing_id) if existing_id else None
            resolved = self._resolve_references(schema, values)
            if isinstance(resolved, RecordError):
                self.writes += 1
                return Outcome(existing_id, error=resolved)
            values = resolved
            error = self._fault(existing_id) or self._validate(schema, values, existing=existing)
            if error:
                return Outcome(existing_id, error=error)
            if existing is None:
                return self._insert(schema, values)
            return self._apply(schema, existing, values)

    def delete(self, record_id: str) -> Outcome:
        with self._lock:
            self.writes += 1
            sobject = self.sobject_of(record_id)
            if sobject is None:
                return Outcome(record_id, error=RecordError("ENTITY_IS_DELETED", "entity is deleted"))
            if self._lock_roll():
                return Outcome(record_id, error=_lock_error(record_id))
            record = self._records[sobject].pop(record_id)
            for (obj, name), index in self._unique.items():
                if obj == sobject and record.get(name) is not None:
                    index.pop(_key(record[name]), None)
            return Outcome(record_id)

    def duplicate_external_ids(self, external_field: str, batch: Iterable[dict[str, Any]]) -> set[str]:
        """External ID values that occur more than once in one request (Salesforce refuses all of them)."""
        seen: set[str] = set()
        dupes: set[str] = set()
        for values in batch:
            text = _key(values.get(external_field))
            if text:
                (dupes if text in seen else seen).add(text)
        return dupes

    @staticmethod
    def ids_prefix_ok(schema: SObjectSchema, record_id: str) -> bool:
        return len(record_id) in (15, 18) and record_id.startswith(schema.key_prefix)

    def snapshot(self) -> tuple[Any, Any]:
        """A copy of every record and index, for rolling back an `allOrNone: true` request."""
        with self._lock:
            records = {obj: {rid: dict(r) for rid, r in table.items()} for obj, table in self._records.items()}
            return records, {k: dict(v) for k, v in self._unique.items()}

    def restore(self, snapshot: tuple[Any, Any]) -> None:
        with self._lock:
            self._records, self._unique = snapshot

    # ----- SOQL --------------------------------------------------------------------------------------------------

    def query(self, soql: str) -> tuple[str, list[dict[str, Any]]]:
        """Run `SELECT f, ... FROM X [WHERE f IN (...) | f = v] [LIMIT n]`; returns (sObject, records)."""
        match = _SOQL.match(soql)
        if not match:
            raise QueryError(f"unexpected token in query: {soql[:80]}")
        sobject = match["sobject"]
        schema = self.objects.get(sobject)
        if schema is None:
            raise QueryError(f"sObject type '{sobject}' is not supported.")
        fields = [f.strip() for f in match["fields"].split(",") if f.strip()]
        for name in fields:
            if name not in schema.fields:
                raise QueryError(f"No such column '{name}' on entity '{sobject}'.")
        where_field, wanted = _parse_where(match["where"], schema)
        with self._lock:
            rows = list(self._records[sobject].values())
        if where_field is not None:
            rows = [r for r in rows if _key(r.get(where_field)) in wanted]
        if match["limit"]:
            rows = rows[: int(match["limit"])]
        return sobject, [{name: r.get(name) for name in fields} for r in rows]

    # ----- relationship references -------------------------------------------------------------------------------

    def column_problem(self, schema: SObjectSchema, name: str) -> str | None:
        """Why a Bulk CSV column cannot be written (None when it can): an unknown field, or a relationship column
        `Relationship.ExternalIdField` whose relationship or parent External ID field does not exist."""
        if "." not in name:
            return None if name in schema.fields else f"Field name not found : {name}"
        relationship, _, parent_field = name.partition(".")
        problem = self._reference_problem(schema, relationship, parent_field)
        if problem is None:
            return None
        return f"Field name not found : {name}" if problem.fields == (relationship,) else problem.message

    def _reference_problem(self, schema: SObjectSchema, relationship: str, parent_field: str) -> RecordError | None:
        lookup = schema.lookup(relationship)
        if lookup is None or lookup.reference_to not in self.objects:
            return RecordError(
                "INVALID_FIELD", f"No such column '{relationship}' on sobject of type {schema.name}", (relationship,)
            )
        parent = self.objects[lookup.reference_to]
        spec = parent.fields.get(parent_field)
        if spec is None or not (spec.external_id or spec.name == "Id"):
            return RecordError(
                "INVALID_FIELD",
                f"Field name provided, {parent_field} does not match an External ID, Salesforce Id, or indexed "
                f"field for {parent.name}",
                (parent_field,),
            )
        return None

    def _resolve_references(self, schema: SObjectSchema, values: dict[str, Any]) -> dict[str, Any] | RecordError:
        """Relationship references set lookups by the parent's External ID, as Salesforce resolves them: a nested
        object in REST (`"Account": {"Ext_Account__c": "A-1"}`) or a dotted Bulk column (`Account.Ext_Account__c`)
        becomes the lookup field (`AccountId`) holding the parent's Id; a parent that does not exist refuses the
        record (INVALID_FIELD, "Foreign key external ID: ... not found ...")."""
        resolved: dict[str, Any] = {}
        for name, value in values.items():
            if isinstance(value, dict):
                relationship = name
                keys = {k: v for k, v in value.items() if k != "attributes"}
            elif "." in name:
                relationship, _, parent_field = name.partition(".")
                keys = {parent_field: value}
            else:
                resolved[name] = value
                continue
            if len(keys) != 1:
                return RecordError(
                    "INVALID_FIELD", f"a reference to {relationship} must name exactly one External ID field"
                )
            [(parent_field, key)] = keys.items()
            problem = self._reference_problem(schema, relationship, parent_field)
            if problem is not None:
                return problem
            lookup = schema.lookup(relationship)
            assert lookup is not None
            assert lookup.reference_to is not None
            if key is None or _key(key) == "":
                resolved[lookup.name] = None
                continue
            parent_id = self._parent_id(lookup.reference_to, parent_field, key)
            if parent_id is None:
                return RecordError(
                    "INVALID_FIELD",
                    f"Foreign key external ID: {_key(key)} not found for field {parent_field} in entity "
                    f"{lookup.reference_to}",
                    (parent_field,),
                )
            resolved[lookup.name] = parent_id
        return resolved

    def _parent_id(self, sobject: str, field_name: str, value: Any) -> str | None:
        if field_name == "Id":
            return str(value) if str(value) in self._records.get(sobject, {}) else None
        index = self._unique.get((sobject, field_name))
        if index is not None or self.objects[sobject].fields[field_name].unique:
            return (index or {}).get(_key(value))
        found = [r["Id"] for r in self._records.get(sobject, {}).values() if _key(r.get(field_name)) == _key(value)]
        return found[0] if found else None

    # ----- internals ---------------------------------------------------------------------------------------------

    def _lock_roll(self) -> bool:
        return self.lock_rate > 0 and self._rng.random() < self.lock_rate

    def _fault(self, record_id: str | None) -> RecordError | None:
        self.writes += 1
        if self._lock_roll():
            return _lock_error(record_id or "")
        return None

    def _validate(
        self, schema: SObjectSchema, values: dict[str, Any], *, existing: dict[str, Any] | None
    ) -> RecordError | None:
        for name in values:
            if name not in schema.fields:
                return RecordError(
                    "INVALID_FIELD", f"No such column '{name}' on sobject of type {schema.name}", (name,)
                )
        creating = existing is None
        for name in values:
            spec = schema.fields[name]
            allowed = spec.createable if creating else spec.updateable or spec.external_id
            if not allowed:
                verb = "create" if creating else "update"
                return RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to {verb} fields: {name}. Please check the security settings of this field and verify "
                    "that it is read/write for your profile or permission set.",
                    (name,),
                )
        for name, value in values.items():
            error = _check_value(schema.fields[name], value)
            if error:
                return error
        merged = {**(existing or {}), **values}
        missing = [
            f.name
            for f in schema.fields.values()
            if not f.nillable and not f.defaulted_on_create and f.createable and merged.get(f.name) in (None, "")
        ]
        if missing:
            return RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", tuple(missing)
            )
        own_id = existing["Id"] if existing else None
        for spec in schema.fields.values():
            if not spec.unique or merged.get(spec.name) in (None, ""):
                continue
            holder = self._unique.get((schema.name, spec.name), {}).get(_key(merged[spec.name]))
            if holder and holder != own_id:
                return RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {spec.name} duplicates value on record with id: {holder}",
                    (spec.name,),
                )
        for rule in self.validation_rules:
            message = rule(schema.name, merged)
            if message:
                return RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", message)
        dupe_field = self.duplicate_rules.get(schema.name)
        if dupe_field and merged.get(dupe_field) not in (None, ""):
            for other in self._records[schema.name].values():
                if other["Id"] != own_id and _key(other.get(dupe_field)).lower() == _key(merged[dupe_field]).lower():
                    return RecordError(
                        "DUPLICATES_DETECTED",
                        f"You're creating a duplicate record. We recommend you use an existing record instead. "
                        f"(matches {other['Id']} on {dupe_field})",
                    )
        return None

    def _insert(self, schema: SObjectSchema, values: dict[str, Any]) -> Outcome:
        now = _now()
        record: dict[str, Any] = {name: None for name in schema.fields}
        for spec in schema.fields.values():
            if spec.type == "boolean" and spec.defaulted_on_create:
                record[spec.name] = False
        if "Status" in schema.fields and schema.fields["Status"].defaulted_on_create:
            record["Status"] = "Open - Not Contacted"
        record.update({k: _coerce(schema.fields[k], v) for k, v in values.items()})
        record["Id"] = self.ids.next(schema.key_prefix)
        record["CreatedDate"] = record["LastModifiedDate"] = now
        if "Name" in schema.fields and record.get("Name") in (None, "") and schema.fields["Name"].defaulted_on_create:
            record["Name"] = record["Id"]
        self._records[schema.name][record["Id"]] = record
        self._index(schema, record)
        return Outcome(record["Id"], created=True)

    def _apply(self, schema: SObjectSchema, existing: dict[str, Any], values: dict[str, Any]) -> Outcome:
        for (obj, name), index in self._unique.items():
            if obj == schema.name and name in values and existing.get(name) is not None:
                index.pop(_key(existing[name]), None)
        existing.update({k: _coerce(schema.fields[k], v) for k, v in values.items()})
        existing["LastModifiedDate"] = _now()
        self._index(schema, existing)
        return Outcome(existing["Id"], created=False)

    def _index(self, schema: SObjectSchema, record: dict[str, Any]) -> None:
        for spec in schema.fields.values():
            if spec.unique and record.get(spec.name) not in (None, ""):
                self._unique.setdefault((schema.name, spec.name), {})[_key(record[spec.name])] = record["Id"]


def _lock_error(record_id: str) -> RecordError:
    return RecordError(
        "UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record or 1 records: {record_id}"
    )


def _key(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _check_value(spec: FieldSchema, value: Any) -> RecordError | None:
    if value is None:
        return None
    if spec.type in {"string", "email", "textarea", "phone", "reference"}:
        text = _key(value)
        if isinstance(value, dict | list):
            return RecordError(
                "JSON_PARSER_ERROR", f"Cannot deserialize instance of string from {type(value).__name__}", (spec.name,)
            )
        if len(text) > spec.length:
            return RecordError(
                "STRING_TOO_LONG",
                f"{spec.name}: data value too large: {text[:40]} (max length={spec.length})",
                (spec.name,),
            )
        if spec.type == "email" and text and not _EMAIL.match(text):
            return RecordError("INVALID_EMAIL_ADDRESS", f"{spec.name}: invalid email address: {text}", (spec.name,))
    elif spec.type == "double":
        if isinstance(value, bool):
            return _type_error(spec, value)
        try:
            float(value)
        except (TypeError, ValueError):
            return _type_error(spec, value)
    elif spec.type == "boolean" and not isinstance(value, bool) and str(value).lower() not in {"true", "false"}:
        return _type_error(spec, value)
    return None


def _type_error(spec: FieldSchema, value: Any) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{spec.name}: value not of required type: {value}", (spec.name,)
    )


def _coerce(spec: FieldSchema, value: Any) -> Any:
    if value is None:
        return None
    if spec.type == "double":
        return float(value)
    if spec.type == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if spec.type in {"string", "email", "textarea", "phone", "reference", "id"}:
        return _key(value)
    return value


_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<sobject>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_WHERE_IN = re.compile(r"^(?P<field>\w+)\s+IN\s*\((?P<values>.*)\)$", re.IGNORECASE | re.DOTALL)
_WHERE_EQ = re.compile(r"^(?P<field>\w+)\s*=\s*(?P<value>.+)$", re.DOTALL)
_LITERAL = re.compile(r"\s*(?:'((?:[^'\\]|\\.)*)'|(-?\d+(?:\.\d+)?)|(null))\s*(?:,|$)", re.IGNORECASE)


def _parse_where(where: str | None, schema: SObjectSchema) -> tuple[str | None, set[str]]:
    if not where:
        return None, set()
    where = where.strip()
    in_match = _WHERE_IN.match(where)
    eq_match = None if in_match else _WHERE_EQ.match(where)
    if in_match:
        field_name, raw = in_match["field"], in_match["values"]
    elif eq_match:
        field_name, raw = eq_match["field"], eq_match["value"]
    else:
        raise QueryError(f"unexpected token in WHERE clause: {where[:80]}")
    if field_name not in schema.fields:
        raise QueryError(f"No such column '{field_name}' on entity '{schema.name}'.")
    values: set[str] = set()
    pos = 0
    raw = raw.strip()
    while pos < len(raw):
        literal = _LITERAL.match(raw, pos)
        if not literal or literal.end() == pos:
            raise QueryError(f"unexpected token in WHERE clause near: {raw[pos : pos + 40]}")
        quoted, number, _null = literal.groups()
        if quoted is not None:
            values.add(re.sub(r"\\(.)", r"\1", quoted))
        elif number is not None:
            values.add(number)
        pos = literal.end()
    return field_name, values
