"""`targets:` in activate.yml: per-environment connection overrides and state location, picked by name.

    default_target: dev
    targets:
      dev:  {connections: {hubspot: {base_url: "http://127.0.0.1:8790"}}, state: {url: "duckdb:///.activate/dev.duckdb"}}
      prod: {connections: {hubspot: {access_token: "${HUBSPOT_PROD_TOKEN}"}}}

The chosen target (`--target`, else ACTIVATE_TARGET, else `default_target:`) is merged into the document *before*
`${VAR}` resolution and validation, and the position of every merged value is carried over from the target's block:
a typo or a bad value in an override is reported at its own `file:line:col`, exactly like any other key. Merge rules:
an override's mappings merge key by key into the base connection (so `auth: {private_key_path: ...}` changes one
field); an override giving another `type:` replaces the connection; a target may add a connection that has a `type:`.

Only the chosen target's values are resolved and validated as values (another target's `${HUBSPOT_PROD_TOKEN}`
need not be set in dev); every target's *keys* are checked against the connection models, so a misspelt key in any
target is found by `activate validate`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from activate.config.document import Document
from activate.config.hints import closest, suggest
from activate.config.positions import PathPart, Positions, format_path
from activate.config.schema import keys_at
from activate.errors import ConfigIssue, UsageError

TARGET_ENV = "ACTIVATE_TARGET"


@dataclass
class TargetChoice:
    """The document with the chosen target merged in, the target's name, and what is wrong with `targets:`."""

    document: Document
    name: str | None
    issues: list[ConfigIssue] = field(default_factory=list)
    lines: tuple[int, int] | None = None  # the chosen target's block in the file (first and last line)

    def located(self, issue: ConfigIssue) -> ConfigIssue:
        """An issue of a merged value, named by the path the user wrote it under (`targets.dev.connections...`)."""
        if self.lines is None or issue.line is None or issue.file != self.document.file:
            return issue
        first, last = self.lines
        if first <= issue.line <= last and not issue.path.startswith("targets."):
            return replace(issue, path=format_path(("targets", str(self.name))) + "." + issue.path)
        return issue


def choose_target(data: Mapping[str, Any], requested: str | None) -> str | None:
    """The target to apply: `requested` (flag or environment), else `default_target:`, else none.

    Raises `UsageError` for a requested target the file does not define.
    """
    targets = data.get("targets")
    names = [str(n) for n in targets] if isinstance(targets, dict) else []
    if requested:
        if requested not in names:
            if not names:
                raise UsageError(f"target '{requested}' was asked for, but activate.yml defines no targets:")
            guess = closest(requested, names)
            hint = f" (did you mean '{guess}'?)" if guess else ""
            raise UsageError(f"unknown target '{requested}'{hint}; targets in activate.yml: {', '.join(names)}")
        return requested
    default = data.get("default_target")
    return default if isinstance(default, str) and default in names else None


ModelFor = Callable[[str], Any]
"""A connection type -> its model, or None for a type nobody provides (left to the connection's validation)."""


