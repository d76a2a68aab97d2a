"""Checks a schema cannot express: connection names and kinds, destination capabilities, cron, Jinja, files, and
the relations between syncs (duplicate names, `after:` and associations, cycles).

Every check reads the raw (environment-resolved) data of a file defensively, so it also runs on a file that failed
schema validation: a file with an unknown key and a misspelt connection name gets both errors in one go. A check
skips a value of the wrong type: the schema already reported it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from activate.config.document import Document
from activate.config.hints import closest, suggest
from activate.config.models import DestinationSpec, SyncMode
from activate.config.positions import PathPart, format_path
from activate.config.templates import syntax_error, template_strings
from activate.errors import ConfigIssue

if TYPE_CHECKING:
    # type-only: the toolkit imports config, and destinations.base imports the toolkit
    from activate.destinations.base import DestinationPlugin

CRON_HINT = "five fields: minute hour day-of-month month day-of-week, e.g. '*/15 * * * *', or @hourly / @daily"


@dataclass(frozen=True)
class ConnectionKinds:
    """What activate.yml declares, as far as sync checks need it: each connection's kind and type.

    `undetermined` holds names whose type is missing or unknown (already an error in activate.yml): syncs naming
    them are not reported again. `loaded` is False when activate.yml itself could not be read, which disables
    connection checks (every name would be "unknown").
    """

    sources: dict[str, str] = field(default_factory=dict)
    destinations: dict[str, str] = field(default_factory=dict)
    plugins: dict[str, DestinationPlugin] = field(default_factory=dict)
    undetermined: set[str] = field(default_factory=set)
    loaded: bool = True


def check_sync(doc: Document, data: Mapping[str, Any], kinds: ConnectionKinds, root: Path) -> list[ConfigIssue]:
    """Every non-schema problem of one sync file."""
    issues: list[ConfigIssue] = []
    source = data.get("source")
    if isinstance(source, dict):
        issues += _check_connection(doc, ("source", "connection"), source.get("connection"), kinds, want="source")
        issues += _check_file(doc, source.get("file"), root)
    destination = data.get("destination")
    if isinstance(destination, dict):
        name = destination.get("connection")
        issues += _check_connection(doc, ("destination", "connection"), name, kinds, want="destination")
        if isinstance(name, str) and name in kinds.plugins:
            issues += _check_capabilities(doc, destination, kinds.destinations[name], kinds.plugins[name])
        issues += _check_match(doc, destination)
        issues += _check_templates(doc, destination)
    issues += _check_schedule(doc, data.get("schedule"))
    return issues


def _check_connection(
    doc: Document, path: tuple[PathPart, ...], name: Any, kinds: ConnectionKinds, *, want: str
) -> list[ConfigIssue]:
    if not isinstance(name, str) or not kinds.loaded or name in kinds.undetermined:
        return []
    wanted, other = (kinds.sources, kinds.destinations) if want == "source" else (kinds.destinations, kinds.sources)
    if name in wanted:
        return []
    label = "source connections" if want == "source" else "destination connections"
    choices = f"{label}: {', '.join(wanted) if wanted else '(none in activate.yml)'}"
    if name in other:
        kind = "a destination" if want == "source" else "a warehouse"
        return [doc.issue(path, f"'{name}' is a {other[name]} connection ({kind}), not a {want}", choices)]
    match = closest(name, wanted) or closest(name, [*other, *kinds.undetermined])
    hint = f"did you mean '{match}'?; {choices}" if match else choices
    return [doc.issue(path, f"unknown connection '{name}'", hint)]


def _check_file(doc: Document, file: Any, root: Path) -> list[ConfigIssue]:
    if not isinstance(file, str) or not file:
        return []
    target = root / file
    if target.is_file():
        return []
    hint = f"looked for {target}; paths are relative to the project directory"
    return [doc.issue(("source", "file"), f"file '{file}' not found", hint)]


def _check_capabilities(
    doc: Document, destination: Mapping[str, Any], type_name: str, plugin: DestinationPlugin
) -> list[ConfigIssue]:
    capabilities = plugin.capabilities()
    issues: list[ConfigIssue] = []
    mode = destination.get("mode", "upsert")
    if mode in get_args(SyncMode) and mode not in capabilities.modes:
        supported = ", ".join(m for m in get_args(SyncMode) if m in capabilities.modes)
        issues.append(
            doc.issue(
                ("destination", "mode"), f"{type_name} destinations do not support mode '{mode}'", f"use {supported}"
            )
        )
    associations = destination.get("associations")
    if isinstance(associations, list) and associations and not capabilities.associations:
        issues.append(
            doc.issue(
                ("destination", "associations"),
                f"{type_name} destinations do not support associations",
                "link records with a lookup in the mapping (Salesforce: Relationship.ExternalIdField) or remove it",
            )
        )
    if capabilities.requires_match and not destination.get("match"):
        issues.append(
            doc.issue(
                "destination",
                "missing required key 'match'",
                f"{type_name} writes by external id: name the destination field records are matched on",
                at_value=False,
            )
        )
    return issues


def _check_match(doc: Document, destination: Mapping[str, Any]) -> list[ConfigIssue]:
    """The match field is sent as the record's external id, so the mapping must produce it."""
    match = destination.get("match")
    mapping = destination.get("mapping", {})
    if not isinstance(match, str) or not isinstance(mapping, dict) or match in mapping:
        return []
    if "mapping" not in destination and set(destination) - set(DestinationSpec.model_fields):
        return []  # an unknown key (a misspelt `mapping:`) is already reported; do not pile a consequence on it
    fields = [str(k) for k in mapping]
    guess = closest(match, fields)
    hint = f"did you mean '{guess}'?" if guess else f"add it to destination.mapping, e.g. {match}: <column>"
    return [doc.issue(("destination", "match"), f"match field '{match}' is not a mapped destination field", hint)]


