"""Exact wire encodings of field values, shared by every writer that builds its own request body.

A rendered field value is JSON-ready, with one addition: a `decimal.Decimal` holds a number no float can carry
(`DECIMAL(38,10)` `9999999999999999999999999999.9999999999`; `activate.plan.mapping.wire_value` turns every
decimal a float holds exactly into that float, so only these stay decimals). Each destination puts it on the wire
without losing a digit:

- JSON bodies we encode ourselves (webhook, Salesforce REST): an exact JSON number literal, through simplejson's
  `use_decimal` (the standard library's encoder can only write a Decimal as a string, which would make one row's
  number a string while its neighbour's is a number);
- string-typed APIs (HubSpot properties, Bulk API CSV cells, SOQL literals): the plain decimal text (`format 'f'`,
  never an exponent);
- bodies an SDK encodes with the standard library (Slack's blocks and metadata): decimals as their plain text,
  through `decimals_as_text` (the SDK would otherwise fail on them).

Integers are Python ints (HUGEINT, BIGINT): both encodings keep every digit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import simplejson


def dumps_exact(value: Any, *, sort_keys: bool = False) -> str:
    """Compact JSON (UTF-8 text, not ASCII-escaped) with decimals as exact number literals.

    Anything else JSON does not know is written as its `str()`, as the writers always did (dates, UUIDs).
    """
    text: str = simplejson.dumps(
        value,
        use_decimal=True,
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=sort_keys,
        default=str,
    )
    return text


def plain_number(value: Decimal) -> str:
    """A decimal as plain digits: `12.50`, `10000000000000000000000000000` (never `1E+28`)."""
    return format(value, "f")


def decimals_as_text(value: Any) -> Any:
    """`value` with every Decimal, however deep in lists and dicts, replaced by its plain text."""
    if isinstance(value, Decimal):
        return plain_number(value)
    if isinstance(value, list):
        return [decimals_as_text(v) for v in value]
    if isinstance(value, dict):
        return {k: decimals_as_text(v) for k, v in value.items()}
    return value


__all__ = ["decimals_as_text", "dumps_exact", "plain_number"]
