"""The REST requests the writer sends, one function per request (each is one `send` for the ApiCaller).

sObject Collections (`allOrNone: false`, at most 200 records, results in request order):
upsert `PATCH composite/sobjects/{SObject}/{ExtField}`, create `POST composite/sobjects`, update
`PATCH composite/sobjects`, delete `DELETE composite/sobjects?ids=...`; plus SOQL lookups by External ID.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from activate.destinations.encoding import dumps_exact, plain_number

if TYPE_CHECKING:
    from simple_salesforce.api import Salesforce

MAX_RECORDS = 200
# Salesforce refuses a request URI over 16,384 bytes with 414, and a URI and headers over 16,384 bytes together with
# 431 (help article 000386264). A SOQL `IN (...)` list travels in the GET URI, percent-encoded (a CJK character is 9
# bytes there), so lookups are split by encoded size; HEADER_ALLOWANCE keeps room for our headers (bearer token,
# user agent, ...), which take well under 1 KB.
MAX_URI_BYTES = 16_384
HEADER_ALLOWANCE = 2_048
_NUMERIC = frozenset({"double", "int", "long", "currency", "percent"})


def record(sobject: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """An sObject Collections record. A lookup by external id, mapped as `Relationship.ExternalIdField`, is sent
    as Salesforce's nested reference `"Relationship": {"ExternalIdField": value}`; a null value clears the lookup
    field itself (`AccountId` for `Account`, `Parent__c` for `Parent__r`), since a reference to nothing is refused.
    """
    body: dict[str, Any] = {"attributes": {"type": sobject}}
    for name, value in fields.items():
        relationship, dot, parent_field = name.partition(".")
        if not dot:
            body[name] = value
        elif value is None:
            body[lookup_field(relationship)] = None
        else:
            body.setdefault(relationship, {})[parent_field] = value
    return body


def lookup_field(relationship: str) -> str:
    """The lookup field a relationship name sets, by Salesforce's naming rule (`Account` -> `AccountId`,
    `Parent__r` -> `Parent__c`)."""
    return relationship[:-3] + "__c" if relationship.endswith("__r") else relationship + "Id"


def _results(value: Any, expected: int) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) != expected:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise ValueError(f"Salesforce returned {got} results for {expected} records")
    return [dict(item) for item in value]


def upsert(
    sf: Salesforce, sobject: str, external_field: str, records: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    body = dumps_exact({"allOrNone": False, "records": list(records)})
    return _results(
        sf.restful(f"composite/sobjects/{sobject}/{external_field}", method="PATCH", data=body), len(records)
    )


def create(sf: Salesforce, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    body = dumps_exact({"allOrNone": False, "records": list(records)})
    return _results(sf.restful("composite/sobjects", method="POST", data=body), len(records))


def update(sf: Salesforce, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    body = dumps_exact({"allOrNone": False, "records": list(records)})
    return _results(sf.restful("composite/sobjects", method="PATCH", data=body), len(records))


def delete(sf: Salesforce, ids: Sequence[str]) -> list[dict[str, Any]]:
    params = {"ids": ",".join(ids), "allOrNone": "false"}
    return _results(sf.restful("composite/sobjects", params=params, method="DELETE"), len(ids))


def describe(sf: Salesforce, sobject: str) -> dict[str, Any]:
    result = sf.restful(f"sobjects/{sobject}/describe")
    return dict(result or {})


def soql_literal(value: Any, field_type: str) -> str:
    if field_type in _NUMERIC:
        if isinstance(value, Decimal):
            return plain_number(value)
        return str(float(value)) if not str(value).lstrip("-").isdigit() else str(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def lookup_soql(sobject: str, field: str, literals: Sequence[str]) -> str:
    return f"SELECT Id, {field} FROM {sobject} WHERE {field} IN ({', '.join(literals)})"


def query_uri_bytes(api_version: str, soql: str) -> int:
    """Bytes of the request URI `sf.query(soql)` sends (`requests` encodes the query as quote_plus does)."""
    return len(f"/services/data/v{api_version}/query/?q=".encode()) + len(quote_plus(soql, safe=""))


def lookup_chunks(
    values: Iterable[Any], field_type: str, *, sobject: str, field: str, api_version: str
) -> Iterator[list[str]]:
    """SOQL literals for `values`, chunked so each lookup's encoded GET URI stays within Salesforce's limit (and at
    most 200 values, which match at most 200 records: one page of results)."""
    budget = MAX_URI_BYTES - HEADER_ALLOWANCE - query_uri_bytes(api_version, lookup_soql(sobject, field, []))
    separator = len(quote_plus(", ", safe=""))
    chunk: list[str] = []
    size = 0
    for value in values:
        literal = soql_literal(value, field_type)
        cost = len(quote_plus(literal, safe=""))
        if chunk and (size + separator + cost > budget or len(chunk) >= MAX_RECORDS):
            yield chunk
            chunk, size = [], 0
        size += cost + (separator if chunk else 0)
        chunk.append(literal)
    if chunk:
        yield chunk


def lookup(sf: Salesforce, sobject: str, field: str, literals: Sequence[str]) -> dict[str, list[str]]:
    """External ID value (as text) -> Ids of the records that carry it.

    One request: at most 200 values of a unique field match at most 200 records, inside SOQL's first page (2,000).
    """
    soql = lookup_soql(sobject, field, literals)
    found: dict[str, list[str]] = {}
    result: Any = sf.query(soql)
    for row in result.get("records", []):
        found.setdefault(match_text(row.get(field)), []).append(str(row["Id"]))
    return found


def match_text(value: Any) -> str:
    """External ID values compared as text (the CSV and SOQL forms of 42 and 42.0 agree)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
