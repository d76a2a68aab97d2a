"""What a project file may contain beyond YAML syntax: limits that keep a hostile or broken file from hanging,
crashing or reaching code.

A project file is read by `activate validate` on a developer's laptop and by every scheduled run, so a file that
expands to billions of values (aliases of aliases), nests thousands of levels (recursion in the composer), or asks
for arbitrary Python objects (`!!python/object/apply:`) must become an ordinary positioned config error:

- size: at most `MAX_FILE_BYTES`; ruamel's pure-Python parser reads about half a megabyte a second, so the limit
  keeps `validate` within seconds, and a real sync file is a few kilobytes;
- depth: at most `MAX_DEPTH` nested collections (ruamel's own `max_depth`, checked while composing); flow
  collections (`[[[...`) are also counted before parsing, because ruamel's scanner reads a whole flow run ahead
  of the composer in time quadratic in its depth (5,000 levels: seconds);
- aliases: the values aliases add once expanded are counted on the composed node graph, where each anchor is one
  shared node, so the count costs one pass over the file's own nodes however large the expansion would be; a file
  past `MAX_ALIAS_VALUES` is refused at the alias that crossed the limit, and an alias inside its own anchor
  (`&a [*a]`) is refused as a cycle;
- tags: only the YAML core schema (strings, numbers, booleans, null, dates, mappings, lists, `<<` merges); every
  other tag (`!!python/...`, `!!binary`, `!!set`, `!custom`) is an error at its position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.composer import Composer
from ruamel.yaml.events import AliasEvent

MAX_FILE_BYTES = 1_048_576
"""1 MB: a generous hundred times the largest real sync file; large SQL belongs in `source.file:`."""
MAX_DEPTH = 100
MAX_ALIAS_VALUES = 100_000
"""Values added by expanding aliases; a shared block of 200 values reused by 500 entries stays well below."""

_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq", "merge")
)


@dataclass(frozen=True)
class AliasUse:
    """One `*alias` of the file: the node it stands for and where it is written (0-based, as ruamel marks)."""

    name: str
    node: Any
    line: int
    column: int


class AliasRecordingComposer(Composer):  # type: ignore[misc]
    """ruamel's composer, remembering every alias it resolves (ruamel keeps no trace of them once composed)."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        # Reusing an anchor name is valid YAML (the later one wins); ruamel's warning would reach the terminal.
        self.warn_double_anchors = False
        self.aliases: list[AliasUse] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.parser.check_event(AliasEvent):
            return super().compose_node(parent, index)
        event = self.parser.peek_event()
        node = super().compose_node(parent, index)
        self.aliases.append(AliasUse(str(event.anchor), node, event.start_mark.line, event.start_mark.column))
        return node


@dataclass(frozen=True)
class GraphProblem:
    """A limit a composed file breaks: where (1-based), what, and the fix."""

    line: int
    column: int
    message: str
    hint: str


@dataclass
class _Walk:
    """One pass over the distinct nodes: each node's expanded size, and the tags that are not allowed."""

    sizes: dict[int, int] = field(default_factory=dict)
    open: set[int] = field(default_factory=set)
    cyclic: list[Any] = field(default_factory=list)
    problems: list[GraphProblem] = field(default_factory=list)

    def size(self, node: Any) -> int:
        """Values in `node` once every alias below it is expanded (1 for a scalar); memoised by node identity."""
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.open:
            self.cyclic.append(node)
            return 0
        self.open.add(key)
        tag = str(node.tag)
        if tag not in ALLOWED_TAGS:
            shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
            self.problems.append(
                GraphProblem(
                    node.start_mark.line + 1,
                    node.start_mark.column + 1,
                    f"unsupported YAML tag '{shown}'",
                    "project files hold mappings, lists, strings, numbers, booleans and dates; remove the tag, "
                    "or quote the value to keep it as text",
                )
            )
        total = 1
        if isinstance(node, MappingNode):
            for key, _ in node.value:
                if not isinstance(key, ScalarNode):
                    self.problems.append(
                        GraphProblem(
                            key.start_mark.line + 1,
                            key.start_mark.column + 1,
                            "a mapping key must be a plain value, not a list or mapping",
                            "write the key as text",
                        )
                    )
            total += sum(self.size(k) + self.size(v) for k, v in node.value)
        elif isinstance(node, SequenceNode):
            total += sum(self.size(item) for item in node.value)
        self.open.discard(key)
        self.sizes[key] = total
        return total