def _check_templates(doc: Document, destination: Mapping[str, Any]) -> list[ConfigIssue]:
    texts: list[tuple[tuple[PathPart, ...], str]] = []
    mapping = destination.get("mapping")
    if isinstance(mapping, dict):
        texts += [(("destination", "mapping", str(k)), v) for k, v in mapping.items() if isinstance(v, str)]
    message = destination.get("message")
    if isinstance(message, dict):
        if isinstance(message.get("text"), str):
            texts.append((("destination", "message", "text"), message["text"]))
        blocks = message.get("blocks")
        texts += [(("destination", "message", "blocks", *sub), text) for sub, text in template_strings(blocks)]
    if isinstance(destination.get("channel"), str):
        texts.append((("destination", "channel"), destination["channel"]))
    issues = []
    for path, text in texts:
        error = syntax_error(text)
        if error is not None:
            message = error.message.rstrip(".")
            issues.append(_template_issue(doc, path, error.line, message[:1].lower() + message[1:]))
    return issues


def _template_issue(doc: Document, path: tuple[PathPart, ...], template_line: int, message: str) -> ConfigIssue:
    span = doc.positions.span(path)
    line, column = span.value
    # A `|` block's text starts on the next line; a quoted or plain scalar's on the value's own line.
    offset = template_line if span.block else template_line - 1
    if offset:
        line += offset
        column = doc.indent_of(line)
    return ConfigIssue(doc.file, line, column, format_path(path), f"invalid Jinja template: {message}")


def _check_schedule(doc: Document, schedule: Any) -> list[ConfigIssue]:
    if not isinstance(schedule, str):
        return []
    from croniter import CroniterError, croniter

    fields = len(schedule.split())
    try:
        croniter(schedule)
    except (CroniterError, ValueError, KeyError) as exc:
        if schedule.startswith("@") or fields in (5, 6, 7):
            reason = str(exc).rstrip(".")
            reason = reason[:1].lower() + reason[1:]
        else:
            reason = f"expected 5 fields, got {fields}"
        return [doc.issue("schedule", f"invalid cron expression '{schedule}': {reason}", CRON_HINT)]
    return []


