"""Dagster: sync assets materialized in process (`dagster.materialize`) against the webhook simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from activate.http.caller import forget_callers
from activate.integrations.dagster import ActivateResource, sync_assets
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator


@pytest.fixture
def hooks() -> Iterator[WebhookSimulator]:
    forget_callers()
    with WebhookSimulator() as simulator:
        yield simulator
    forget_callers()


def dbt_manifest(project: Path) -> None:
    """A dbt project whose manifest has `people` (configured into schema `marts`, as dagster-dbt keys it)."""
    (project / "dbt_project.yml").write_text("name: analytics\nprofile: analytics\n")
    node = {
        "resource_type": "model",
        "name": "people",
        "alias": "people",
        "package_name": "analytics",
        "database": "warehouse",
        "schema": "main",
        "relation_name": '"warehouse"."main"."people"',
        "columns": {"id": {"name": "id"}, "email": {"name": "email"}},
        "config": {"schema": "marts"},
    }
    manifest = {"metadata": {"project_name": "analytics"}, "nodes": {"model.analytics.people": node}}
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def project(tmp_path: Path, hooks: WebhookSimulator) -> ScratchProject:
    scratch = ScratchProject(tmp_path / "analytics")
    scratch.people(5)
    dbt_manifest(scratch.root)
    scratch.add_connection("hooks", {"type": "webhook", "url": hooks.url})
    scratch.add_sync("people_hook", {"connection": "hooks", "object": "people", "mapping": {"email": "email"}})
    scratch.syncs["people_hook"]["source"] = {"connection": "warehouse", "dbt": "people", "primary_key": "id"}
    scratch.add_sync(
        "people_audit",
        {"connection": "hooks", "object": "audit", "mapping": {"email": "email"}},
        after=["people_hook"],
    )
    return scratch


def materialized(result: dg.ExecuteInProcessResult, name: str) -> dict[str, object]:
    [event] = result.asset_materializations_for_node(name)
    return {key: value.value for key, value in event.metadata.items()}


def test_assets_line_up_with_dbt_and_materialize_with_counts(project: ScratchProject, hooks: WebhookSimulator) -> None:
    assets = sync_assets(project.root, key_prefix="activate")
    by_key = {a.key: a for a in assets}
    hook = by_key[dg.AssetKey(["activate", "people_hook"])]
    audit = by_key[dg.AssetKey(["activate", "people_audit"])]
    assert hook.dependency_keys == {dg.AssetKey(["marts", "people"])}  # dagster-dbt's key for the model
    assert audit.dependency_keys == {dg.AssetKey(["activate", "people_hook"])}  # after: people_hook

    resources = {"activate": ActivateResource(project_dir=str(project.root))}
    result = dg.materialize(assets, resources=resources)
    assert result.success
    metadata = materialized(result, "activate__people_hook")
    assert metadata["status"] == "succeeded"
    assert (metadata["rows_read"], metadata["rows_added"], metadata["rows_succeeded"]) == (5, 5, 5)
    assert metadata["api_calls"] == 1
    assert str(metadata["run_id"])
    assert len(hooks.rows("people")) == 5
    assert len(hooks.rows("audit")) == 5


@pytest.mark.parametrize("on_partial", ["fail", "warn"])
def test_partial_fails_or_warns_as_chosen(project: ScratchProject, hooks: WebhookSimulator, on_partial: str) -> None:
    hooks.reject_keys = {"3"}
    assets = sync_assets(project.root, syncs=["people_hook"], on_partial=on_partial)  # type: ignore[arg-type]
    resources = {"activate": ActivateResource(project_dir=str(project.root))}
    result = dg.materialize(assets, resources=resources, raise_on_error=False)
    if on_partial == "fail":
        assert not result.success
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert "activate sync people_hook partial" in str(failure.event_specific_data)
        assert not result.asset_materializations_for_node("people_hook")
    else:
        assert result.success
        metadata = materialized(result, "people_hook")
        assert (metadata["status"], metadata["rows_succeeded"], metadata["rows_rejected"]) == ("partial", 4, 1)
    assert len(hooks.rows("people")) == 4


def test_failed_run_raises_a_failure(project: ScratchProject, hooks: WebhookSimulator) -> None:
    assets = sync_assets(project.root, syncs=["people_hook"])
    resources = {"activate": ActivateResource(project_dir=str(project.root))}
    assert dg.materialize(assets, resources=resources).success
    project.execute("delete from people")  # every synced row would be deleted: allow_empty_source trips
    result = dg.materialize(assets, resources=resources, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "activate sync people_hook failed" in str(failure.event_specific_data)
    assert len(hooks.rows("people")) == 5
