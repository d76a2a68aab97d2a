"""Field-level state: which of a row's fields a write sends, and what it leaves confirmed in the destination.

The diff finds rows whose data changed by one hash over the source columns; this module works on the few rows the
diff planned, field by field, against the values last confirmed in the destination (`activate_state.fields`):

- a new record (no state before) gets every field, except nulls of `nulls: skip` fields;
- an existing record never gets an `on: create` field, nor a null for a `nulls: skip` field;
- with `update: changed_fields` (where the destination supports it) it gets only the fields whose values differ
  from the confirmed ones, plus the match field that identifies it; with `update: all`, every field it may get;
- a changed row none of whose sendable fields differ is settled without a call (its hash advances): the change
  was in a field this sync never updates, or a mapping edit that renders the same values;
- a full resync sends every field it may, changed or not (it is how a user repairs drift in the destination).

What a write leaves is kept per row (`WrittenRow`): the confirmed values after it (the sent fields merged over
the confirmed ones, restricted to the mapped fields), and the audit's `changed_fields` ({field: {"old", "new"}},
the previous values `revert` restores). A record created by the run has no `changed_fields` (reverting it deletes
it); a row synced before field-level state has no confirmed values, so its changes carry only "new".
Values are compared by their canonical JSON (`dumps_exact`), so `1.50` and `1.5`, or a Decimal and the float
holding the same number, are the same value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from activate.destinations.encoding import dumps_exact
from activate.plan.mapping import wire_value
from activate.state.changes import WrittenRow

if TYPE_CHECKING:
    from activate.plan.mapping import RowMapping

_EXACT_DECODER = json.JSONDecoder(parse_float=Decimal)  # built once: `json.loads(parse_float=)` builds one per call

__all__ = ["FieldRules", "FieldWrite", "deleted_row", "encode_fields", "parse_fields", "plan_fields", "same_value"]


def parse_fields(text: str) -> dict[str, Any]:
    """A stored JSON object of field values, numbers kept exact (then as `wire_value` hands them to writers)."""
    value = _EXACT_DECODER.decode(text)
    if not isinstance(value, dict):
        raise ValueError("stored field values are not a JSON object")
    return {k: wire_value(v) for k, v in value.items()}


# The standard library's C encoder writes str, int, bool, None and finite floats exactly as `dumps_exact` does
# (compact, not ASCII-escaped, floats by repr) at a fraction of simplejson's per-call cost; anything else (a
# Decimal, a nested value, a date, a non-finite float) goes through `dumps_exact`.
_PLAIN_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)
_PLAIN_TYPES = frozenset({str, int, bool, type(None)})


def encode_fields(values: Mapping[str, Any]) -> str:
    """Canonical JSON of field values (sorted keys, exact decimals)."""
    for value in values.values():
        kind = type(value)
        if kind not in _PLAIN_TYPES and not (kind is float and math.isfinite(value)):
            return dumps_exact(dict(values), sort_keys=True)
    return _PLAIN_ENCODER.encode(values if type(values) is dict else dict(values))


def same_value(a: Any, b: Any) -> bool:
    """Whether two field values are the same on the wire."""
    if type(a) is type(b) and not isinstance(a, (dict, list, Decimal)):
        return bool(a == b)
    return dumps_exact(wire_value(a), sort_keys=True) == dumps_exact(wire_value(b), sort_keys=True)


@dataclass(frozen=True)
class FieldRules:
    """A sync's per-field rules, and whether changed rows may be sent only their changed fields."""

    create_only: frozenset[str]
    skip_nulls: frozenset[str]
    match: str | None
    partial: bool
    force: bool = False  # a full resync: every field a record may get, changed or not
    # the mapped destination fields: a row's confirmed values keep these (and the fields its write renders)
    mapped: frozenset[str] = frozenset()

    @classmethod
    def of(cls, mapping: RowMapping, *, partial: bool, force: bool = False) -> FieldRules:
        return cls(
            frozenset(f.field for f in mapping.fields if f.on_create_only),
            frozenset(f.field for f in mapping.fields if f.skip_nulls),
            mapping.spec.match,
            partial and not force,
            force,
            frozenset(f.field for f in mapping.fields),
        )


@dataclass(frozen=True)
class FieldWrite:
    """One row's write: the fields to send (None: nothing to send, settle the row without a call) and what it
    leaves should it succeed."""

    send: dict[str, Any] | None
    written: WrittenRow
    changed: tuple[str, ...]  # the fields whose confirmed value the write changes (for the plan and the audit)


def plan_fields(
    rules: FieldRules,
    rendered: Mapping[str, Any],
    previous_fields: str | None,
    previous_hash: str | None,
    *,
    creates: bool,
) -> FieldWrite:
    """The fields one row's write sends and what it leaves, from its rendered fields and its confirmed ones.

    `creates`: the write may create the record (an insert, or an upsert of a row with no state, which may also meet
    a record made outside activate): it carries every field, `on: create` ones included. An update of a row with
    no state (update mode) finds its record by the match field and never gets `on: create` fields."""
    new_record = creates
    if not rules.skip_nulls and (new_record or not rules.create_only):
        sendable = dict(rendered)  # no rule drops a field (the common case, and every row of a first sync)
    else:
        sendable = {
            name: value
            for name, value in rendered.items()
            if not (value is None and name in rules.skip_nulls) and (new_record or name not in rules.create_only)
        }
    if new_record or previous_hash is None:
        # `sendable` is this function's own copy: it is both what is sent and what is confirmed
        return FieldWrite(sendable, WrittenRow(encode_fields(sendable), None, None), tuple(sendable))
    previous = parse_fields(previous_fields) if previous_fields else None
    if previous is None:
        # synced before field-level state: what the destination holds is unknown, so the full row goes
        changes = {name: {"new": value} for name, value in sendable.items()}
        written = WrittenRow(encode_fields(sendable), encode_fields(changes), previous_hash)
        return FieldWrite(dict(sendable), written, tuple(sendable))
    differing = {
        name: value for name, value in sendable.items() if name not in previous or not same_value(previous[name], value)
    }
    if not differing and not rules.force:
        return FieldWrite(None, WrittenRow(None, None, previous_hash), ())
    send = dict(differing) if rules.partial and not rules.force else dict(sendable)
    if rules.match is not None and rules.match in rendered:
        send[rules.match] = rendered[rules.match]
    merged = {**previous, **send}
    # a write need not render every field (a revert renders the fields it restores): the other mapped ones stay
    confirmed = {name: value for name, value in merged.items() if name in rendered or name in rules.mapped}
    changes = {name: {"old": previous.get(name), "new": value} for name, value in differing.items()}
    written = WrittenRow(encode_fields(confirmed), encode_fields(changes), previous_hash)
    return FieldWrite(send, written, tuple(differing))


def deleted_row(previous_fields: str | None, previous_hash: str | None) -> WrittenRow:
    """What deleting a record leaves: every confirmed field goes from its value to nothing (revert re-creates it)."""
    if not previous_fields:
        return WrittenRow(None, None, previous_hash)
    changes = {name: {"old": value, "new": None} for name, value in parse_fields(previous_fields).items()}
    return WrittenRow(None, encode_fields(changes), previous_hash)
