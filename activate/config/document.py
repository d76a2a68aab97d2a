"""Read one YAML file into plain Python data plus the position of every value.

ruamel.yaml's round-trip loader is used because it keeps line and column on every mapping and list. Duplicate keys
are found on the composed node graph (ruamel's own check stops at the first one and its constructor keeps only one
value), so every duplicate of a file is reported. The data handed on is plain `dict`/`list`/scalars: pydantic then
sees ordinary types, and positions live beside the data rather than inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activate.config.positions import PathPart, Positions, Span, format_path
from activate.errors import ConfigIssue

_SYNTAX_HINTS = {
    "found character '\\t' that cannot start any token": "YAML indents with spaces, not tabs",
    "mapping values are not allowed here": "a value containing ': ' must be quoted, or an indent is off",
    "found undefined alias": "an `*alias` needs a matching `&anchor` above it",
}


@dataclass
class Document:
    """One parsed YAML file. `data` is None when the file could not be parsed (its issues say why)."""

    file: str
    text: str
    data: Any
    positions: Positions
    issues: list[ConfigIssue] = field(default_factory=list)

    def issue(
        self,
        path: str | tuple[PathPart, ...],
        message: str,
        hint: str | None = None,
        *,
        at: str | tuple[PathPart, ...] | None = None,
        at_value: bool = True,
    ) -> ConfigIssue:
        """An issue about `path`, positioned at `at` (default `path`): its value, or its key with `at_value=False`."""
        text = path if isinstance(path, str) else format_path(path)
        where = text if at is None else at if isinstance(at, str) else format_path(at)
        line, column = self.positions.value_at(where) if at_value else self.positions.at(where)
        return ConfigIssue(self.file, line, column, text, message, hint)

    def indent_of(self, line: int) -> int:
        """The 1-based column of the first non-blank character of `line`."""
        lines = self.text.splitlines()
        if not 1 <= line <= len(lines):
            return 1
        source = lines[line - 1]
        return len(source) - len(source.lstrip()) + 1

    def find(self, path: str, needle: str) -> tuple[int, int]:
        """Where `needle` first appears at or after the value of `path` (e.g. one `${VAR}` inside a string)."""
        line, column = self.positions.value_at(path)
        lines = self.text.splitlines()
        for number in range(line, min(len(lines), line + 200) + 1):
            start = column - 1 if number == line else 0
            found = lines[number - 1].find(needle, start)
            if found >= 0:
                return number, found + 1
        return line, column


def read_document(path: Path, display: str) -> Document:
    """Parse `path`; `display` is the name errors use (relative to the project root)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        issue = ConfigIssue(display, None, None, "", f"cannot read file: {exc}")
        return Document(display, "", None, Positions(display), [issue])
    return parse_document(text, display)


def parse_document(text: str, display: str) -> Document:
    """Parse YAML `text`; every syntax error and duplicate key becomes an issue."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    issues: list[ConfigIssue] = []
    loader = YAML(typ="rt")
    loader.allow_duplicate_keys = True
    # What YAML.load does, split in two so the node graph is composed (parsed) once: duplicates are found on
    # the nodes, then the same nodes are constructed into the round-trip tree that carries line/column.
    constructor, parser = loader.get_constructor_parser(text)
    try:
        node = constructor.composer.get_single_node()
        tree = None
        if node is not None:
            _find_duplicate_keys(node, (), display, issues)
            tree = constructor.construct_document(node)
    except MarkedYAMLError as exc:
        issues.append(_syntax_issue(exc, display))
        return Document(display, text, None, Positions(display), issues)
    except YAMLError as exc:
        issues.append(ConfigIssue(display, None, None, "", f"invalid YAML: {exc}"))
        return Document(display, text, None, Positions(display), issues)
    finally:
        parser.dispose()
    spans: dict[str, Span] = {"": Span((1, 1), (1, 1))}
    data = _plain(tree, (), spans)
    return Document(display, text, data, Positions(display, spans), issues)


def _syntax_issue(exc: Any, display: str) -> ConfigIssue:
    """A parser error at its mark, in words a user acts on (ruamel's `problem` with its `context` as hint)."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    if problem == "but found another document":
        return ConfigIssue(
            display,
            line,
            column,
            "",
            "invalid YAML: a file holds a single YAML document",
            "remove the `---` separator and what follows",
        )
    hint = _SYNTAX_HINTS.get(problem)
    if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
        context = f"{exc.context} started at line {exc.context_mark.line + 1}"
        hint = f"{hint}; {context}" if hint else context
    return ConfigIssue(display, line, column, "", f"invalid YAML: {problem}", hint)


def _find_duplicate_keys(node: Any, path: tuple[PathPart, ...], display: str, issues: list[ConfigIssue]) -> None:
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    if isinstance(node, MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            child = (*path, str(key))
            if key is not None and key in seen:
                issues.append(
                    ConfigIssue(
                        display,
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                        format_path(child),
                        f"duplicate key '{key}' (first defined at line {seen[key]})",
                        "remove one of them: YAML keeps only one value",
                    )
                )
            elif key is not None:
                seen[key] = key_node.start_mark.line + 1
            _find_duplicate_keys(value_node, child, display, issues)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _find_duplicate_keys(item, (*path, index), display, issues)


def _plain(value: Any, path: tuple[PathPart, ...], spans: dict[str, Span]) -> Any:
    """Copy ruamel's round-trip tree into plain Python values, recording each entry's span on the way."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

    if isinstance(value, CommentedMap):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            child = (*path, str(key))
            key_line, key_column, value_line, value_column = _entry_position(value, key)
            block = isinstance(item, LiteralScalarString | FoldedScalarString)
            if item is None:
                # An empty value has no text of its own; ruamel places it at the next token, possibly lines below.
                value_line, value_column = key_line, key_column
            spans[format_path(child)] = Span((key_line + 1, key_column + 1), (value_line + 1, value_column + 1), block)
            result[_plain_scalar(key)] = _plain(item, child, spans)
        return result
    if isinstance(value, CommentedSeq):
        items: list[Any] = []
        for index, item in enumerate(value):
            child = (*path, index)
            line, column = value.lc.item(index)
            block = isinstance(item, LiteralScalarString | FoldedScalarString)
            spans[format_path(child)] = Span((line + 1, column + 1), (line + 1, column + 1), block)
            items.append(_plain(item, child, spans))
        return items
    return _plain_scalar(value)


def _entry_position(mapping: Any, key: Any) -> tuple[int, int, int, int]:
    """0-based (key line, key column, value line, value column); keys brought in by a `<<:` merge have no position
    of their own in this mapping, so they take the mapping's."""
    try:
        key_line, key_column = mapping.lc.key(key)
        value_line, value_column = mapping.lc.value(key)
    except (KeyError, TypeError):
        line, column = mapping.lc.line or 0, mapping.lc.col or 0
        return line, column, line, column
    return key_line, key_column, value_line, value_column


def _plain_scalar(value: Any) -> Any:
    # ruamel's scalar subclasses (ScalarFloat, ScalarInt, LiteralScalarString, ...) would leak formatting details
    # into pydantic's error messages and into config hashes; ScalarBoolean subclasses int, so bool comes first.
    from ruamel.yaml.scalarbool import ScalarBoolean

    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, bool | ScalarBoolean):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value
