"""Turn pydantic's `ValidationError` into positioned, friendly `ConfigIssue`s.

pydantic reports `loc` tuples that mix the keys the user wrote with union branch tags (`str`, `list[str]`, a
discriminator value). The keys are recovered by walking `loc` along the model's annotations and the data together:
a step taken where the annotation is a union, or that is not a key (or index) of the data there, is a tag. Errors
from the branches of one union at one place are merged into a single "expected a string or a list" message, unless
one branch matched the value's shape, whose errors are then the precise ones to report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from activate.config.document import Document
from activate.config.hints import quote_hint, show, suggest
from activate.config.positions import PathPart
from activate.config.schema import branch, child_types, expand, is_secret, keys_at, literal_values, types_at
from activate.errors import ConfigIssue

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "none_required": "null",
}
_BOUNDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}
_SHAPE_ERRORS = frozenset({"list_type", "dict_type", "model_type", "string_type", "model_attributes_type"})


@dataclass(frozen=True)
class _Located:
    """One pydantic error with its loc split into data path and union tags."""

    parts: tuple[PathPart, ...]  # the keys/indices written in the file
    union_at: int | None  # len(parts) when the first union tag appeared, else None
    tags: tuple[str, ...]
    error: dict[str, Any]


def validation_issues(
    doc: Document, model: Any, data: Any, exc: ValidationError, prefix: tuple[PathPart, ...] = ()
) -> list[ConfigIssue]:
    """Issues for every error of `exc`, raised validating `data` (found at `prefix` in `doc`) as `model`."""
    located = [_locate(dict(err), data, model) for err in exc.errors(include_url=False)]
    issues: list[ConfigIssue] = []
    unions: dict[tuple[PathPart, ...], list[_Located]] = {}
    for item in located:
        if item.union_at is None:
            issues.append(_issue(doc, model, item, prefix))
        else:
            unions.setdefault(item.parts[: item.union_at], []).append(item)
    for point, members in unions.items():
        issues.extend(_union_issues(doc, model, point, members, prefix))
    return sorted(issues, key=lambda i: (i.line or 0, i.column or 0))


def _locate(error: dict[str, Any], data: Any, model: Any) -> _Located:
    loc = tuple(error["loc"])
    parts: list[PathPart] = []
    tags: list[str] = []
    union_at: int | None = None
    cursor = data
    candidates = expand(model)
    for position, step in enumerate(loc):
        last = position == len(loc) - 1
        in_mapping = isinstance(cursor, dict) and step in cursor
        in_list = isinstance(cursor, list) and isinstance(step, int) and 0 <= step < len(cursor)
        # pydantic prefixes errors inside a union with the branch's tag, which may equal a key of the data
        # (`auth: {method: password, password: ...}`), so the schema decides first whether this step is a tag.
        if len(candidates) > 1 or not (in_mapping or in_list or (last and error["type"] == "missing")):
            if union_at is None:
                union_at = len(parts)
            tags.append(str(step))
            candidates = branch(candidates, str(step))
            continue
        parts.append(str(step) if isinstance(cursor, dict) else step)
        candidates = child_types(candidates, parts[-1]) if candidates else []
        if in_mapping or in_list:
            cursor = cursor[step]
    return _Located(tuple(parts), union_at, tuple(tags), error)


def _union_issues(
    doc: Document,
    model: Any,
    point: tuple[PathPart, ...],
    members: list[_Located],
    prefix: tuple[PathPart, ...],
) -> list[ConfigIssue]:
    branches: dict[str, list[_Located]] = {}
    for item in members:
        branches.setdefault(item.tags[0], []).append(item)
    # A single branch is a discriminated union (the tag is the discriminator's value): its errors are exact.
    for errors in branches.values():
        matched = len(branches) == 1 or any(
            len(e.parts) > len(point) or e.error["type"] not in _SHAPE_ERRORS for e in errors
        )
        if matched:
            return [_issue(doc, model, e, prefix) for e in errors]
    expected = []
    for errors in branches.values():
        text = _EXPECTED.get(errors[0].error["type"], errors[0].tags[0])
        if text not in expected:
            expected.append(text)
    value = members[0].error.get("input")
    secret = is_secret(types_at(model, point))
    path = (*prefix, *point)
    return [doc.issue(path, f"expected {' or '.join(expected)}, got {show(value, secret=secret)}")]


def _issue(doc: Document, model: Any, item: _Located, prefix: tuple[PathPart, ...]) -> ConfigIssue:
    error = item.error
    kind = error["type"]
    parts = item.parts
    path = (*prefix, *parts)
    value = error.get("input")
    secret = is_secret(types_at(model, parts))
    ctx = error.get("ctx") or {}

    if kind == "missing":
        parent = path[:-1]
        return doc.issue(parent, f"missing required key '{parts[-1]}'", at_value=False)
    if kind == "extra_forbidden":
        key = str(parts[-1])
        valid = keys_at(model, parts[:-1])
        return doc.issue(path[:-1], f"unknown key '{key}'", suggest(key, valid, "valid keys"), at=path, at_value=False)
    if kind == "literal_error":
        allowed = literal_values(types_at(model, parts)) or re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = suggest(str(value), allowed, "valid values") if isinstance(value, str) and not secret else None
        if hint and not hint.startswith("did you mean"):
            hint = None
        return doc.issue(path, f"{show(value, secret=secret)} is not one of {', '.join(allowed)}", hint)
    if kind == "union_tag_invalid":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        field = str(ctx.get("discriminator", "")).strip("'")
        tag = str(ctx.get("tag", ""))
        hint = suggest(tag, allowed, "valid values")
        return doc.issue((*path, field), f"'{tag}' is not one of {', '.join(allowed)}", hint)
    if kind == "union_tag_not_found":
        field = str(ctx.get("discriminator", "")).strip("'")
        return doc.issue(path, f"missing required key '{field}'", at_value=False)
    if kind in ("value_error", "assertion_error"):
        return doc.issue(path, _reason(error))
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        return doc.issue(path, f"must be {words} {ctx.get(key)}, got {show(value, secret=secret)}")
    if kind in _EXPECTED:
        hint = quote_hint(value) if kind == "string_type" and not secret else None
        return doc.issue(path, f"expected {_EXPECTED[kind]}, got {show(value, secret=secret)}", hint)
    message = str(error.get("msg", kind))
    message = message[:1].lower() + message[1:]
    return doc.issue(path, f"{message}, got {show(value, secret=secret)}")


def _reason(error: dict[str, Any]) -> str:
    cause = (error.get("ctx") or {}).get("error")
    text = str(cause) if cause is not None else str(error.get("msg", ""))
    return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