@dataclass(frozen=True)
class SyncEntry:
    """A sync as the cross-file checks see it: its name, file and raw data."""

    name: str
    doc: Document
    data: Mapping[str, Any]


def check_duplicate_names(entries: list[SyncEntry]) -> list[ConfigIssue]:
    """A sync name defined by two files: reported at the later file, naming the first."""
    first: dict[str, SyncEntry] = {}
    issues = []
    for entry in entries:
        if entry.name in first:
            earlier = first[entry.name]
            path = "name" if "name" in entry.data else ""
            issues.append(
                entry.doc.issue(
                    path,
                    f"duplicate sync name '{entry.name}': also defined in {earlier.doc.positions.where(path)}",
                    "sync names must be unique across syncs/*.yml; name defaults to the file name",
                )
            )
        else:
            first[entry.name] = entry
    return issues


def check_after(entries: list[SyncEntry]) -> list[ConfigIssue]:
    """Dependencies between syncs (`after:` entries and `destination.associations[].sync`): unknown or self-naming
    syncs, and cycles. A cycle is reported at every edge that forms it, each naming the others' positions."""
    names = {e.name for e in entries}
    graph: dict[str, list[str]] = {}
    edges: dict[tuple[str, str], tuple[SyncEntry, tuple[PathPart, ...]]] = {}
    issues = []
    for entry in entries:
        for path, target in _dependency_edges(entry.data):
            if target == entry.name and path[0] != "after":
                issues.append(entry.doc.issue(path, f"an association cannot name its own sync '{target}'"))
            elif target in names:
                graph.setdefault(entry.name, []).append(target)
                edges.setdefault((entry.name, target), (entry, path))
            else:
                others = [n for n in names if n != entry.name]
                hint = suggest(target, others, "known syncs") if others else "no other sync is defined"
                issues.append(entry.doc.issue(path, f"unknown sync '{target}'", hint))
    for cycle in _cycles(graph):
        text = " -> ".join(cycle)
        links = [edges[(a, b)] for a, b in zip(cycle, cycle[1:], strict=False)]
        for index, (entry, path) in enumerate(links):
            others = [_value_where(e, p) for i, (e, p) in enumerate(links) if i != index]
            also = f", also linked at {', '.join(others)}" if others else ""
            issues.append(
                entry.doc.issue(path, f"sync dependencies form a cycle: {text}{also}", "remove one of these links")
            )
    return issues


def _value_where(entry: SyncEntry, path: tuple[PathPart, ...]) -> str:
    """`file:line:col` of the value at `path`, where `doc.issue` points too."""
    line, column = entry.doc.positions.value_at(path)
    return f"{entry.doc.file}:{line}:{column}"


def _dependency_edges(data: Mapping[str, Any]) -> list[tuple[tuple[PathPart, ...], str]]:
    """(config path, named sync) for each `after:` entry and each association's `sync`."""
    found: list[tuple[tuple[PathPart, ...], str]] = []
    after = data.get("after")
    if isinstance(after, list):
        found += [(("after", i), t) for i, t in enumerate(after) if isinstance(t, str)]
    destination = data.get("destination")
    associations = destination.get("associations") if isinstance(destination, dict) else None
    if isinstance(associations, list):
        for i, association in enumerate(associations):
            target = association.get("sync") if isinstance(association, dict) else None
            if isinstance(target, str):
                found.append((("destination", "associations", i, "sync"), target))
    return found


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One representative per cycle, found by depth-first search in file order."""
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            cycles.append([*stack[stack.index(node) :], node])
            return
        if node in done:
            return
        stack.append(node)
        for target in graph.get(node, []):
            visit(target, stack)
        stack.pop()
        done.add(node)

    for node in graph:
        visit(node, [])
    return cycles
