"""Dagster: `ActivateResource` (a project) and `sync_assets` (one asset per sync).

    import dagster as dg
    from activate.integrations.dagster import ActivateResource, sync_assets

    defs = dg.Definitions(
        assets=[*dbt_assets, *sync_assets("/srv/analytics", on_partial="warn")],
        resources={"activate": ActivateResource(project_dir="/srv/analytics")},
    )

Each asset is keyed by its sync's name (under `key_prefix`, if given) and depends on the dbt models the sync reads,
keyed as dagster-dbt keys them by default (see `DbtModel.asset_key_path`), so a `@dbt_assets` definition and the
syncs form one graph: a model's materialization is upstream of the syncs that read it. A sync's `after:` syncs are
upstream too. A materialization carries the run's id, status, row counts and API calls as metadata.

Outcomes: a succeeded run materializes; a failed run raises `dagster.Failure` (retryable: writes are idempotent);
invalid config raises a `Failure` that does not allow retries; a partial run raises a `Failure` with
`on_partial="fail"` (the default, as `activate run` exits 3) or materializes with a warning and `status: partial`
in its metadata with `on_partial="warn"`.

Dagster is imported here at module level (a resource must subclass `ConfigurableResource`); nothing else in activate
imports this module, so `activate --help` never pays for Dagster.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg

if TYPE_CHECKING:
    from collections.abc import Iterable

    from activate.config import LoadedSync
    from activate.engine import RunSummary

OnPartial = Literal["fail", "warn"]
METADATA_FIELDS = (
    "rows_read",
    "rows_added",
    "rows_changed",
    "rows_removed",
    "rows_unchanged",
    "rows_succeeded",
    "rows_failed",
    "rows_rejected",
    "api_calls",
)


class ActivateResource(dg.ConfigurableResource):  # type: ignore[misc,type-arg]
    """An activate project, for assets to run its syncs (configurable in Dagster's launchpad like any resource)."""

    project_dir: str

    def run(self, sync: str, *, full_resync: bool = False, retry_rejected: bool = False) -> RunSummary:
        """Run one sync once, as `activate run SYNC` does; the summary says how it went."""
        import activate

        options = {"full_resync": full_resync, "retry_rejected": retry_rejected}
        return activate.run_sync(sync, project_dir=self.project_dir, **options)


def sync_assets(
    project_dir: str | Path,
    *,
    syncs: Iterable[str] | None = None,
    on_partial: OnPartial = "fail",
    resource_key: str = "activate",
    key_prefix: str | list[str] | None = None,
    group_name: str = "activate",
) -> list[dg.AssetsDefinition]:
    """One asset per sync of the project at `project_dir` (all, or `syncs`), read now to learn names and deps.

    The assets run through the resource under `resource_key` (an `ActivateResource`), so the project directory
    of a deployment can differ from the one read at definition time.
    """
    from activate.config import load_project

    if on_partial not in ("fail", "warn"):
        raise ValueError(f"on_partial must be 'fail' or 'warn', got {on_partial!r}")
    project = load_project(project_dir)
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix or [])
    names = project.run_order(syncs)
    return [_sync_asset(project.sync(name), prefix, on_partial, resource_key, group_name) for name in names]


def _sync_asset(
    sync: LoadedSync, prefix: list[str], on_partial: OnPartial, resource_key: str, group_name: str
) -> dg.AssetsDefinition:
    spec = sync.spec
    deps = [dg.AssetKey(model.asset_key_path) for model in sync.dbt_models]
    deps += [dg.AssetKey([*prefix, upstream]) for upstream in spec.after]
    destination = spec.destination
    description = f"activate sync {spec.name}: {destination.mode} into {destination.connection} {destination.object}"

    def materialize(context: Any) -> dg.MaterializeResult[Any]:
        from activate.errors import ActivateError

        resource: ActivateResource = getattr(context.resources, resource_key)
        try:
            summary = resource.run(spec.name)
        except ActivateError as exc:
            raise dg.Failure(f"activate sync {spec.name}: {exc}", allow_retries=exc.exit_code != 2) from None
        metadata = run_metadata(summary)
        what = f"activate sync {spec.name} {summary.status} (run {summary.run_id})"
        if summary.error:
            what += f": {summary.error}"
        if summary.status == "partial" and on_partial == "warn":
            context.log.warning(what)
            return dg.MaterializeResult(metadata=metadata)
        if summary.exit_code != 0:
            raise dg.Failure(description=what, metadata=metadata)
        return dg.MaterializeResult(metadata=metadata)

    # Dagster compares the context annotation with its class, and this module's annotations are strings.
    materialize.__annotations__["context"] = dg.AssetExecutionContext
    define = dg.asset(
        name=spec.name,
        key_prefix=prefix or None,
        deps=deps,
        group_name=group_name,
        description=description,
        required_resource_keys={resource_key},
        kinds={"activate"},
        metadata={"activate/sync_file": sync.file.name},
    )
    assets: dg.AssetsDefinition = define(materialize)
    return assets


def run_metadata(summary: RunSummary) -> dict[str, Any]:
    """What a materialization records: the run id, status and failure kind, the row counts, API calls, and the
    error if any."""
    # Dagster serialises only plain values (a StrEnum member is refused), so the typed status goes as its text.
    metadata: dict[str, Any] = {"run_id": summary.run_id, "status": str(summary.status.value)}
    if summary.failure_kind is not None:
        metadata["failure_kind"] = str(summary.failure_kind.value)
    metadata.update({name: dg.MetadataValue.int(getattr(summary, name)) for name in METADATA_FIELDS})
    if summary.error:
        metadata["error"] = summary.error
    return metadata


__all__ = ["ActivateResource", "OnPartial", "run_metadata", "sync_assets"]
