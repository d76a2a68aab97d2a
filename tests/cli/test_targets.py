"""Issue 12 acceptance 2: `targets:` swap connections and the state URL; every output names the target; a typo in
a target's override is reported at its file:line:col."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from activate.cli.app import app
from activate.config import load_project
from activate.errors import ConfigError, UsageError
from activate.state.store import StateReader
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

runner = CliRunner()

PROJECT = """\
state:
  url: duckdb:///.activate/state.duckdb
connections:
  warehouse: {{type: duckdb, path: warehouse.duckdb}}
  hooks:
    type: webhook
    url: {dev_url}
    headers: {{Authorization: "Bearer dev-token"}}
default_target: dev
targets:
  dev:
    connections:
      hooks: {{batch_size: 5}}
  prod:
    connections:
      hooks:
        url: {prod_url}
        headers: {{Authorization: "Bearer ${{PROD_HOOK_TOKEN}}"}}
    state: {{url: "duckdb:///.activate/prod.duckdb"}}
"""


@pytest.fixture
def sims() -> Iterator[tuple[WebhookSimulator, WebhookSimulator]]:
    # each answers 401 unless the target's own Authorization header arrives
    with WebhookSimulator(token="dev-token") as dev, WebhookSimulator(token="s3cret-prod") as prod:
        yield dev, prod


@pytest.fixture
def project(tmp_path: Path, sims: tuple[WebhookSimulator, WebhookSimulator]) -> ScratchProject:
    scratch = ScratchProject(tmp_path / "p")
    scratch.people(12)
    scratch.add_sync("people_hook", {"connection": "hooks", "object": "people", "mapping": {"email": "email"}})
    dev, prod = sims
    (scratch.root / "activate.yml").write_text(PROJECT.format(dev_url=dev.url, prod_url=prod.url))
    return scratch


def _invoke(project: ScratchProject, *args: str, env: dict[str, str] | None = None) -> Any:
    environment = {"COLUMNS": "200", "PROD_HOOK_TOKEN": "s3cret-prod", **(env or {})}
    return runner.invoke(app, [*args, "--project-dir", str(project.root)], env=environment)


def _sent(sim: WebhookSimulator) -> int:
    return sum(sim.applied.values())


def test_target_prod_swaps_connection_and_state_url(
    project: ScratchProject, sims: tuple[WebhookSimulator, WebhookSimulator]
) -> None:
    dev, prod = sims
    result = _invoke(project, "run", "people_hook", "--target", "prod", "--json")
    assert result.exit_code == 0, result.output
    plan, summary = [json.loads(line) for line in result.stdout.splitlines()]
    assert (plan["type"], plan["target"]) == ("plan", "prod")
    assert (summary["type"], summary["target"], summary["rows_succeeded"]) == ("run", "prod", 12)
    assert (_sent(dev), _sent(prod)) == (0, 12)
    prod_state = StateReader("duckdb:///.activate/prod.duckdb", project_root=project.root)
    assert [(r["sync_name"], r["target"]) for r in prod_state.runs()] == [("people_hook", "prod")]
    assert not (project.root / ".activate" / "state.duckdb").exists(), "the default state store was not touched"

    # default_target: dev; its override (batch_size 5) merged into the base connection, the base URL kept
    text = _invoke(project, "run", "people_hook")
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[0] == "target: dev"
    assert (_sent(dev), _sent(prod)) == (12, 12)
    assert dev.requests == 3, "12 rows at the dev target's batch_size 5"


def test_every_output_names_the_target(project: ScratchProject) -> None:
    assert _invoke(project, "run", "people_hook", "-t", "prod").exit_code == 0
    for args in (["plan", "people_hook"], ["runs"], ["status"], ["validate"]):
        shown = _invoke(project, *args, env={"ACTIVATE_TARGET": "prod"})
        assert shown.exit_code == 0, (args, shown.output)
        assert shown.stdout.splitlines()[0] == "target: prod", args
    for args in (["plan", "people_hook"], ["runs"], ["status"]):
        lines = _invoke(project, *args, "--json", env={"ACTIVATE_TARGET": "prod"}).stdout.splitlines()
        assert lines
        assert all(json.loads(line)["target"] == "prod" for line in lines), args


def test_a_typo_in_a_target_override_has_its_position(project: ScratchProject) -> None:
    path = project.root / "activate.yml"
    text = path.read_text()
    path.write_text(text.replace("hooks: {batch_size: 5}", "hooks: {batch_sise: 5}"))
    result = _invoke(project, "validate")
    assert result.exit_code == 2
    assert "activate.yml:13:15: targets.dev.connections.hooks: unknown key 'batch_sise'" in result.output
    assert "did you mean 'batch_size'?" in result.output
    # the same typo in a target that is not chosen is found too (only its keys are checked)
    with pytest.raises(ConfigError) as caught:
        load_project(project.root, env={"PROD_HOOK_TOKEN": "x"}, target="prod")
    assert "activate.yml:13:15: targets.dev.connections.hooks.batch_sise: unknown key" in str(caught.value)


def test_a_bad_value_in_the_chosen_target_points_at_the_target(project: ScratchProject) -> None:
    path = project.root / "activate.yml"
    path.write_text(path.read_text().replace("hooks: {batch_size: 5}", "hooks: {batch_size: many}"))
    with pytest.raises(ConfigError) as caught:
        load_project(project.root, env={}, target="dev")
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.column) == ("activate.yml", 13, 27)
    assert issue.path == "targets.dev.connections.hooks.batch_size"


def test_another_targets_unset_variable_is_no_error_the_chosen_ones_is(project: ScratchProject) -> None:
    assert load_project(project.root, env={}).target == "dev"
    with pytest.raises(ConfigError) as caught:
        load_project(project.root, env={}, target="prod")
    (issue,) = caught.value.issues
    assert (issue.line, issue.message) == (18, "environment variable 'PROD_HOOK_TOKEN' is not set")
    masked = load_project(project.root, env={"PROD_HOOK_TOKEN": "s3cret-prod"}, target="prod")
    assert masked.secrets.mask("token s3cret-prod") == "token ***"


def test_an_unknown_target_is_a_usage_error_naming_the_targets(project: ScratchProject) -> None:
    with pytest.raises(UsageError, match=r"unknown target 'prd' \(did you mean 'prod'\?\); targets in activate.yml"):
        load_project(project.root, env={}, target="prd")
    result = _invoke(project, "plan", "people_hook", "--target", "prd")
    assert result.exit_code == 2
    path = project.root / "activate.yml"
    path.write_text(path.read_text().replace("default_target: dev", "default_target: stage"))
    with pytest.raises(ConfigError, match=r"activate.yml:9:17: default_target: unknown target 'stage'"):
        load_project(project.root, env={})
