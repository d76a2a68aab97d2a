"""Load a project: `activate.yml` and `syncs/*.yml`, validated, with every issue of every file reported at once.

The order of work for each file: parse YAML (syntax errors, duplicate keys) -> resolve `${VAR}` (provider
references such as `${vault:..}` are checked and kept for when a connection opens) -> schema validation (pydantic,
errors mapped back to line and column) -> checks a schema cannot express. Nothing stops at the first problem: a
`ConfigError` carries them all, each masked so that no secret value can reach a terminal, and a value that came
from a reference is named by its reference, never echoed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from activate.config.checks import (
    ConnectionKinds,
    SyncEntry,
    check_after,
    check_duplicate_names,
    check_sync,
    project_file,
    sync_warnings,
)
from activate.config.document import Document, read_document
from activate.config.env import EnvResolution, resolve_env
from activate.config.hints import did_you_mean, show
from activate.config.models import ConnectionSpec, DbtSpec, ProjectSpec, SyncSpec
from activate.config.positions import PathPart, Positions, format_path
from activate.config.project import LoadedSync, Project
from activate.config.schema import secret_values
from activate.config.secrets import SecretMasker, url_password
from activate.config.targets import TARGET_ENV, apply_target
from activate.config.validation import hide_values, validation_issues
from activate.errors import ConfigError, ConfigIssue
from activate.integrations.dbt import DbtModel, DbtResolver, reads_dbt
from activate.program import command
from activate.secrets.connections import LateReferences, LateValue
from activate.secrets.references import Reference

PROJECT_FILE = "activate.yml"
SECRET_KEY_NAME = re.compile(r"token|secret|passw|passphrase|authorization|api[_-]?key|credential", re.IGNORECASE)
"""Connection keys whose environment-substituted values are masked even when the model does not declare SecretStr."""
SYNCS_DIR = "syncs"
STATE_URL_VARIABLE = "ACTIVATE_STATE_URL"
"""When set, the state store URL, whatever `state.url` in activate.yml says."""


def load_project(
    project_dir: Path | str | None = None, *, env: Mapping[str, str] | None = None, target: str | None = None
) -> Project:
    """Load `activate.yml` and `syncs/*.yml` from `project_dir` ($ACTIVATE_PROJECT_DIR, else the current directory).

    `${VAR}` references are read from `env` (default: the process environment). `target` names the `targets:` entry
    to apply (default: $ACTIVATE_TARGET, else `default_target:`). Raises `ConfigError` carrying every issue of every
    file, each at `file:line:col` with a hint where one helps; `UsageError` for a target the file does not define.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    requested = target or environ.get(TARGET_ENV) or None
    root = Path(project_dir or environ.get("ACTIVATE_PROJECT_DIR") or Path.cwd()).resolve()
    masker = SecretMasker()
    issues: list[ConfigIssue] = []

    project_path = root / PROJECT_FILE
    late = LateReferences(env=env)
    chosen: str | None = None
    if project_path.is_file():
        project_doc = read_document(project_path, PROJECT_FILE)
        if isinstance(project_doc.data, dict):
            choice = apply_target(project_doc, requested, connection_model)
            issues.extend(choice.issues)
            project_doc, chosen = choice.document, choice.name
            found: list[ConfigIssue] = []
            spec, kinds, late = _load_project_file(project_doc, environ, masker, found, late)
            issues.extend(choice.located(issue) for issue in found)
        else:
            spec, kinds, late = _load_project_file(project_doc, environ, masker, issues, late)
        positions = project_doc.positions
    else:
        hint = f"run `{command('init')}` to create a project, or point --project-dir / ACTIVATE_PROJECT_DIR at one"
        issues.append(ConfigIssue(PROJECT_FILE, None, None, "", f"not found in {root}", hint))
        spec, kinds, positions = None, ConnectionKinds(loaded=False), Positions(PROJECT_FILE)

    warnings: list[ConfigIssue] = []
    syncs = _load_syncs(root, environ, kinds, issues, warnings, spec.dbt if spec else None)
    if issues or spec is None:
        raise ConfigError(_ordered([_masked(issue, masker) for issue in issues]))
    warned = tuple(_ordered([_masked(w, masker) for w in warnings]))
    override = environ.get(STATE_URL_VARIABLE)
    state_from = f"state.url at {positions.where('state.url')}" if positions.has("state.url") else "the default"
    if override:
        # One meaning whatever activate.yml says: the deployment's environment picks the state store.
        spec = spec.model_copy(update={"state": spec.state.model_copy(update={"url": override})})
        masker.add(*url_password(override))
        state_from = STATE_URL_VARIABLE
    return Project(
        root=root,
        spec=spec,
        syncs=syncs,
        secrets=masker,
        positions=positions,
        warnings=warned,
        late=late,
        state_from=state_from,
        target=chosen,
    )