def check_graph(root: Any, aliases: list[AliasUse]) -> list[GraphProblem]:
    """Tags outside the core schema, aliases that form a cycle, and alias expansion past `MAX_ALIAS_VALUES`.

    The expanded size of the document is its own nodes plus, for every alias, the expanded size of the node it
    stands for; summing those in file order finds the alias at which the limit is crossed.
    """
    walk = _Walk()
    walk.size(root)
    if walk.cyclic:
        cyclic = {id(node) for node in walk.cyclic}
        use = next(a for a in aliases if id(a.node) in cyclic)
        return [
            *walk.problems,
            GraphProblem(
                use.line + 1,
                use.column + 1,
                f"alias '*{use.name}' is used inside its own anchor, which makes an endless value",
                "an alias can only repeat a value defined before and outside it",
            ),
        ]
    added = 0
    for use in aliases:
        added += walk.size(use.node)
        if added > MAX_ALIAS_VALUES:
            problem = GraphProblem(
                use.line + 1,
                use.column + 1,
                f"aliases expand this file to more than {MAX_ALIAS_VALUES:,} values (at '*{use.name}')",
                "aliases are for small shared blocks: write the values out, or stop nesting aliases of aliases",
            )
            return [*walk.problems, problem]
    return walk.problems


_QUOTED_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\\\]|\\\\.)*\"|(?:^|(?<=\s))#[^\n]*", re.MULTILINE)
_BRACKET = re.compile(r"[\[\]{}]")


def flow_depth_problem(text: str) -> GraphProblem | None:
    """Where `[`/`{` outside quotes and comments first nest deeper than `MAX_DEPTH`, before ruamel scans them.

    Brackets inside plain scalars are counted too (only an unbalanced run of a hundred could trip it); closers
    never take the count below zero, so balanced text anywhere adds nothing.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    blanked = _QUOTED_OR_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    depth = 0
    for found in _BRACKET.finditer(blanked):
        depth = depth + 1 if found.group() in "[{" else max(0, depth - 1)
        if depth > MAX_DEPTH:
            offset = found.start()
            line = text.count("\n", 0, offset) + 1
            column = offset - (text.rfind("\n", 0, offset) + 1) + 1
            return GraphProblem(line, column, depth_message(), "flatten the structure")
    return None


def depth_message() -> str:
    return f"values nested more than {MAX_DEPTH} levels deep"


def construction_problem(constructor: Any, root: Any) -> GraphProblem:
    """The first scalar whose tag cannot be applied to its text (`!!int abc`, a date like `2020-13-45`).

    Called after constructing the document failed: ruamel's exception carries no position, so each typed scalar
    is constructed again on its own until one fails.
    """
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    typed = {_CORE + name for name in ("int", "float", "bool", "null", "timestamp")}
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            stack += [part for pair in reversed(node.value) for part in reversed(pair)]
        elif isinstance(node, SequenceNode):
            stack += reversed(node.value)
        elif isinstance(node, ScalarNode) and str(node.tag) in typed:
            try:
                # the tag's own constructor, bypassing the cache where the failed attempt left this node
                constructor.yaml_constructors[str(node.tag)](constructor, node)
            except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
                shown = "!!" + str(node.tag).removeprefix(_CORE)
                # Python's own wording names int()/float(); only the date's reason ("month must be in 1..12") helps.
                reason = f": {exc}" if shown == "!!timestamp" else ""
                return GraphProblem(
                    node.start_mark.line + 1,
                    node.start_mark.column + 1,
                    f"this value cannot be read as {shown}{reason}",
                    "quote it to keep it as text",
                )
    return GraphProblem(1, 1, "the YAML values cannot be constructed", "check explicit tags and dates")
