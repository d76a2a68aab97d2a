"""Mapping values and message templates: which are Jinja, whether they parse, and which source columns they read.

A mapping value is a source column name unless it contains Jinja markup (`{{` or `{%`), in which case it is a
template over `row` (the same rule as `activate.plan.mapping`, which renders them). `columns_used` tells which
source columns a value reads, so a missing one can be reported at the mapping's position.

`template_problem` is the validation of a template before any row exists: syntax, then a walk of the parsed tree
for what would only fail (or be refused by the sandbox) at render time: unknown filters and tests, attributes and
keys starting with `_` (`cycler.__init__.__globals__`, `''.__class__.__mro__`), and tags that load other templates.
The sandbox stays as the second line of defence at render time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from activate.config.hints import did_you_mean

if TYPE_CHECKING:
    from jinja2 import Environment

_MARKUP = ("{{", "{%")


def is_template(value: str) -> bool:
    """Whether a mapping value is a Jinja template (otherwise it names a source column)."""
    return any(mark in value for mark in _MARKUP)


@dataclass(frozen=True)
class TemplateSyntax:
    """What is wrong with a template (a syntax error, an unknown filter, ...): `line` is 1-based within its text."""

    line: int
    message: str
    hint: str | None = None


@cache
def environment() -> Environment:
    """The environment templates are checked against: a sandboxed one with Jinja's built-in filters and tests,
    the same set the run's rendering environment (`activate.plan.mapping`) offers."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def template_problem(text: str) -> TemplateSyntax | None:
    """The first thing that would make the template fail or be refused at render time, or None."""
    import jinja2
    from jinja2 import nodes

    env = environment()
    try:
        tree = env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return TemplateSyntax(exc.lineno or 1, exc.message or "invalid template")
    problems: list[TemplateSyntax] = []
    for node in tree.find_all(nodes.Node):
        line = getattr(node, "lineno", 1) or 1
        if isinstance(node, nodes.Filter | nodes.Test):
            kind, known = ("filter", env.filters) if isinstance(node, nodes.Filter) else ("test", env.tests)
            if node.name not in known:
                hint = did_you_mean(node.name, known) or f"Jinja's built-in {kind}s are the ones available"
                problems.append(TemplateSyntax(line, f"unknown {kind} '{node.name}'", hint))
            elif isinstance(node, nodes.Filter) and node.name == "attr" and _private(_first_const(node.args)):
                problems.append(_private_access(line, str(_first_const(node.args))))
        elif isinstance(node, nodes.Getattr) and _private(node.attr):
            problems.append(_private_access(line, node.attr))
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and _private(node.arg.value):
            problems.append(_private_access(line, node.arg.value))
        elif isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
            tag = type(node).__name__.lower().replace("fromimport", "from ... import")
            problems.append(TemplateSyntax(line, f"'{tag}' cannot be used: a mapping template cannot load others"))
    return min(problems, key=lambda p: p.line) if problems else None


def _private(name: Any) -> bool:
    return isinstance(name, str) and name.startswith("_")


def _first_const(args: list[Any]) -> Any:
    from jinja2 import nodes

    return args[0].value if args and isinstance(args[0], nodes.Const) else None


def _private_access(line: int, name: str) -> TemplateSyntax:
    return TemplateSyntax(line, f"'{name}' cannot be used: names starting with '_' are internal to Python")


def columns_used(value: str) -> set[str]:
    """The source columns a mapping value reads: the column itself, or every `row.x` / `row['x']` of a template.

    A template that cannot be parsed reads nothing as far as this function knows (its syntax error is reported
    separately).
    """
    if not is_template(value):
        return {value.strip()}
    return template_columns_used(value)


def template_columns_used(text: str) -> set[str]:
    """The source columns a template reads (`row.x`, `row['x']`), markup or not: a long-form `template:` without
    markup is constant text, which reads no column."""
    import jinja2
    from jinja2 import nodes

    try:
        tree = jinja2.Environment().parse(text)
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
