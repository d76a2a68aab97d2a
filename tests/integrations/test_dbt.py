"""dbt models as sources, against a real dbt-duckdb project built once per session with `dbt build`.

dbt runs in its own virtualenv (`.ci/side-venv dbt`): dbt-core 1.11 pins pathspec<0.13, mypy 2 needs pathspec>=1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from side_venvs import side_venv, venv_env
from typer.testing import CliRunner

from activate.cli.app import app
from activate.config import load_project
from activate.errors import ConfigError
from activate.http.caller import forget_callers
from activate.integrations.dbt import owner
from activate.testing.webhook_sim import WebhookSimulator

pytestmark = pytest.mark.slow

MODELS = {
    "dbt_project.yml": "name: analytics\nversion: '1.0'\nprofile: analytics\nmodel-paths: [models]\n",
    "models/sources.yml": "version: 2\nsources:\n  - name: raw\n    schema: main\n    tables: [{name: people_raw}]\n",
    "models/stg_people.sql": "select id, lower(email) as email, spend from {{ source('raw', 'people_raw') }}\n",
    "models/customers_enriched.sql": (
        "select id, email, spend, case when spend >= 30 then 'gold' else 'basic' end as tier\n"
        "from {{ ref('stg_people') }}\n"
    ),
    "models/schema.yml": (
        "version: 2\nmodels:\n  - name: customers_enriched\n    columns:\n"
        "      - name: id\n        data_tests: [unique, not_null]\n      - name: email\n      - name: tier\n"
    ),
}


@pytest.fixture(scope="session")
def dbt_venv() -> Path:
    return side_venv("dbt")


@pytest.fixture(scope="session")
def dbt_project(tmp_path_factory: pytest.TempPathFactory, dbt_venv: Path) -> Path:
    """A dbt-duckdb project with two models over a raw table, after `dbt build` (models and tests)."""
    import duckdb

    base = tmp_path_factory.mktemp("dbt")
    warehouse = base / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute(
        "create table people_raw as select i as id, 'P' || i || '@Example.com' as email, i * 10 as spend "
        "from range(1, 6) r(i)"
    )
    con.close()
    project = base / "analytics"
    for name, text in MODELS.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    profile = {"analytics": {"target": "dev", "outputs": {"dev": {"type": "duckdb", "path": str(warehouse)}}}}
    (project / "profiles.yml").write_text(json.dumps(profile))
    dbt(dbt_venv, project, "build")
    return project


def dbt(venv: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(venv / "bin" / "dbt"), *args, "--project-dir", str(project), "--profiles-dir", str(project)]
    done = subprocess.run(
        command, cwd=project, env=venv_env(venv), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture
def hooks() -> Iterator[WebhookSimulator]:
    forget_callers()
    with WebhookSimulator() as simulator:
        yield simulator
    forget_callers()


def activate_project(root: Path, dbt_dir: Path, hooks_url: str, syncs: dict[str, str]) -> Path:
    """An activate project reading the dbt project's warehouse, with `dbt: {project_dir: ...}` and `syncs`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "syncs").mkdir(exist_ok=True)
    warehouse = dbt_dir.parent / "warehouse.duckdb"
    (root / "activate.yml").write_text(
        f"state: {{url: 'duckdb:///{root / 'state.duckdb'}'}}\n"
        f"dbt: {{project_dir: '{dbt_dir}', target_path: target}}\n"
        "connections:\n"
        f"  warehouse: {{type: duckdb, path: '{warehouse}'}}\n"
        f"  hooks: {{type: webhook, url: '{hooks_url}'}}\n"
    )
    for name, text in syncs.items():
        (root / "syncs" / f"{name}.yml").write_text(text)
    return root