def _project_late_policy(path: tuple[PathPart, ...], reference: Reference) -> str | None:
    """Provider references stand in connection settings, and `${file:..}` in a provider's own settings."""
    if path[0] == "connections" and len(path) >= 3:
        return None
    if path[0] == "secrets":
        if reference.provider == "file":
            return None
        return "a provider's own settings take ${NAME} or ${file:PATH}, not another provider's secret"
    return "provider references are read when a connection opens: use them in connection settings"


def _late_references(
    doc: Document, resolved: EnvResolution, env: Mapping[str, str] | None, issues: list[ConfigIssue]
) -> LateReferences:
    """The project's late references with their positions; a problem for each provider that is not configured."""
    values: list[LateValue] = []
    secrets = resolved.data.get("secrets") if isinstance(resolved.data, dict) else None
    secrets = secrets if isinstance(secrets, dict) else {}
    for path, template in resolved.late.items():
        dotted = format_path(path)
        where: dict[Reference, str] = {}
        for reference in template.late:
            line, column = doc.find(dotted, reference.text)
            where[reference] = f"{doc.file}:{line}:{column}"
            problem = _provider_problem(reference, secrets, env)
            if problem is not None:
                issues.append(ConfigIssue(doc.file, line, column, dotted, *problem))
        values.append(LateValue(path, dotted, template, where))
    connections = resolved.data.get("connections") if isinstance(resolved.data, dict) else None
    held = {v.path[1] for v in values if v.path[0] == "connections"}
    data = {str(k): v for k, v in (connections or {}).items() if str(k) in held}
    return LateReferences(tuple(values), data, env)


_CLIENTS = {"vault": ("hvac", "vault"), "aws-sm": ("boto3", "aws")}


def _provider_problem(
    reference: Reference, secrets: dict[str, Any], env: Mapping[str, str] | None
) -> tuple[str, str] | None:
    """(message, hint) when `reference`'s provider is not configured or its client not installed; `validate`
    checks this much and never fetches."""
    if reference.provider not in _CLIENTS:
        return None
    module, extra = _CLIENTS[reference.provider]
    if not isinstance(secrets.get(reference.provider), dict):
        example = "{url: https://vault:8200}" if reference.provider == "vault" else "{region: eu-west-1}"
        return (
            f"{reference.text} needs the {reference.provider} provider, which activate.yml does not configure",
            f"add secrets: {{{reference.provider}: {example}}}",
        )
    if importlib.util.find_spec(module) is None:
        return f"{reference.text} needs {module}, which is not installed", f'pip install "activate-etl[{extra}]"'
    vault = secrets.get("vault")
    environ = os.environ if env is None else env
    if (
        reference.provider == "vault"
        and isinstance(vault, dict)
        and not vault.get("url")
        and not environ.get("VAULT_ADDR")
    ):
        return f"{reference.text}: no Vault address", "set secrets.vault.url, or export VAULT_ADDR"
    return None


def _load_project_file(
    doc: Document, env: Mapping[str, str], masker: SecretMasker, issues: list[ConfigIssue], late: LateReferences
) -> tuple[ProjectSpec | None, ConnectionKinds, LateReferences]:
    issues.extend(doc.issues)
    if doc.data is None and doc.issues:
        return None, ConnectionKinds(loaded=False), late
    raw = {} if doc.data is None else doc.data
    if not isinstance(raw, dict):
        issues.append(doc.issue("", f"expected a mapping of settings (state, connections), got {show(raw)}"))
        return None, ConnectionKinds(loaded=False), late
    # targets other than the chosen one (already merged in) may name variables this environment does not set
    resolved = resolve_env({k: v for k, v in raw.items() if k != "targets"}, env, _project_late_policy)
    found: list[ConfigIssue] = _env_issues(doc, resolved.problems)
    late = _late_references(doc, resolved, late.env, found)
    late_paths = {value.dotted for value in late.values}
    data: dict[str, Any] = resolved.data
    if "targets" in raw:
        data["targets"] = raw["targets"]

    kinds = ConnectionKinds()
    connections = data.get("connections")
    valid: dict[str, ConnectionSpec] = {}
    if isinstance(connections, dict):
        for name, conn in connections.items():
            model = _connection_model(doc, str(name), conn, kinds, issues)
            if model is None:
                continue
            prefix = ("connections", str(name))
            for path, value in secret_values(model, conn, prefix):
                # A provider reference stays as written until its connection opens: its text is no secret.
                if format_path(path) not in late_paths:
                    masker.add(value, *resolved.substituted.get(format_path(path), []))
            try:
                valid[str(name)] = model.model_validate(conn)  # type: ignore[assignment]
            except ValidationError as exc:
                found.extend(validation_issues(doc, model, conn, exc, prefix, names=resolved.named))
            else:
                _note_limits(kinds, str(name), valid[str(name)])
        data = {**data, "connections": valid}
    for where, values in resolved.substituted.items():
        # Defence in depth: a plugin that forgot SecretStr on `api_key` still gets the value masked.
        if where.startswith("connections.") and SECRET_KEY_NAME.search(where.rsplit(".", 1)[-1]):
            masker.add(*values)
    state = data.get("state")
    if isinstance(state, dict) and isinstance(state.get("url"), str):
        masker.add(*url_password(state["url"]), *resolved.substituted.get("state.url", []))
    found.extend(_alert_issues(doc, data.get("alerts"), connections))
    try:
        spec = ProjectSpec.model_validate(data)
    except ValidationError as exc:
        found.extend(validation_issues(doc, ProjectSpec, data, exc, names=resolved.named))
        spec = None
    issues.extend(_named(found, resolved, late_paths))
    return spec, kinds, late


