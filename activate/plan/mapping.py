"""A sync's mapping: which source columns it reads, and how a row becomes destination fields.

A mapping value is a column name (`firstname: first_name`) or a Jinja template over `row`
(`lifetime_value: "{{ row.ltv | round(2) }}"`). Templates run in a sandbox with StrictUndefined (a typo is an
error, never an empty string) and a native-types environment, so `{{ row.score }}` stays a number. The Slack
message (`message.text`, `message.blocks`) and a templated `channel` are rendered the same way into the fields
`text`, `blocks` and `channel`.

Only rows that will be written are rendered; hashing reads the same columns in bulk (see `activate.diff`).

Numbers stay exact from the warehouse to the wire: the staged payload is parsed with non-integers as `Decimal`,
template arithmetic runs with enough decimal digits for any DECIMAL(38) operands, a template that renders number
text keeps it exact, and `wire_value` hands a writer a float only when that float is the same number (every other
decimal stays a `Decimal`, which `activate.destinations.encoding` writes digit for digit).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import TemplateError
from jinja2.nativetypes import NativeEnvironment, NativeTemplate, native_concat
from jinja2.sandbox import SandboxedEnvironment

from activate.config.models import DestinationSpec
from activate.config.templates import is_template, reads_whole_row, template_columns_used

ALL_COLUMNS = None
# Decimal digits for template arithmetic: the product of two DECIMAL(38) values is exact (the default 28 would
# round a DECIMAL(38,10) silently).
DECIMAL_DIGITS = 76


def _exact_native_concat(values: Iterable[Any]) -> Any:
    """Jinja's native concat, except that number text a float cannot hold exactly becomes a `Decimal`.

    Native rendering parses a rendered string with `ast.literal_eval`, so `{{ row.amount | string }}` of
    `9999999999999999999999999999.9999999999` would come back as the float `1e+28`.
    """
    parts = list(values)
    value = native_concat(parts)
    if isinstance(value, float):
        text = "".join(str(p) for p in parts).strip()
        try:
            exact = Decimal(text)
        except InvalidOperation:
            return value
        if Decimal(repr(value)) != exact:
            return exact
    return value


class _Env(NativeEnvironment, SandboxedEnvironment):
    """Sandboxed (a sync file cannot reach Python internals) and native (numbers stay numbers, exactly)."""

    concat = staticmethod(_exact_native_concat)


class _Template(NativeTemplate):
    # NativeTemplate.render concatenates through its `environment_class`, not the environment it was made by
    environment_class = _Env


_Env.template_class = _Template


_ENV = _Env(undefined=StrictUndefined, autoescape=False)


class RenderError(Exception):
    """A row could not be rendered (the row is rejected with this message)."""


def template_columns(source: str) -> set[str] | None:
    """Columns a template reads; None when it uses `row` as a whole (then every column counts)."""
    return ALL_COLUMNS if reads_whole_row(source) else template_columns_used(source)


@dataclass(frozen=True)
class FieldSource:
    """Where one destination field comes from (a column, or a template and the columns it reads), and the rules of
    its mapping's long form: `on_create_only` (`on: create`: written only when the record is created) and
    `skip_nulls` (`nulls: skip`: a null is never sent, so it never clears the destination value)."""

    field: str
    column: str | None
    template: str | None
    columns: frozenset[str] | None  # None: the whole row
    on_create_only: bool = False
    skip_nulls: bool = False


def _template_strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _template_strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _template_strings(item)


class RowMapping:
    """Compiled mapping of one sync."""

    def __init__(self, spec: DestinationSpec) -> None:
        self.spec = spec
        self.fields: list[FieldSource] = []
        for name, rule in spec.field_mappings().items():
            if rule.template is not None:
                cols = template_columns(rule.template)
                column, template, columns = None, rule.template, None if cols is None else frozenset(cols)
            else:
                column, template, columns = rule.source, None, frozenset({rule.source})
            create_only, skip_nulls = rule.on == "create", rule.nulls == "skip"
            self.fields.append(FieldSource(name, column, template, columns, create_only, skip_nulls))
        self._templates = {f.field: _ENV.from_string(f.template) for f in self.fields if f.template is not None}
        # Association key columns are read (and hashed) like mapped columns: a changed key re-associates the row.
        self.association_keys = [a.key for a in spec.associations]
        self._extra: dict[str, Any] = {}
        if spec.message is not None:
            self._extra["text"] = spec.message.text
            if spec.message.blocks is not None:
                self._extra["blocks"] = spec.message.blocks
        if spec.channel is not None and is_template(spec.channel):
            self._extra["channel"] = spec.channel
        self._extra_compiled = {
            text: _ENV.from_string(text)
            for value in self._extra.values()
            for text in _template_strings(value)
            if is_template(text)
        }
        # Every field a plain column: a staged payload renders by picking its columns (see `render_payload`).
        self._column_fields = (
            [(f.field, f.column) for f in self.fields if f.column is not None]
            if all(f.column is not None for f in self.fields) and not self._extra
            else None
        )

    def columns(self) -> set[str] | None:
        """Every source column the mapping reads, or None when some template reads the whole row."""
        result: set[str] = set()
        for f in self.fields:
            if f.columns is None:
                return ALL_COLUMNS
            result |= f.columns
        for text in self._extra_compiled:
            cols = template_columns(text)
            if cols is None:
                return ALL_COLUMNS
            result |= cols
        return result | set(self.association_keys)

    def render(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Destination fields for one row (JSON-ready values). Raises RenderError naming the field."""
        with localcontext(prec=DECIMAL_DIGITS):
            return self._render(row)

    def render_payload(self, payload: str | None) -> dict[str, Any]:
        """Destination fields for one staged row (its canonical JSON), the same as `render(parse_payload(...))`.

        When every field is a plain column (the common case, and the hot path of a large first sync), the payload
        is decoded straight into wire values (each number through `wire_value` as it is read) and the columns
        picked: no template context, no second walk over the values."""
        if self._column_fields is None:
            return self.render(parse_payload(payload or "{}"))
        row = _WIRE_DECODER.decode(payload or "{}")
        assert isinstance(row, dict)
        return {name: row.get(column) for name, column in self._column_fields}

    def _render(self, row: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for f in self.fields:
            if f.column is not None:
                fields[f.field] = wire_value(row.get(f.column))
                continue
            try:
                fields[f.field] = wire_value(self._templates[f.field].render(row=row))
            except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
                raise RenderError(f"mapping field {f.field!r}: {exc}") from exc
        for name, value in self._extra.items():
            try:
                rendered = self._render_value(value, row)
            except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
                raise RenderError(f"{'message.' if name != 'channel' else ''}{name}: {exc}") from exc
            if name == "blocks" and isinstance(rendered, str):
                try:
                    rendered = json.loads(rendered)
                except json.JSONDecodeError as exc:
                    raise RenderError(f"message.blocks did not render to JSON: {exc}") from exc
            if name == "text" and not isinstance(rendered, str):
                rendered = "" if rendered is None else str(rendered)
            fields[name] = rendered
        return fields

    def _render_value(self, value: Any, row: Mapping[str, Any]) -> Any:
        if isinstance(value, str):
            if value in self._extra_compiled:
                return wire_value(self._extra_compiled[value].render(row=row))
            return value
        if isinstance(value, list):
            return [self._render_value(v, row) for v in value]
        if isinstance(value, dict):
            return {k: self._render_value(v, row) for k, v in value.items()}
        return value


def wire_value(value: Any) -> Any:
    """A JSON-ready value: a decimal becomes an int or a float when that is the same number, else stays a Decimal.

    The comparisons are exact (`==` between decimals never rounds; `normalize()` would, to the context's 28 digits,
    and once made `9999999999999999999999999999.9999999999` equal to `1e+28`).
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        # written in plain digits (not an exponent, which only a float's text has) and integral: an exact int
        exponent = value.as_tuple().exponent
        plain_digits = isinstance(exponent, int) and exponent <= 0
        if value == value.to_integral_value() and (abs(value) < 2**53 or plain_digits):
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else value
    if isinstance(value, list):
        return [wire_value(v) for v in value]
    if isinstance(value, dict):
        return {k: wire_value(v) for k, v in value.items()}
    return value


def _wire_number(text: str) -> Any:
    return wire_value(Decimal(text))


# Built once: `json.loads` with a `parse_float` builds a new decoder on every call.
_EXACT_DECODER = json.JSONDecoder(parse_float=Decimal)
_WIRE_DECODER = json.JSONDecoder(parse_float=_wire_number)


def parse_payload(payload: str) -> dict[str, Any]:
    """A staged row's canonical JSON, decimals kept exact."""
    value = _EXACT_DECODER.decode(payload)
    assert isinstance(value, dict)
    return value
