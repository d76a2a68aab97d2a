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
from activate.config.templates import template_problem, template_strings
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
    batch_sizes: dict[str, int] = field(default_factory=dict)
    """Connections that set their own `batch_size` (a webhook's), the most a sync on them may ask for."""
    idempotent_inserts: dict[str, bool] = field(default_factory=dict)
    """Connections whose model has `idempotent_inserts` (webhook): whether the endpoint is declared to honour it."""


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
            issues += _check_capabilities(doc, destination, kinds, name)
        issues += _check_mapping_keys(doc, destination)
        issues += _check_match(doc, destination)
        issues += _check_field_rules(doc, destination)
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


def project_file(root: Path, file: str) -> tuple[Path | None, str, str]:
    """`file` (relative to the project directory) resolved, symlinks included; (None, problem, hint) when it
    lies outside the project, is not a regular file, or is over the size limit. Nothing here reads the file, and
    no message quotes its contents.
    """
    from activate.config.yaml_limits import MAX_FILE_BYTES

    base = root.resolve()
    try:
        target = (base / file).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None, f"file '{file}' cannot be resolved", "check the symlinks on its path"
    if not target.is_relative_to(base):
        hint = "a sync reads only files inside the project directory, symlinks resolved"
        return None, f"file '{file}' is outside the project directory", hint
    if not target.is_file():
        return None, f"file '{file}' not found", f"looked for {target}; paths are relative to the project directory"
    if target.stat().st_size > MAX_FILE_BYTES:
        return None, f"file '{file}' is over {MAX_FILE_BYTES // 1024} KB", "a query file is SQL text, not data"
    return target, "", ""


def _check_file(doc: Document, file: Any, root: Path) -> list[ConfigIssue]:
    if not isinstance(file, str) or not file:
        return []
    target, problem, hint = project_file(root, file)
    return [] if target is not None else [doc.issue(("source", "file"), problem, hint)]


def _check_capabilities(
    doc: Document, destination: Mapping[str, Any], kinds: ConnectionKinds, name: str
) -> list[ConfigIssue]:
    type_name = kinds.destinations[name]
    capabilities = kinds.plugins[name].capabilities()
    issues: list[ConfigIssue] = []
    batch_size = destination.get("batch_size")
    # A connection that sets its own batch size (webhook) caps the sync's; otherwise the vendor's maximum does.
    limit = kinds.batch_sizes.get(name, capabilities.batch_size)
    if isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size > limit:
        whose = f"connection '{name}'" if name in kinds.batch_sizes else f"{type_name}"
        issues.append(
            doc.issue(
                ("destination", "batch_size"),
                f"batch_size {batch_size} is over the maximum of {whose}: {limit}",
                f"use at most {limit}, or leave it out to send the largest batches allowed",
            )
        )
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


def _check_mapping_keys(doc: Document, destination: Mapping[str, Any]) -> list[ConfigIssue]:
    """A destination field name and a column name are never blank (YAML allows `"": email`)."""
    mapping = destination.get("mapping")
    if not isinstance(mapping, dict):
        return []
    issues = []
    for key, value in mapping.items():
        path = ("destination", "mapping", str(key))
        if isinstance(key, str) and not key.strip():
            message = "an empty key names no destination field"
            issues.append(doc.issue(path[:2], message, "write the field's name", at=path, at_value=False))
        elif isinstance(value, str) and not value.strip():
            hint = 'name a column of the query, or write a template like "{{ row.x }}"'
            issues.append(doc.issue(path, "an empty value names no source column", hint))
    return issues