def _named(issues: list[ConfigIssue], resolved: EnvResolution, late_paths: set[str]) -> list[ConfigIssue]:
    """Issues with every value that came from the environment named by its reference; a refused provider reference
    gets the hint that its value is only known when the connection opens."""
    named = []
    for issue in issues:
        issue = hide_values(issue, resolved.substituted, resolved.named)
        if issue.path in late_paths and issue.hint is None:
            hint = "a provider reference is read when the connection opens: use it for the whole secret setting"
            issue = dataclasses.replace(issue, hint=hint)
        named.append(issue)
    return named


def _note_limits(kinds: ConnectionKinds, name: str, connection: ConnectionSpec) -> None:
    """What sync checks need from a destination connection's own settings (a webhook's batch size and whether
    its endpoint drops replayed inserts)."""
    if name not in kinds.destinations:
        return
    fields = type(connection).model_fields
    if "batch_size" in fields:
        kinds.batch_sizes[name] = int(getattr(connection, "batch_size"))  # noqa: B009 - field of some models only
    if "idempotent_inserts" in fields:
        kinds.idempotent_inserts[name] = bool(getattr(connection, "idempotent_inserts"))  # noqa: B009


def _alert_issues(doc: Document, alerts: Any, connections: Any) -> list[ConfigIssue]:
    """Each alert names a Slack or webhook connection of this project (the rest of its shape is the model's)."""
    if not isinstance(alerts, list) or not isinstance(connections, dict):
        return []
    issues = []
    for index, alert in enumerate(alerts):
        name = alert.get("connection") if isinstance(alert, dict) else None
        if not isinstance(name, str):
            continue
        path = ("alerts", index, "connection")
        kind = connections[name].get("type") if isinstance(connections.get(name), dict) else None
        if name not in connections:
            issues.append(doc.issue(path, f"unknown connection '{name}'", f"known: {', '.join(connections) or 'none'}"))
        elif kind not in ("slack", "webhook", None):
            issues.append(doc.issue(path, f"connection '{name}' is not a slack or webhook connection"))
        elif kind == "slack" and not alert.get("channel"):
            issues.append(doc.issue(path, f"an alert through slack connection '{name}' needs channel:", "'#alerts'"))
    return issues


def connection_model(type_name: str) -> type[BaseModel] | None:
    """The connection model of a source or destination type; None when nothing provides it."""
    from activate.destinations.registry import destination_plugin, destination_types
    from activate.sources.config import SOURCE_CONNECTIONS

    if type_name in SOURCE_CONNECTIONS:
        return SOURCE_CONNECTIONS[type_name]
    if type_name in destination_types():
        try:
            plugin = destination_plugin(type_name)
        except Exception:  # a broken plugin is reported where the connection declares its type
            return None
        return plugin.connection_model if plugin is not None else None
    return None


