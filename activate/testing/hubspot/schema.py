"""Object types and property definitions of the simulated HubSpot portal, and the validation HubSpot applies to
property values on write.

Shapes follow `GET /crm/v3/properties/{objectType}` (`name`, `label`, `type`, `fieldType`, `groupName`,
`hasUniqueValue`, `modificationMetadata`, ...). Only what a writer can observe is modelled: which properties exist,
which are unique (usable as `idProperty`), which are read-only, and the value checks that produce HubSpot's
documented error codes (`PROPERTY_DOESNT_EXIST`, `INVALID_EMAIL`, `READ_ONLY_VALUE`, `INVALID_INTEGER`), and the
65,536-character limit on a property value (which refuses the whole request with 400 VALIDATION_ERROR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# HubSpot's built-in object types: name -> objectTypeId. Custom objects are `2-<n>`.
STANDARD_OBJECTS: dict[str, str] = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5"}

# HubSpot stores at most 65,536 characters in one property value; a longer value refuses the whole request (400).
MAX_PROPERTY_CHARS = 65_536
VALUE_TOO_LONG = "PROPERTY_VALUE_TOO_LONG"

# Deliberately loose: HubSpot accepts most RFC-ish addresses and refuses obviously malformed ones.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class PropertyDef:
    """One property of an object type, as `GET /crm/v3/properties/{type}` describes it."""

    name: str
    type: str = "string"  # string | number | date | datetime | enumeration | bool
    field_type: str = "text"
    label: str = ""
    unique: bool = False
    read_only: bool = False
    options: tuple[str, ...] = ()

    def to_json(self, group: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or self.name.replace("_", " ").title(),
            "type": self.type,
            "fieldType": self.field_type,
            "description": "",
            "groupName": group,
            "options": [
                {"label": o, "value": o, "displayOrder": i, "hidden": False} for i, o in enumerate(self.options)
            ],
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.read_only,
            "formField": not self.read_only,
            "archived": False,
            "modificationMetadata": {
                "archivable": not self.read_only,
                "readOnlyDefinition": self.read_only,
                "readOnlyValue": self.read_only,
            },
            "createdAt": "2020-01-01T00:00:00Z",
            "updatedAt": "2020-01-01T00:00:00Z",
        }


def _common() -> list[PropertyDef]:
    return [
        PropertyDef("hs_object_id", "number", "number", "Record ID", unique=True, read_only=True),
        PropertyDef("createdate", "datetime", "date", "Create Date", read_only=True),
        PropertyDef("lastmodifieddate", "datetime", "date", "Last Modified Date", read_only=True),
        PropertyDef("hs_lastmodifieddate", "datetime", "date", "Object last modified date/time", read_only=True),
    ]


def _defaults(object_name: str) -> list[PropertyDef]:
    extra: dict[str, list[PropertyDef]] = {
        "contacts": [
            PropertyDef("email", "string", "text", "Email", unique=True),
            PropertyDef("firstname", label="First Name"),
            PropertyDef("lastname", label="Last Name"),
            PropertyDef("phone", label="Phone Number"),
            PropertyDef("company", label="Company Name"),
            PropertyDef("website", label="Website URL"),
            PropertyDef(
                "lifecyclestage",
                "enumeration",
                "radio",
                "Lifecycle Stage",
                options=(
                    "subscriber",
                    "lead",
                    "marketingqualifiedlead",
                    "salesqualifiedlead",
                    "opportunity",
                    "customer",
                ),
            ),
        ],
        "companies": [
            PropertyDef("name", label="Company name"),
            PropertyDef("domain", label="Company Domain Name"),
            PropertyDef("industry", label="Industry"),
            PropertyDef("numberofemployees", "number", "number", "Number of Employees"),
        ],
        "deals": [
            PropertyDef("dealname", label="Deal Name"),
            PropertyDef("amount", "number", "number", "Amount"),
            PropertyDef(
                "dealstage", "enumeration", "radio", "Deal Stage", options=("appointmentscheduled", "closedwon")
            ),
            PropertyDef("pipeline", "enumeration", "select", "Pipeline", options=("default",)),
            PropertyDef("closedate", "datetime", "date", "Close Date"),
        ],
        "tickets": [PropertyDef("subject", label="Ticket name"), PropertyDef("content", label="Ticket description")],
    }
    return _common() + extra.get(object_name, [])


@dataclass
class ObjectType:
    """A CRM object type: its id (`0-1`, `2-1234`), its plural name, and its properties by name."""

    type_id: str
    name: str
    properties: dict[str, PropertyDef] = field(default_factory=dict)

    @property
    def unique_properties(self) -> set[str]:
        return {p.name for p in self.properties.values() if p.unique}


class Schema:
    """Every object type the portal knows, addressable by name (`contacts`), singular or id (`0-1`, `2-1234`)."""

    def __init__(self) -> None:
        self._types: dict[str, ObjectType] = {}
        for name, type_id in STANDARD_OBJECTS.items():
            self.add(ObjectType(type_id, name, {p.name: p for p in _defaults(name)}))

    def add(self, object_type: ObjectType) -> ObjectType:
        self._types[object_type.type_id] = object_type
        return object_type

    def define_custom(self, type_id: str, name: str, properties: list[PropertyDef]) -> ObjectType:
        """Add a custom object type (`2-xxxx`); `hs_object_id` and the timestamps come with it, as in HubSpot."""
        if not re.fullmatch(r"2-\d+", type_id):
            raise ValueError(f"custom object type ids look like 2-1234, got {type_id!r}")
        return self.add(ObjectType(type_id, name, {p.name: p for p in _common() + properties}))

    def resolve(self, name_or_id: str) -> ObjectType | None:
        wanted = name_or_id.lower()
        for object_type in self._types.values():
            if wanted in (object_type.type_id, object_type.name, singular(object_type.name)):
                return object_type
        return None

    def all(self) -> list[ObjectType]:
        return list(self._types.values())


def singular(name: str) -> str:
    """`companies` -> `company`, `contacts` -> `contact` (HubSpot paths accept either form)."""
    return name[:-3] + "y" if name.endswith("ies") else name.rstrip("s")


@dataclass(frozen=True)
class PropertyProblem:
    """A refused property value: HubSpot's error code, the property, and its message."""

    code: str
    property_name: str
    message: str


