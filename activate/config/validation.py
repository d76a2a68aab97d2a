"""Turn pydantic's `ValidationError` into positioned, friendly `ConfigIssue`s.

pydantic reports `loc` tuples that mix the keys the user wrote with union branch tags (`str`, `list[str]`, a
discriminator value). The keys are recovered by walking `loc` along the model's annotations and the data together:
a step taken where the annotation is a union, or that is not a key (or index) of the data there, is a tag. Errors
from the branches of one union at one place are merged into a single "expected a string or a list" message, unless
one branch matched the value's shape, whose errors are then the precise ones to report.

A value that came from a reference (`names`: path -> the value as written) is never echoed: the message names the
reference instead (`the value of ${PW} is not a number`), whatever the field, because the engine cannot know which
environment variables hold secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from activate.config.document import Document
from activate.config.hints import quote_hint, show, suggest
from activate.config.positions import PathPart, format_path
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
    doc: Document,
    model: Any,
    data: Any,
    exc: ValidationError,
    prefix: tuple[PathPart, ...] = (),
    *,
    names: Mapping[str, str] | None = None,
) -> list[ConfigIssue]:
    """Issues for every error of `exc`, raised validating `data` (found at `prefix` in `doc`) as `model`.

    `names` maps the paths (from the document root) of values that held a reference to the value as written.
    """
    located = [_locate(dict(err), data, model) for err in exc.errors(include_url=False)]
    issues: list[ConfigIssue] = []
    unions: dict[tuple[PathPart, ...], list[_Located]] = {}
    names = names or {}
    for item in located:
        if item.union_at is None:
            issues.append(_issue(doc, model, item, prefix, names))
        else:
            unions.setdefault(item.parts[: item.union_at], []).append(item)
    for point, members in unions.items():
        issues.extend(_union_issues(doc, model, point, members, prefix, names))
    return sorted(issues, key=lambda i: (i.line or 0, i.column or 0))


def value_of(written: str) -> str:
    """How a message names a value that came from a reference: `the value of ${PW}`."""
    whole = written.startswith("${") and written.endswith("}") and written.count("${") == 1
    return f"the value of {written}" if whole else f"the value of {written!r}"


def hide_values(issue: ConfigIssue, values: Mapping[str, list[str]], names: Mapping[str, str]) -> ConfigIssue:
    """`issue` with every value substituted at or below its path replaced by the reference that gave it.

    The second line of defence behind the messages above: a validator's own text (`expected an http:// URL, got
    'ftp://u:LEAKME@host'`) still never shows what the environment held.
    """
    message, hint = issue.message, issue.hint
    for path, found in values.items():
        if issue.path and path != issue.path and not path.startswith((issue.path + ".", issue.path + "[")):
            continue
        label = value_of(names.get(path, "a reference"))
        for value in sorted(found, key=len, reverse=True):
            if not value:
                continue
            for shown in (repr(value), f'"{value}"', *([value] if len(value) >= _MIN_HIDDEN else [])):
                message = message.replace(shown, label)
                hint = hint.replace(shown, label) if hint else hint
    if (message, hint) == (issue.message, issue.hint):
        return issue
    return replace(issue, message=message, hint=hint)


_MIN_HIDDEN = 4


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
    names: Mapping[str, str],
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
            return [_issue(doc, model, e, prefix, names) for e in errors]
    expected = []
    for errors in branches.values():
        text = _EXPECTED.get(errors[0].error["type"], errors[0].tags[0])
        if text not in expected:
            expected.append(text)
    value = members[0].error.get("input")
    secret = is_secret(types_at(model, point))
    path = (*prefix, *point)
    written = names.get(format_path(path))
    if written is not None:
        return [doc.issue(path, f"{value_of(written)} is not {' or '.join(expected)}")]
    # a number or date where text is one of the choices (`zip: 75001` in a mapping): say how to keep it as text
    hint = quote_hint(value) if _EXPECTED["string_type"] in expected and not secret else None
    return [doc.issue(path, f"expected {' or '.join(expected)}, got {show(value, secret=secret)}", hint)]


def _issue(
    doc: Document, model: Any, item: _Located, prefix: tuple[PathPart, ...], names: Mapping[str, str]
) -> ConfigIssue:
    error = item.error
    kind = error["type"]
    parts = item.parts
    path = (*prefix, *parts)
    value = error.get("input")
    secret = is_secret(types_at(model, parts))
    ctx = error.get("ctx") or {}
    written = names.get(format_path(path))
    if written is not None and kind not in ("missing", "extra_forbidden", "union_tag_invalid", "union_tag_not_found"):
        return doc.issue(path, _named_message(kind, value_of(written), error, model, parts))

    if kind == "missing":
        parent = path[:-1]
        return doc.issue(parent, f"missing required key '{parts[-1]}'", at_value=False)
    if kind == "extra_forbidden":
        key = str(parts[-1])
        valid = keys_at(model, parts[:-1])
        return doc.issue(path[:-1], f"unknown key '{key}'", suggest(key, valid, "valid keys"), at=path, at_value=False)
    if kind == "invalid_key":
        # `null: skip`, `yes: 1`: YAML reads the key as a value, not a name; the loc holds only its text
        written = show(value)
        valid = keys_at(model, parts)
        hint = suggest(written, valid, "valid keys") if valid else None
        return doc.issue(
            path,
            f"a key YAML reads as {written} is not a name",
            f'quote it ("{written}")' + (f", or {hint}" if hint else ""),
        )
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


def _named_message(kind: str, label: str, error: dict[str, Any], model: Any, parts: tuple[PathPart, ...]) -> str:
    """The message about a value that came from a reference, naming the reference and never the value."""
    ctx = error.get("ctx") or {}
    if kind == "literal_error":
        allowed = literal_values(types_at(model, parts)) or re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"{label} is not one of {', '.join(allowed)}"
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        return f"{label} must be {words} {ctx.get(key)}"
    if kind in _EXPECTED:
        return f"{label} is not {_EXPECTED[kind]}"
    reason = _reason(error) if kind in ("value_error", "assertion_error") else str(error.get("msg", kind))
    value = error.get("input")
    if isinstance(value, str) and value:
        reason = reason.replace(repr(value), label).replace(value, label)
    reason = reason[:1].lower() + reason[1:]
    return f"{label} is not valid: {reason}"


def _reason(error: dict[str, Any]) -> str:
    cause = (error.get("ctx") or {}).get("error")
    text = str(cause) if cause is not None else str(error.get("msg", ""))
    return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