def apply_target(doc: Document, requested: str | None, model_for: ModelFor) -> TargetChoice:
    """Merge the chosen target into `doc` (data and positions); check the keys of every other target (the chosen
    one's are validated in place, as connections)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    name = choose_target(data, requested)
    issues = _check_targets(doc, data, model_for, skip=name)
    if name is None:
        return TargetChoice(doc, None, issues)
    target = data["targets"][name]
    if not isinstance(target, dict):
        return TargetChoice(doc, name, issues)
    merged = copy.deepcopy(data)
    spans = dict(doc.positions.spans)
    prefix = ("targets", name)
    connections = target.get("connections")
    if isinstance(connections, dict):
        base = merged.setdefault("connections", {})
        if isinstance(base, dict):
            for conn_name, override in connections.items():
                if not isinstance(override, dict):
                    continue
                current = base.get(conn_name)
                source = (*prefix, "connections", str(conn_name))
                dest = ("connections", str(conn_name))
                if isinstance(current, dict) and override.get("type", current.get("type")) == current.get("type"):
                    _merge(current, override)
                else:  # a new connection, or another type: the override replaces it
                    base[conn_name] = copy.deepcopy(override)
                    _drop_spans(spans, dest)
                _copy_spans(spans, source, dest)
    state = target.get("state")
    if isinstance(state, dict):
        if not isinstance(merged.get("state"), dict):
            merged["state"] = {}
        _merge(merged["state"], state)
        _copy_spans(spans, (*prefix, "state"), ("state",))
    positions = Positions(doc.positions.file, spans)
    root = format_path(prefix)
    block = [span.value[0] for path, span in spans.items() if path == root or path.startswith(root + ".")]
    lines = (min(block), max(block)) if block else None
    return TargetChoice(replace(doc, data=merged, positions=positions), name, issues, lines)


def _merge(base: dict[Any, Any], override: Mapping[Any, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _copy_spans(spans: dict[str, Any], source: tuple[PathPart, ...], dest: tuple[PathPart, ...]) -> None:
    """Every position under `source` also answers for the same entry under `dest` (the merged value's origin)."""
    old, new = format_path(source), format_path(dest)
    for path, span in list(spans.items()):
        if path == old or path.startswith((old + ".", old + "[")):
            spans[new + path[len(old) :]] = span


def _drop_spans(spans: dict[str, Any], dest: tuple[PathPart, ...]) -> None:
    root = format_path(dest)
    for path in [p for p in spans if p.startswith((root + ".", root + "["))]:
        del spans[path]


def _check_targets(doc: Document, data: Mapping[str, Any], model_for: ModelFor, skip: str | None) -> list[ConfigIssue]:
    """Keys of every target checked against what they override: an unknown connection, a misspelt field."""
    targets = data.get("targets")
    issues: list[ConfigIssue] = []
    names = [str(n) for n in targets] if isinstance(targets, dict) else []
    default = data.get("default_target")
    if isinstance(default, str) and default not in names:
        hint = suggest(default, names, "targets") if names else "add a targets: section that defines it"
        issues.append(doc.issue("default_target", f"unknown target '{default}'", hint))
    if not isinstance(targets, dict):
        return issues
    base = data.get("connections") if isinstance(data.get("connections"), dict) else {}
    assert isinstance(base, dict)
    for name, target in targets.items():
        overrides = target.get("connections") if isinstance(target, dict) else None
        if not isinstance(overrides, dict) or name == skip:
            continue
        for conn_name, override in overrides.items():
            path: tuple[PathPart, ...] = ("targets", str(name), "connections", str(conn_name))
            if not isinstance(override, dict):
                continue  # the schema reports a non-mapping
            current = base.get(conn_name)
            type_name = override.get("type") or (current.get("type") if isinstance(current, dict) else None)
            if current is None and "type" not in override:
                hint = suggest(str(conn_name), [str(c) for c in base], "connections")
                issues.append(
                    doc.issue(path, f"target '{name}' overrides unknown connection '{conn_name}'", hint, at_value=False)
                )
                continue
            model = model_for(type_name) if isinstance(type_name, str) else None
            if model is not None:
                issues.extend(_unknown_keys(doc, path, override, model))
    return issues


def _unknown_keys(
    doc: Document, path: tuple[PathPart, ...], override: Mapping[str, Any], model: Any
) -> list[ConfigIssue]:
    issues = []
    for key, value in override.items():
        known = keys_at(model, [])
        if key not in known:
            issues.append(
                doc.issue(
                    (*path, str(key)), f"unknown key '{key}'", suggest(str(key), known, "valid keys"), at_value=False
                )
            )
        elif isinstance(value, dict):
            nested = keys_at(model, [str(key)])
            if nested:
                for sub in value:
                    if sub not in nested:
                        issues.append(
                            doc.issue(
                                (*path, str(key), str(sub)),
                                f"unknown key '{sub}'",
                                suggest(str(sub), nested, "valid keys"),
                                at_value=False,
                            )
                        )
    return issues