def _connection_model(
    doc: Document, name: str, conn: Any, kinds: ConnectionKinds, issues: list[ConfigIssue]
) -> type[BaseModel] | None:
    """The model a connection's `type` selects, recording its kind; None (with an issue) when there is none."""
    from activate.destinations.registry import destination_plugin, destination_types
    from activate.sources.config import SOURCE_CONNECTIONS

    path = ("connections", name)
    known = [*SOURCE_CONNECTIONS, *destination_types()]
    known_text = f"known types: {', '.join(known)}"
    type_name = conn.get("type") if isinstance(conn, dict) else None
    if not isinstance(conn, dict):
        issues.append(doc.issue(path, f"expected a mapping with a 'type' key, got {show(conn)}"))
    elif type_name is None:
        issues.append(doc.issue(path, "missing required key 'type'", known_text, at_value=False))
    elif not isinstance(type_name, str):
        issues.append(doc.issue((*path, "type"), f"expected a string, got {show(type_name)}", known_text))
    elif type_name in SOURCE_CONNECTIONS:
        kinds.sources[name] = type_name
        return SOURCE_CONNECTIONS[type_name]
    elif type_name in destination_types():
        try:
            plugin = destination_plugin(type_name)
            model = plugin.connection_model if plugin is not None else None
        except Exception as exc:  # a broken third-party plugin must not hide the rest of the project's issues
            plugin, model, reason = None, None, f"{type(exc).__name__}: {exc}"
        else:
            reason = "its plugin module could not be imported"
        if plugin is not None and model is not None:
            kinds.destinations[name] = type_name
            kinds.plugins[name] = plugin
            return model
        message = f"destination type '{type_name}' is not available: {reason}"
        issues.append(doc.issue((*path, "type"), message, "check that the package providing it is installed"))
    else:
        guess = did_you_mean(type_name, known)
        hint = f"{guess}; {known_text}" if guess else known_text
        issues.append(doc.issue((*path, "type"), f"unknown connection type '{type_name}'", hint))
    kinds.undetermined.add(name)
    return None


def _load_syncs(
    root: Path,
    env: Mapping[str, str],
    kinds: ConnectionKinds,
    issues: list[ConfigIssue],
    warnings: list[ConfigIssue],
    dbt: DbtSpec | None,
) -> dict[str, LoadedSync]:
    directory = root / SYNCS_DIR
    files = sorted(p for p in directory.glob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    entries: list[SyncEntry] = []
    specs: list[tuple[SyncSpec, Document, Path]] = []
    for path in files:
        doc = read_document(path, path.relative_to(root).as_posix())
        issues.extend(doc.issues)
        if doc.data is None and doc.issues:
            continue
        raw = {} if doc.data is None else doc.data
        if not isinstance(raw, dict):
            issues.append(doc.issue("", f"expected a mapping with source and destination, got {show(raw)}"))
            continue
        resolved = resolve_env(raw, env)
        found = _env_issues(doc, resolved.problems)
        data: dict[str, Any] = {"name": path.stem, **resolved.data}
        found.extend(check_sync(doc, data, kinds, root))
        warnings.extend(sync_warnings(doc, data, kinds))
        if isinstance(data["name"], str):
            entries.append(SyncEntry(data["name"], doc, data))
        try:
            specs.append((SyncSpec.model_validate(data), doc, path))
        except ValidationError as exc:
            found.extend(validation_issues(doc, SyncSpec, data, exc, names=resolved.named))
        issues.extend(_named(found, resolved, set()))
    issues.extend(check_duplicate_names(entries))
    issues.extend(check_after(entries))

    syncs: dict[str, LoadedSync] = {}
    dbt_resolver = None
    for spec, doc, path in specs:
        if spec.name in syncs:
            continue
        query = _query(spec, root)
        models: tuple[DbtModel, ...] = ()
        if reads_dbt(spec.source, query):
            dbt_resolver = dbt_resolver or DbtResolver(root, dbt)
            query, models, found = dbt_resolver.resolve(spec, doc, query)
            issues.extend(found)
        syncs[spec.name] = LoadedSync(spec=spec, file=path, query=query, positions=doc.positions, dbt_models=models)
    return syncs


def _query(spec: SyncSpec, root: Path) -> str:
    source = spec.source
    if source.query:
        return source.query
    if source.table:
        return f"select * from {source.table}"
    target, _, _ = project_file(root, source.file or "")
    if target is None:
        return ""  # already an issue of this sync (outside the project, missing, too large): it never loads
    try:
        return target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _env_issues(doc: Document, problems: list[Any]) -> list[ConfigIssue]:
    issues = []
    for problem in problems:
        needle = problem.token if problem.token.endswith("}") else problem.token[:3]
        line, column = doc.find(problem.path, needle if problem.name is None else "${" + problem.name)
        issues.append(ConfigIssue(doc.file, line, column, problem.path, problem.message, problem.hint))
    return issues


def _masked(issue: ConfigIssue, masker: SecretMasker) -> ConfigIssue:
    return dataclasses.replace(
        issue, message=masker.mask(issue.message), hint=masker.mask(issue.hint) if issue.hint else issue.hint
    )


def _ordered(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """activate.yml first, then sync files in name order; within a file, by position."""
    files = sorted({i.file for i in issues}, key=lambda f: (f != PROJECT_FILE, f))
    rank = {name: index for index, name in enumerate(files)}
    return sorted(issues, key=lambda i: (rank[i.file], i.line or 0, i.column or 0))