GOLD = """\
owner: Data Team <data@example.com>
source:
  connection: warehouse
  dbt: customers_enriched
  primary_key: id
destination:
  connection: hooks
  object: customers
  mapping: {email: email, tier: tier}
"""
JOINED = """\
source:
  connection: warehouse
  query: |
    select c.id, c.email from {{ ref('customers_enriched') }} c
    join ref('stg_people') s using (id) where c.tier = 'gold'
  primary_key: id
destination:
  connection: hooks
  object: gold
  mapping: {email: email}
"""


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_validate_plan_and_run_read_the_model(dbt_project: Path, hooks: WebhookSimulator, tmp_path: Path) -> None:
    root = activate_project(tmp_path / "act", dbt_project, hooks.url, {"gold": GOLD, "joined": JOINED})
    project = load_project(root)
    gold, joined = project.sync("gold"), project.sync("joined")
    assert gold.query == 'select * from "warehouse"."main"."customers_enriched"'
    assert '"warehouse"."main"."customers_enriched" c' in joined.query
    assert '"warehouse"."main"."stg_people" s' in joined.query
    assert [m.name for m in joined.dbt_models] == ["customers_enriched", "stg_people"]
    assert gold.dbt_models[0].columns == ("id", "email", "tier")

    validated = cli("validate", "--project-dir", str(root))
    assert validated.exit_code == 0, validated.output
    planned = cli("plan", "gold", "--project-dir", str(root))
    assert planned.exit_code == 0, planned.output
    assert "+5" in planned.output or "5 added" in planned.output or "added" in planned.output
    ran = cli("run", "gold", "joined", "--project-dir", str(root))
    assert ran.exit_code == 0, ran.output
    sent = hooks.rows("customers")
    assert len(sent) == 5
    assert {record["tier"] for records in sent.values() for record in records} == {"gold", "basic"}
    assert len(hooks.rows("gold")) == 3  # spend 30, 40, 50


def test_renamed_model_fails_validate_with_position_and_fix(
    dbt_project: Path, dbt_venv: Path, hooks: WebhookSimulator, tmp_path: Path
) -> None:
    copy = tmp_path / "analytics"
    shutil.copytree(dbt_project, copy)
    root = activate_project(tmp_path / "act", copy, hooks.url, {"gold": GOLD, "joined": JOINED})
    (copy / "models" / "customers_enriched.sql").rename(copy / "models" / "customers_gold.sql")

    stale = cli("validate", "--project-dir", str(root))
    assert stale.exit_code == 2
    assert "syncs/gold.yml:4:8: source.dbt: dbt manifest" in stale.output
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    [gold, joined] = caught.value.issues
    assert (gold.file, gold.line, gold.column) == ("syncs/gold.yml", 4, 8)
    manifest = "../analytics/target/manifest.json"
    assert gold.message == f"dbt manifest {manifest} is older than models (changed since dbt last parsed)"
    assert gold.hint == "run `dbt parse` (or `dbt build`) in ../analytics to write target/manifest.json"
    assert (joined.file, joined.line, joined.column) == ("syncs/joined.yml", 3, 10)

    dbt(dbt_venv, copy, "parse")
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    by_file = {issue.file: issue for issue in caught.value.issues}
    gold = by_file["syncs/gold.yml"]
    assert (gold.line, gold.column, gold.path) == (4, 8, "source.dbt")
    assert "dbt model 'customers_enriched' is not in" in gold.message
    assert gold.hint is not None
    assert gold.hint.startswith("did you mean 'customers_gold'? (if it is new or renamed, run `dbt parse`")
    joined = by_file["syncs/joined.yml"]
    assert (joined.line, joined.column) == (4, 31)  # the `{{ ref(...) }}` inside the query's block