def sync_warnings(doc: Document, data: Mapping[str, Any], kinds: ConnectionKinds) -> list[ConfigIssue]:
    """What is valid but unsafe: insert mode on a connection whose endpoint may not drop a replayed request."""
    destination = data.get("destination")
    if not isinstance(destination, dict) or destination.get("mode") != "insert":
        return []
    name = destination.get("connection")
    if not isinstance(name, str) or kinds.idempotent_inserts.get(name, True):
        return []
    return [
        doc.issue(
            ("destination", "mode"),
            f"insert mode on connection '{name}' is only as safe as the endpoint: a retried or replayed batch "
            "creates records again unless the endpoint drops requests whose Idempotency-Key it has seen",
            f"declare idempotent_inserts: true on connection '{name}' once it does, or use mode upsert",
        )
    ]


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


def _check_field_rules(doc: Document, destination: Mapping[str, Any]) -> list[ConfigIssue]:
    """Per-field rules that cannot hold: the match field identifies the record in every write, so it is never
    left out of an update (`on: create`) or of a write whose value is null (`nulls: skip`); and a field written
    only on create is never written by mode update, which creates nothing."""
    mapping = destination.get("mapping")
    if not isinstance(mapping, dict):
        return []
    match, mode = destination.get("match"), destination.get("mode", "upsert")
    issues = []
    for key, value in mapping.items():
        if not isinstance(value, dict):
            continue
        path = ("destination", "mapping", str(key))
        if key == match and value.get("on") == "create":
            issues.append(
                doc.issue(
                    (*path, "on"),
                    f"the match field '{key}' cannot be written only on create: it identifies the record in every "
                    "update",
                    "remove on: create from it",
                )
            )
        if key == match and value.get("nulls") == "skip":
            issues.append(
                doc.issue(
                    (*path, "nulls"),
                    f"the match field '{key}' cannot skip nulls: it identifies the record, so every write sends it",
                    "remove nulls: skip from it",
                )
            )
        if key != match and mode == "update" and value.get("on") == "create":
            issues.append(
                doc.issue(
                    (*path, "on"),
                    f"'{key}' would never be written: on: create writes it only when a record is created, and mode "
                    "update creates none",
                    "remove on: create, or use mode upsert",
                )
            )
    return issues


def _check_templates(doc: Document, destination: Mapping[str, Any]) -> list[ConfigIssue]:
    texts: list[tuple[tuple[PathPart, ...], str]] = []
    mapping = destination.get("mapping")
    if isinstance(mapping, dict):
        for key, value in mapping.items():
            if isinstance(value, str):
                texts.append((("destination", "mapping", str(key)), value))
            elif isinstance(value, dict) and isinstance(value.get("template"), str):
                texts.append((("destination", "mapping", str(key), "template"), value["template"]))
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
        error = template_problem(text)
        if error is not None:
            message = error.message.rstrip(".")
            issues.append(_template_issue(doc, path, error.line, message[:1].lower() + message[1:], error.hint))
    return issues


def _template_issue(
    doc: Document, path: tuple[PathPart, ...], template_line: int, message: str, hint: str | None
) -> ConfigIssue:
    span = doc.positions.span(path)
    line, column = span.value
    # A `|` block's text starts on the next line; a quoted or plain scalar's on the value's own line.
    offset = template_line if span.block else template_line - 1
    if offset:
        line += offset
        column = doc.indent_of(line)
    return ConfigIssue(doc.file, line, column, format_path(path), f"invalid Jinja template: {message}", hint)


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
    warehouse_state = {e.name for e in entries if e.data.get("state") == "warehouse"}
    for entry in entries:
        for path, target in _dependency_edges(entry.data):
            if target == entry.name and path[0] != "after":
                issues.append(entry.doc.issue(path, f"an association cannot name its own sync '{target}'"))
            elif path[0] != "after" and warehouse_state & {entry.name, target}:
                # links and the record ids they read live in the project's state store
                which = entry.name if entry.name in warehouse_state else target
                issues.append(
                    entry.doc.issue(
                        path,
                        f"associations need both syncs' state in the project's state store; '{which}' has "
                        "state: warehouse",
                        "use state: local for both syncs",
                    )
                )
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
