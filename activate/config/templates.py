"""Mapping values and message templates: which are Jinja, whether they parse, and which source columns they read.

A mapping value is a source column name unless it contains Jinja markup (`{{` or `{%`), in which case it is a
template over `row` (the same rule as `activate.plan.mapping`, which renders them). `columns_used` tells which
source columns a value reads, so a missing one can be reported at the mapping's position.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_MARKUP = ("{{", "{%")


def is_template(value: str) -> bool:
    """Whether a mapping value is a Jinja template (otherwise it names a source column)."""
    return any(mark in value for mark in _MARKUP)


@dataclass(frozen=True)
class TemplateSyntax:
    """A Jinja syntax error: `line` is 1-based within the template text."""

    line: int
    message: str


def syntax_error(text: str) -> TemplateSyntax | None:
    """The template's syntax error, or None when it parses."""
    import jinja2

    try:
        jinja2.Environment().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return TemplateSyntax(exc.lineno or 1, exc.message or "invalid template")
    return None


def columns_used(value: str) -> set[str]:
    """The source columns a mapping value reads: the column itself, or every `row.x` / `row['x']` of a template.

    A template that cannot be parsed reads nothing as far as this function knows (its syntax error is reported
    separately).
    """
    if not is_template(value):
        return {value.strip()}
    import jinja2
    from jinja2 import nodes

    try:
        tree = jinja2.Environment().parse(value)
    except jinja2.TemplateSyntaxError:
        return set()
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr) and _is_row(node.node):
            found.add(node.attr)
        elif (
            isinstance(node, nodes.Getitem)
            and _is_row(node.node)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            found.add(node.arg.value)
    return found


def reads_whole_row(value: str) -> bool:
    """Whether a template uses `row` other than through `row.x` / `row['x']` (e.g. `row | tojson`): then its
    output depends on every column, and the row hash must cover them all."""
    if not is_template(value):
        return False
    import jinja2
    from jinja2 import nodes

    try:
        tree = jinja2.Environment().parse(value)
    except jinja2.TemplateSyntaxError:
        return False
    names = sum(1 for n in tree.find_all(nodes.Name) if n.name == "row")
    accessed = 0
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if (
            isinstance(node, nodes.Getattr)
            and _is_row(node.node)
            or (
                isinstance(node, nodes.Getitem)
                and _is_row(node.node)
                and isinstance(node.arg, nodes.Const)
                and isinstance(node.arg.value, str)
            )
        ):
            accessed += 1
    return names > accessed


def _is_row(node: Any) -> bool:
    from jinja2 import nodes

    return isinstance(node, nodes.Name) and node.name == "row"


def template_strings(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string inside a nested value (Slack `blocks`), with its path below `value`."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from template_strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from template_strings(item, (*path, index))
