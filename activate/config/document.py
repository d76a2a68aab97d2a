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
    """Parse `path`; `display` is the name errors use (relative to the project root).

    A file over the size limit or not UTF-8 is an issue, never an exception; no message quotes the file's text.
    """
    from activate.config.yaml_limits import MAX_FILE_BYTES

    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            message = f"file is {size / 1_000_000:.1f} MB; a project file may be at most {MAX_FILE_BYTES // 1024} KB"
            hint = "move large SQL into a file named by source.file:, or split the file"
            return _unreadable(display, ConfigIssue(display, 1, 1, "", message, hint))
        raw = path.read_bytes()
    except OSError as exc:
        return _unreadable(display, ConfigIssue(display, None, None, "", f"cannot read file: {exc.strerror}"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded"
        return _unreadable(display, ConfigIssue(display, line, column, "", message, "save the file as UTF-8"))
    return parse_document(text, display)


def _unreadable(display: str, issue: ConfigIssue) -> Document:
    return Document(display, "", None, Positions(display), [issue])


def parse_document(text: str, display: str) -> Document:
    """Parse YAML `text`; every syntax error, duplicate key and broken limit (`yaml_limits`) becomes an issue."""
    from ruamel.yaml import YAML
    from ruamel.yaml.composer import MaxDepthExceededError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    from activate.config import yaml_limits

    def refused(*problems: yaml_limits.GraphProblem) -> Document:
        issues.extend(ConfigIssue(display, p.line, p.column, "", p.message, p.hint) for p in problems)
        return Document(display, text, None, Positions(display), issues)

    issues: list[ConfigIssue] = []
    too_deep = yaml_limits.flow_depth_problem(text)
    if too_deep is not None:
        return refused(too_deep)
    loader = YAML(typ="rt")
    loader.allow_duplicate_keys = True
    loader.max_depth = yaml_limits.MAX_DEPTH
    loader.Composer = yaml_limits.AliasRecordingComposer
    parser = None
    try:
        # What YAML.load does, split in two so the node graph is composed (parsed) once: limits and duplicates
        # are checked on the nodes, then the same nodes are constructed into the round-trip tree that carries
        # line/column. The reader checks characters as soon as it is given the text, hence inside the `try`.
        constructor, parser = loader.get_constructor_parser(text)
        composer = constructor.composer
        node = composer.get_single_node()
        tree = None
        if node is not None:
            problems = yaml_limits.check_graph(node, composer.aliases)
            if problems:
                return refused(*problems)
            _find_duplicate_keys(node, (), display, issues, set())
            try:
                tree = constructor.construct_document(node)
            except (ValueError, TypeError, KeyError, ArithmeticError):
                return refused(yaml_limits.construction_problem(constructor, node))
    except MaxDepthExceededError as exc:
        mark, message = exc.problem_mark, yaml_limits.depth_message()
        return refused(yaml_limits.GraphProblem(mark.line + 1, mark.column + 1, message, "flatten the structure"))
    except MarkedYAMLError as exc:
        issues.append(_syntax_issue(exc, display))
        return Document(display, text, None, Positions(display), issues)
    except ReaderError as exc:
        issues.append(_reader_issue(exc, text, display))
        return Document(display, text, None, Positions(display), issues)
    except YAMLError as exc:
        issues.append(ConfigIssue(display, 1, 1, "", f"invalid YAML: {type(exc).__name__}"))
        return Document(display, text, None, Positions(display), issues)
    finally:
        if parser is not None:
            parser.dispose()
    spans: dict[str, Span] = {"": Span((1, 1), (1, 1))}
    data = _plain(tree, (), spans)
    return Document(display, text, data, Positions(display, spans), issues)


def _reader_issue(exc: Any, text: str, display: str) -> ConfigIssue:
    """A character YAML does not allow (NUL, other control characters), at its line and column."""
    position = max(0, min(int(getattr(exc, "position", 0) or 0), len(text)))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    code = ord(text[position]) if position < len(text) else 0
    message = f"invalid YAML: character U+{code:04X} is not allowed in a YAML file"
    return ConfigIssue(display, line, column, "", message, "remove it; write control characters as escapes")


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


def _find_duplicate_keys(
    node: Any, path: tuple[PathPart, ...], display: str, issues: list[ConfigIssue], seen_nodes: set[int]
) -> None:
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    if id(node) in seen_nodes:
        return  # an aliased node: its keys were checked where its anchor is written
    seen_nodes.add(id(node))
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
            _find_duplicate_keys(value_node, child, display, issues, seen_nodes)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _find_duplicate_keys(item, (*path, index), display, issues, seen_nodes)


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
