"""The simulated portal's records: one `RecordStore` per object type, with HubSpot's unique-value semantics.

A unique property (`email` on contacts, any custom property created with `hasUniqueValue`) maps each value to at
most one live record; writing a value another record holds is a `CONFLICT`, exactly as HubSpot refuses it. Emails
are compared case-insensitively. Not thread-safe on its own: the API layer serialises access with one lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activate.testing.hubspot.schema import ObjectType, normalize

_ids = itertools.count(1001)


@dataclass
class Record:
    """A live CRM record. Property values are stored as HubSpot returns them: strings."""

    id: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime

    def to_json(self, properties: Iterable[str] | None = None, **extra: Any) -> dict[str, Any]:
        wanted = self.properties if properties is None else {p: self.properties.get(p) for p in properties}
        return {
            "id": self.id,
            "properties": {
                **wanted,
                "hs_object_id": self.id,
                "createdate": _iso(self.created_at),
                "lastmodifieddate": _iso(self.updated_at),
            },
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "archived": False,
            **extra,
        }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Conflict(Exception):
    """A unique value already belongs to another record."""

    def __init__(self, property_name: str, value: str, existing_id: str) -> None:
        super().__init__(f"{property_name} {value} already belongs to record {existing_id}")
        self.property_name = property_name
        self.value = value
        self.existing_id = existing_id


class RecordStore:
    """Records of one object type, with an index per unique property."""

    def __init__(self, object_type: ObjectType) -> None:
        self.object_type = object_type
        self._records: dict[str, Record] = {}
        self._unique: dict[str, dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(list(self._records.values()))

    def get(self, record_id: str) -> Record | None:
        return self._records.get(str(record_id))

    def find(self, property_name: str, value: Any) -> Record | None:
        """The live record holding `value` in a unique property (`hs_object_id` is the record id itself)."""
        if property_name == "hs_object_id":
            return self.get(str(value))
        record_id = self._unique.get(property_name, {}).get(normalize(property_name, value))
        return self._records.get(record_id) if record_id else None

    def check_unique(self, properties: dict[str, str], record_id: str | None) -> None:
        """Raise Conflict when a unique value in `properties` belongs to a record other than `record_id`."""
        for name in self.object_type.unique_properties & properties.keys():
            if not properties[name]:
                continue
            holder = self._unique.get(name, {}).get(normalize(name, properties[name]))
            if holder is not None and holder != record_id:
                raise Conflict(name, properties[name], holder)

    def create(self, properties: dict[str, str], now: datetime) -> Record:
        self.check_unique(properties, None)
        record = Record(str(next(_ids)), {}, now, now)
        self._records[record.id] = record
        self._write(record, properties, now)
        return record

    def update(self, record: Record, properties: dict[str, str], now: datetime) -> Record:
        """Merge `properties` into the record: HubSpot's batch update/upsert overwrite the property values given and
        keep every other one ("Provided property values will be overwritten"; an empty string clears a value)."""
        self.check_unique(properties, record.id)
        self._write(record, properties, now)
        return record

    def archive(self, record_id: str) -> bool:
        record = self._records.pop(str(record_id), None)
        if record is None:
            return False
        for name, index in self._unique.items():
            value = record.properties.get(name)
            if value and index.get(normalize(name, value)) == record.id:
                del index[normalize(name, value)]
        return True

    def _write(self, record: Record, properties: dict[str, str], now: datetime) -> None:
        for name in self.object_type.unique_properties & properties.keys():
            index = self._unique.setdefault(name, {})
            old = record.properties.get(name)
            if old and index.get(normalize(name, old)) == record.id:
                del index[normalize(name, old)]
            if properties[name]:
                index[normalize(name, properties[name])] = record.id
        for name, value in properties.items():
            record.properties[name] = value.strip().lower() if name == "email" else value
        record.updated_at = now

    def search(self, filter_groups: list[dict[str, Any]]) -> list[Record]:
        """Records matching any filter group (OR), each group's filters all matching (AND), ordered by id."""
        matched = [r for r in self._records.values() if not filter_groups or any(_group(r, g) for g in filter_groups)]
        return sorted(matched, key=lambda r: int(r.id))


def _group(record: Record, group: dict[str, Any]) -> bool:
    return all(_filter(record, f) for f in group.get("filters", []))


def _filter(record: Record, spec: dict[str, Any]) -> bool:
    name = spec.get("propertyName", "")
    actual = record.id if name == "hs_object_id" else record.properties.get(name)
    operator = spec.get("operator", "EQ")
    if operator == "HAS_PROPERTY":
        return bool(actual)
    if operator == "NOT_HAS_PROPERTY":
        return not actual
    if operator in ("IN", "NOT_IN"):
        values = {normalize(name, v) if name == "email" else str(v).lower() for v in spec.get("values", [])}
        inside = actual is not None and actual.lower() in values
        return inside if operator == "IN" else not inside
    wanted = str(spec.get("value", "")).lower()
    have = (actual or "").lower()
    if operator == "EQ":
        return have == wanted
    if operator == "NEQ":
        return have != wanted
    if operator == "CONTAINS_TOKEN":
        return wanted.strip("*") in have
    raise ValueError(f"Unsupported filter operator {operator}")