def validate_properties(
    object_type: ObjectType, properties: dict[str, Any], rejected_values: dict[str, set[str]]
) -> list[PropertyProblem]:
    """HubSpot's per-property checks, in the order HubSpot reports them. `rejected_values` injects refusals."""
    problems: list[PropertyProblem] = []
    for name, raw in properties.items():
        definition = object_type.properties.get(name)
        if definition is None:
            problems.append(PropertyProblem("PROPERTY_DOESNT_EXIST", name, f'Property "{name}" does not exist'))
            continue
        value = "" if raw is None else str(raw)
        if len(value) > MAX_PROPERTY_CHARS:
            problems.append(
                PropertyProblem(
                    VALUE_TOO_LONG,
                    name,
                    f"{name} has {len(value):,} characters; property values are limited to {MAX_PROPERTY_CHARS:,}",
                )
            )
        elif definition.read_only:
            problems.append(
                PropertyProblem("READ_ONLY_VALUE", name, f"{name} is a read only property; its value cannot be set.")
            )
        elif (
            name == "email" and value and (not _EMAIL.match(value) or value.lower() in rejected_values.get(name, set()))
        ):
            problems.append(PropertyProblem("INVALID_EMAIL", name, f"Email address {value} is invalid"))
        elif value and value in rejected_values.get(name, set()):
            problems.append(PropertyProblem("INVALID_OPTION", name, f"{value} is not a valid value for {name}"))
        elif definition.type == "number" and value and not _is_number(value):
            problems.append(PropertyProblem("INVALID_INTEGER", name, f"{value} is not a valid number for {name}"))
        elif definition.options and value and value not in definition.options:
            problems.append(
                PropertyProblem(
                    "INVALID_OPTION", name, f"{value} was not one of the allowed options: {list(definition.options)}"
                )
            )
    return problems


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def normalize(property_name: str, value: Any) -> str:
    """How HubSpot stores a value: strings, emails lowercased (unique lookups by email are case-insensitive)."""
    text = "" if value is None else str(value)
    return text.strip().lower() if property_name == "email" else text
