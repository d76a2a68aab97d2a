"""The simulated org's metadata: sObjects, their fields, and Salesforce's record Id format.

Describe results follow `GET /services/data/vXX.X/sobjects/{SObject}/describe` (the subset a writer reads:
`name`, `createable`, `updateable`, `deletable`, and per field `name`, `type`, `length`, `externalId`, `unique`,
`createable`, `updateable`, `nillable`, `defaultedOnCreate`).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


@dataclass(frozen=True)
class FieldSchema:
    """One field of an sObject. `required` means not nillable and not defaulted on create."""

    name: str
    type: str = "string"  # string | email | double | boolean | date | id | reference | textarea | phone
    length: int = 255
    external_id: bool = False
    unique: bool = False
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    defaulted_on_create: bool = False
    reference_to: str | None = None  # a lookup's parent sObject (`AccountId` -> `Account`)
    relationship_name: str | None = None  # the name a lookup is set through by external id (`Account`)

    @property
    def required(self) -> bool:
        return self.createable and not self.nillable and not self.defaulted_on_create

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "length": self.length if self.type in {"string", "email", "textarea", "phone"} else 0,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.external_id or self.name == "Id",
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "defaultedOnCreate": self.defaulted_on_create,
            "custom": self.name.endswith("__c"),
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship_name,
        }


@dataclass(frozen=True)
class SObjectSchema:
    """One sObject: its 3-character Id prefix and its fields by name."""

    name: str
    key_prefix: str
    fields: dict[str, FieldSchema]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name.removesuffix("__c"),
            "keyPrefix": self.key_prefix,
            "custom": self.name.endswith("__c"),
            "createable": self.createable,
            "updateable": self.updateable,
            "deletable": self.deletable,
            "queryable": True,
            "fields": [f.describe() for f in self.fields.values()],
        }

    def external_id_fields(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.external_id]

    def lookup(self, relationship: str) -> FieldSchema | None:
        """The lookup field a relationship name sets (`Account` -> `AccountId`), if this sObject has one."""
        return next((f for f in self.fields.values() if f.relationship_name == relationship), None)


def _system_fields() -> list[FieldSchema]:
    return [
        FieldSchema("Id", "id", 18, createable=False, updateable=False, nillable=False, defaulted_on_create=True),
        FieldSchema("CreatedDate", "datetime", createable=False, updateable=False, defaulted_on_create=True),
        FieldSchema("LastModifiedDate", "datetime", createable=False, updateable=False, defaulted_on_create=True),
    ]


def _sobject(name: str, prefix: str, *fields: FieldSchema) -> SObjectSchema:
    every = [*_system_fields(), *fields]
    return SObjectSchema(name, prefix, {f.name: f for f in every})


def _activate_id() -> FieldSchema:
    return FieldSchema("Activate_Id__c", "string", 255, external_id=True, unique=True)


def default_objects() -> dict[str, SObjectSchema]:
    """Contact, Account, Lead and a custom `Customer__c`, each with the External ID field `Activate_Id__c`.

    Contact.AccountId is a lookup to Account through the relationship `Account`; Account also has the External ID
    `Ext_Account__c`, so a Contact can name its Account as `Account.Ext_Account__c`.

    Required fields are the ones a real org requires: Contact.LastName, Account.Name, Lead.LastName and
    Lead.Company. `Customer__c` requires nothing, so any row shape can land in it.
    """
    return {
        "Contact": _sobject(
            "Contact",
            "003",
            _activate_id(),
            FieldSchema("FirstName", length=40),
            FieldSchema("LastName", length=80, nillable=False),
            FieldSchema("Email", "email", 80),
            FieldSchema("Phone", "phone", 40),
            FieldSchema("Title", length=128),
            FieldSchema("AccountId", "reference", 18, reference_to="Account", relationship_name="Account"),
            FieldSchema("Lifetime_Value__c", "double"),
        ),
        "Account": _sobject(
            "Account",
            "001",
            _activate_id(),
            FieldSchema("Name", length=255, nillable=False),
            FieldSchema("Ext_Account__c", "string", 255, external_id=True, unique=True),
            FieldSchema("Website", length=255),
            FieldSchema("Industry", length=255),
            FieldSchema("AnnualRevenue", "double"),
        ),
        "Lead": _sobject(
            "Lead",
            "00Q",
            _activate_id(),
            FieldSchema("FirstName", length=40),
            FieldSchema("LastName", length=80, nillable=False),
            FieldSchema("Company", length=255, nillable=False),
            FieldSchema("Email", "email", 80),
            FieldSchema("Status", length=255, defaulted_on_create=True, nillable=False),
        ),
        "Customer__c": _sobject(
            "Customer__c",
            "a01",
            _activate_id(),
            FieldSchema("Name", length=80, defaulted_on_create=True),
            FieldSchema("Email__c", "email", 80),
            FieldSchema("First_Name__c", length=80),
            FieldSchema("Last_Name__c", length=80),
            FieldSchema("Score__c", "double"),
            FieldSchema("Is_Active__c", "boolean", defaulted_on_create=True, nillable=False),
        ),
    }


def _checksum(fifteen: str) -> str:
    """The 3-character suffix that makes a 15-character Id case-insensitively unique (Salesforce's algorithm)."""
    suffix = ""
    for chunk in (fifteen[0:5], fifteen[5:10], fifteen[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _CHECKSUM[bits]
    return suffix


class IdFactory:
    """Issues 18-character record Ids (`003` + pod/instance + counter + checksum), unique per process."""

    def __init__(self, pod: str = "5g") -> None:
        self._pod = pod
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self, prefix: str) -> str:
        with self._lock:
            n = next(self._counter)
        digits = ""
        for _ in range(10):
            n, rem = divmod(n, 62)
            digits = _BASE62[rem] + digits
        fifteen = f"{prefix}{self._pod}{digits}"
        return fifteen + _checksum(fifteen)


@dataclass
class OrgLimits:
    """The org's daily API request allocation, counted per REST/Bulk request (logins are free)."""

    daily_requests: int = 100_000
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def spend(self) -> bool:
        """Count one request; False when the allocation is already spent (the request is refused)."""
        with self._lock:
            if self.used >= self.daily_requests:
                return False
            self.used += 1
            return True

    def header(self) -> str:
        with self._lock:
            return f"api-usage={self.used}/{self.daily_requests}"