def test_exposures_parse_as_dbt_yaml_and_dbt_accepts_them(
    dbt_project: Path, dbt_venv: Path, hooks: WebhookSimulator, tmp_path: Path
) -> None:
    copy = tmp_path / "analytics"
    shutil.copytree(dbt_project, copy)
    plain = GOLD.replace("dbt: customers_enriched", "query: select 1 as id, 'a' as email, 'b' as tier")
    root = activate_project(tmp_path / "act", copy, hooks.url, {"gold": GOLD, "joined": JOINED, "plain": plain})
    out = copy / "models" / "activate_exposures.yml"
    written = cli("dbt", "exposures", "--project-dir", str(root), "--output", str(out))
    assert written.exit_code == 0, written.output
    document = YAML(typ="safe").load(out.read_text())
    assert document["version"] == 2
    by_name = {item["name"]: item for item in document["exposures"]}
    assert set(by_name) == {"activate_gold", "activate_joined"}  # `plain` reads no dbt model
    assert by_name["activate_gold"]["owner"] == {"name": "Data Team", "email": "data@example.com"}
    assert by_name["activate_joined"]["depends_on"] == ["ref('customers_enriched')", "ref('stg_people')"]

    dbt(dbt_venv, copy, "parse")
    manifest = json.loads((copy / "target" / "manifest.json").read_text())
    parsed = manifest["exposures"]["exposure.analytics.activate_joined"]
    assert parsed["depends_on"]["nodes"] == ["model.analytics.customers_enriched", "model.analytics.stg_people"]
    assert manifest["exposures"]["exposure.analytics.activate_gold"]["owner"]["email"] == "data@example.com"
    assert load_project(root).sync("gold").dbt_models  # the fresh manifest (with exposures) still resolves


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Data Team <data@example.com>", {"name": "Data Team", "email": "data@example.com"}),
        ("data@example.com", {"email": "data@example.com"}),
        ("Growth", {"name": "Growth"}),
        (None, {"name": "activate"}),
    ],
)
def test_owner_forms(text: str | None, expected: dict[str, str]) -> None:
    assert owner(text) == expected


def test_missing_manifest_is_a_config_error_with_the_fix(tmp_path: Path, hooks: WebhookSimulator) -> None:
    dbt_dir = tmp_path / "analytics"
    dbt_dir.mkdir()
    (dbt_dir / "dbt_project.yml").write_text("name: analytics\n")
    root = activate_project(tmp_path / "act", dbt_dir, hooks.url, {"gold": GOLD})
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    [issue] = caught.value.issues
    assert (issue.file, issue.line, issue.column) == ("syncs/gold.yml", 4, 8)
    assert "manifest" in issue.message
    assert issue.hint is not None
    assert "dbt parse" in issue.hint


def test_validate_checks_mapped_columns_against_the_manifest_when_the_warehouse_is_unreachable(
    dbt_project: Path, hooks: WebhookSimulator, tmp_path: Path
) -> None:
    typo = GOLD.replace("tier: tier", "tier: tier_name")
    root = activate_project(tmp_path / "act", dbt_project, hooks.url, {"gold": typo})
    yml = root / "activate.yml"
    yml.write_text(yml.read_text().replace(str(dbt_project.parent / "warehouse.duckdb"), str(tmp_path / "gone.duckdb")))

    for args in ([], ["--check-connections"]):  # no connection opened / the warehouse file is missing
        result = cli("validate", "--project-dir", str(root), *args)
        assert result.exit_code == 2, result.output
        assert "syncs/gold.yml:9:27: destination.mapping.tier: column 'tier_name' is not among the columns" in (
            " ".join(result.output.split())
        )


def test_validate_with_connections_checks_the_real_columns(
    dbt_project: Path, hooks: WebhookSimulator, tmp_path: Path
) -> None:
    spend = GOLD.replace("tier: tier", "spend: spend")  # a column the model has but its YAML does not document
    root = activate_project(tmp_path / "act", dbt_project, hooks.url, {"gold": spend})
    assert cli("validate", "--project-dir", str(root)).exit_code == 2  # the manifest alone does not know `spend`
    reached = cli("validate", "--project-dir", str(root), "--check-connections")
    assert reached.exit_code == 0, reached.output
