"""dbt models as sources: a sync names a model and activate reads its relation from dbt's manifest.

`source: {dbt: customers}` reads the whole model; `ref('customers')` (or `{{ ref('customers') }}`) inside a query
becomes the model's relation. Both resolve through `<dbt.project_dir>/<dbt.target_path>/manifest.json`, which
`dbt parse`, `compile`, `run` and `build` write. Only that JSON is read: dbt is not a dependency of activate, and the
relation is dbt's own `relation_name` (quoted by the adapter), so it is the table dbt built on the same warehouse.

Two ways to read the wrong table are refused as config errors at the sync's `file:line:col`, each with the fix:
a model the manifest does not have (did-you-mean from the models it has), and a manifest older than the dbt
project's model files (a model renamed or edited since the last parse). `exposures_yaml` goes the other way: a dbt
`exposures:` file naming, for each sync, the models it reads, so dbt docs show what feeds which tool.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activate.errors import ConfigIssue

if TYPE_CHECKING:
    from activate.config.document import Document
    from activate.config.models import DbtSpec, SourceSpec, SyncSpec
    from activate.config.project import LoadedSync, Project

MANIFEST = "manifest.json"
REF = re.compile(r"""(?:\{\{\s*)?\bref\(\s*(['"])([^'"]+)\1\s*\)(?:\s*\}\})?""")
"""`ref('model')`, bare or inside `{{ }}` as in a dbt model; group 2 is the model name."""
_OWNER = re.compile(r"^\s*(?P<name>[^<]*?)\s*<(?P<email>[^>]+)>\s*$")


@dataclass(frozen=True)
class DbtModel:
    """One model of the manifest, as far as a sync needs it."""

    unique_id: str
    name: str
    package: str
    relation: str
    """The relation as the adapter quotes it, e.g. `"warehouse"."main"."customers"`."""
    columns: tuple[str, ...]
    """The columns the model's YAML documents: possibly a subset, possibly none."""
    schema_config: str | None = None

    @property
    def asset_key_path(self) -> list[str]:
        """The asset key dagster-dbt gives this model by default (`DagsterDbtTranslator.get_asset_key`): the
        configured schema, if the model sets one, then the name. Rebuilt here so activate's assets line up with
        dagster-dbt's without depending on it."""
        return [self.schema_config, self.name] if self.schema_config else [self.name]


class DbtError(Exception):
    """The manifest cannot be used: no dbt project, missing, unreadable, or older than the project's model files."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class DbtManifest:
    """The models of one `manifest.json`, by name (the root project's model wins a name clash with a package's)."""

    path: Path
    models: dict[str, DbtModel]
    disabled: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def read(cls, path: Path) -> DbtManifest:
        """The models of the manifest at `path`; OSError or ValueError when it cannot be read as JSON."""
        data = json.loads(path.read_text(encoding="utf-8"))
        root_package = (data.get("metadata") or {}).get("project_name")
        models: dict[str, DbtModel] = {}
        for unique_id, node in (data.get("nodes") or {}).items():
            if node.get("resource_type") != "model" or not _latest(node):
                continue
            model = _model(unique_id, node)
            if model.name not in models or model.package == root_package:
                models[model.name] = model
        disabled = frozenset(
            node.get("name", "")
            for nodes in (data.get("disabled") or {}).values()
            for node in nodes
            if node.get("resource_type") == "model"
        )
        return cls(path, models, disabled)


_PARSE_HINT = "run `dbt parse` (or `dbt build`) in {dir} to write target/manifest.json"


def _latest(node: dict[str, Any]) -> bool:
    """A versioned model resolves to its latest version, as an unpinned `ref()` does in dbt."""
    version = node.get("version")
    return version is None or str(version) == str(node.get("latest_version", version))


def _model(unique_id: str, node: dict[str, Any]) -> DbtModel:
    alias = node.get("alias") or node["name"]
    relation = node.get("relation_name") or ".".join(
        f'"{part}"' for part in (node.get("database"), node.get("schema"), alias) if part
    )
    config = node.get("config") or {}
    return DbtModel(
        unique_id=unique_id,
        name=node["name"],
        package=node.get("package_name", ""),
        relation=relation,
        columns=tuple(str(c.get("name", k)) for k, c in (node.get("columns") or {}).items()),
        schema_config=config.get("schema"),
    )


def stale_file(manifest: Path, project_dir: Path) -> Path | None:
    """The newest model file or directory (or dbt_project.yml) changed after `manifest` was written, else None.

    Directories count: renaming or deleting a model changes its directory's time, not the file's."""
    written = manifest.stat().st_mtime_ns
    newest: tuple[int, Path] | None = None
    for path in [project_dir / "dbt_project.yml", *_model_paths(project_dir)]:
        if not path.exists():
            continue
        candidates = [path, *path.rglob("*")] if path.is_dir() else [path]
        for candidate in candidates:
            changed = candidate.stat().st_mtime_ns
            if changed > written and (newest is None or changed > newest[0]):
                newest = (changed, candidate)
    return None if newest is None else newest[1]


def _model_paths(project_dir: Path) -> list[Path]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        config = YAML(typ="safe").load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    except (OSError, YAMLError):
        config = {}
    paths = config.get("model-paths") if isinstance(config, dict) else None
    return [project_dir / str(p) for p in (paths if isinstance(paths, list) else ["models"])]


def reads_dbt(source: SourceSpec, query: str) -> bool:
    """Whether a sync reads a dbt model: `source: {dbt: ...}` or a `ref()` in its SQL."""
    return bool(source.dbt) or REF.search(query) is not None


class DbtResolver:
    """Resolves the dbt references of a project's syncs, reading (and checking) the manifest once, and only when a
    sync has a reference."""

    def __init__(self, root: Path, spec: DbtSpec | None) -> None:
        self.root = root
        self.project_dir = (root / (spec.project_dir if spec else ".")).resolve()
        self.manifest_path = self.project_dir / (spec.target_path if spec else "target") / MANIFEST
        self._manifest: DbtManifest | DbtError | None = None

    def manifest(self) -> DbtManifest:
        """The checked manifest; raises `DbtError` (the same one for every sync) when it cannot be used."""
        if self._manifest is None:
            self._manifest = self._load()
        if isinstance(self._manifest, DbtError):
            raise self._manifest
        return self._manifest

    def _load(self) -> DbtManifest | DbtError:
        if not (self.project_dir / "dbt_project.yml").is_file():
            return DbtError(
                f"no dbt project in {self._shown(self.project_dir)} (dbt_project.yml not found)",
                "set dbt: {project_dir: <path of your dbt project>} in activate.yml",
            )
        hint = _PARSE_HINT.format(dir=self._shown(self.project_dir))
        shown = self._shown(self.manifest_path)
        try:
            manifest = DbtManifest.read(self.manifest_path)
        except FileNotFoundError:
            return DbtError(f"dbt manifest {shown} not found", hint)
        except (OSError, ValueError) as exc:
            return DbtError(f"cannot read dbt manifest {shown}: {exc}", hint)
        changed = stale_file(self.manifest_path, self.project_dir)
        if changed is not None:
            since = changed.relative_to(self.project_dir).as_posix()
            return DbtError(f"dbt manifest {shown} is older than {since} (changed since dbt last parsed)", hint)
        return manifest

    def _shown(self, path: Path) -> str:
        """`path` as a user reads it in an error: relative to the activate project."""
        return os.path.relpath(path, self.root)

    def resolve(self, sync: SyncSpec, doc: Document, query: str) -> tuple[str, tuple[DbtModel, ...], list[ConfigIssue]]:
        """The sync's SQL with its dbt references replaced by relations, the models it reads, and its issues."""
        source = sync.source
        path = "source.dbt" if source.dbt else "source.query" if source.query else "source.file"
        try:
            manifest = self.manifest()
        except DbtError as exc:
            return query, (), [doc.issue(path, exc.message, exc.hint)]
        if source.dbt:
            model, issue = self._model(manifest, source.dbt, doc, path, None)
            if model is None:
                return query, (), [issue] if issue else []
            return f"select * from {model.relation}", (model,), []
        models: list[DbtModel] = []
        issues: list[ConfigIssue] = []

        def replace(match: re.Match[str]) -> str:
            model, issue = self._model(manifest, match.group(2), doc, path, match.group(0))
            if model is None:
                issues.extend([issue] if issue else [])
                return match.group(0)
            if model not in models:
                models.append(model)
            return model.relation

        return REF.sub(replace, query), tuple(models), issues

    def _model(
        self, manifest: DbtManifest, name: str, doc: Document, path: str, needle: str | None
    ) -> tuple[DbtModel | None, ConfigIssue | None]:
        found = manifest.models.get(name)
        if found is not None:
            return found, None
        if name in manifest.disabled:
            message = f"dbt model '{name}' is disabled in {self._shown(self.project_dir)}"
            hint = "enable it in the dbt project, or read another model"
        else:
            message = f"dbt model '{name}' is not in {self._shown(manifest.path)}"
            from activate.config.hints import closest  # lazy: activate.config's loader imports this module

            guess = closest(name, list(manifest.models))
            refresh = f"if it is new or renamed, {_PARSE_HINT.format(dir=self._shown(self.project_dir))}"
            hint = f"did you mean '{guess}'? ({refresh})" if guess else refresh
        issue = doc.issue(path, message, hint)
        if needle is not None and doc.text:
            line, column = doc.find(path, needle)
            issue = ConfigIssue(issue.file, line, column, issue.path, issue.message, issue.hint)
        return None, issue


# -- exposures ------------------------------------------------------------------------------------------------------


def exposures(project: Project) -> dict[str, Any]:
    """A dbt properties document with one exposure per sync that reads dbt models (`depends_on` those models)."""
    items = []
    for name, sync in project.syncs.items():
        if not sync.dbt_models:
            continue
        spec = sync.spec
        destination = spec.destination
        items.append(
            {
                "name": re.sub(r"\W", "_", f"activate_{name}"),
                "label": f"activate: {name}",
                "type": "application",
                "owner": owner(spec.owner),
                "description": (
                    f"activate sync `{name}` ({sync.file.relative_to(project.root).as_posix()}): "
                    f"{destination.mode} into {destination.connection} {destination.object}"
                    + (f" on `{spec.schedule}`" if spec.schedule else "")
                ),
                "depends_on": [f"ref('{model.name}')" for model in sync.dbt_models],
                "config": {
                    "meta": {
                        "activate_sync": name,
                        "destination": destination.connection,
                        "object": destination.object,
                        "mode": destination.mode,
                    },
                    "tags": ["activate"],
                },
            }
        )
    return {"version": 2, "exposures": items}


def owner(text: str | None) -> dict[str, str]:
    """A sync's `owner:` as a dbt owner: `Name <email>`, an email, or a name. dbt requires one of name and email,
    so a sync without an owner is owned by `activate`."""
    if not text:
        return {"name": "activate"}
    match = _OWNER.match(text)
    if match:
        return {k: v for k, v in (("name", match["name"]), ("email", match["email"])) if v}
    return {"email": text.strip()} if "@" in text else {"name": text.strip()}


def exposures_yaml(project: Project) -> str:
    """`exposures(project)` as YAML text, with a header saying where it came from."""
    import io

    from ruamel.yaml import YAML

    out = io.StringIO()
    out.write("# Written by `activate dbt exposures`: one exposure per activate sync that reads dbt models.\n")
    writer = YAML(typ="safe", pure=True)
    writer.default_flow_style = False
    writer.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    writer.dump(exposures(project), out)
    return out.getvalue()


def check_model_columns(project: Project, names: list[str], *, warehouse: bool = False) -> list[ConfigIssue]:
    """`validate`'s column check for syncs that read one dbt model (`source: {dbt: ...}`): every column the key and
    mapping read must be one the model has.

    With `warehouse=True` (`validate --check-connections`) the model's relation is described on the sync's
    connection; when that cannot be reached (or without it: plain `validate` opens no connection) the columns
    the manifest documents stand in, if it documents any.
    """
    issues: list[ConfigIssue] = []
    for name in names:
        sync = project.sync(name)
        if not sync.spec.source.dbt or len(sync.dbt_models) != 1:
            continue
        model = sync.dbt_models[0]
        if warehouse and _describe(project, sync) is not None:
            continue  # reached: `plan`'s own check against the real columns ran in _describe
        if model.columns:
            issues.extend(_missing(project, sync, model))
    return issues


def _describe(project: Project, sync: LoadedSync) -> list[str] | None:
    """The relation's columns on the warehouse, checked like `plan` checks them (raising `ConfigError`); None when
    the warehouse cannot be reached."""
    from activate.errors import ActivateError, ConfigError
    from activate.plan.builder import check_columns
    from activate.sources.readers import open_reader

    try:
        reader = open_reader(project.connection(sync.spec.source.connection), project.root)
        try:
            columns = list(reader.columns(sync.query))
        finally:
            reader.close()
    except ConfigError:
        raise
    except ActivateError:
        return None
    check_columns(sync, columns, project.root)
    return columns


def _missing(project: Project, sync: LoadedSync, model: DbtModel) -> list[ConfigIssue]:
    documented = list(model.columns)
    wanted = {key: "source.primary_key" for key in sync.spec.source.key_columns}
    wanted.update({column: path for column, path in sync.columns_used().items() if column not in wanted})
    issues = []
    for column, path in wanted.items():
        if column in documented:
            continue
        line, col = sync.positions.at(path)
        from activate.config.hints import closest  # lazy: activate.config's loader imports this module

        guess = closest(column, documented)
        hint = (f"did you mean '{guess}'? " if guess else "") + (
            "if the model has it, document it in the model's YAML, or check against the warehouse with "
            "`validate --check-connections`"
        )
        message = f"column '{column}' is not among the columns dbt documents for model '{model.name}'"
        file = sync.file.relative_to(project.root).as_posix()
        issues.append(ConfigIssue(file, line, col, path, message, hint))
    return issues


__all__ = [
    "DbtError",
    "DbtManifest",
    "DbtModel",
    "DbtResolver",
    "exposures",
    "check_model_columns",
    "exposures_yaml",
    "owner",
    "reads_dbt",
    "stale_file",
]
