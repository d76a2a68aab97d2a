"""Issue 12 acceptance 1: select syncs like dbt (names, globs, tag:, +NAME, --exclude) on plan, run and friends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from activate.cli.app import app
from activate.errors import UsageError
from activate.selection import select_syncs
from activate.testing.project import ScratchProject

runner = CliRunner()


def _invoke(project: ScratchProject, *args: str) -> Any:
    return runner.invoke(app, [*args, "--project-dir", str(project.root)], env={"COLUMNS": "200"})


def _objects(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_run_select_tag_exclude_runs_exactly_the_selection_in_dependency_order(crm_project: ScratchProject) -> None:
    result = _invoke(crm_project, "run", "--select", "tag:crm", "--exclude", "hubspot_companies", "--json")
    assert result.exit_code == 0, result.output
    runs = [o for o in _objects(result.stdout) if o["type"] == "run"]
    # file order would put contacts before tickets; contacts says `after: [hubspot_tickets]`
    assert [r["sync_name"] for r in runs] == ["hubspot_tickets", "hubspot_contacts"]
    assert all(r["status"] == "succeeded" for r in runs)
    recorded = crm_project.reader().runs(None, 50)
    assert sorted(r["sync_name"] for r in recorded) == ["hubspot_contacts", "hubspot_tickets"]


def test_plan_of_several_syncs_prints_one_summary_table_then_each_plan(crm_project: ScratchProject) -> None:
    result = _invoke(crm_project, "plan", "hubspot_*", "slack_alerts")
    assert result.exit_code == 0, result.output
    head, _, details = result.stdout.partition("Plan for ")
    rows = [[c.strip() for c in line.strip("│ ").split("│")] for line in head.splitlines() if line.startswith("│")]
    # one summary line per sync, in dependency order: counts, expected API calls, guardrail verdict
    names = ["hubspot_companies", "hubspot_tickets", "hubspot_contacts", "slack_alerts"]
    assert [row[0] for row in rows] == names
    for row in rows:
        assert row[1:] == ["upsert", "20", "0", "0", "0", "0", "2", "ok"], "20 rows at batch_size 10: 2 API calls"
    for name in names:
        assert f"Plan for {name}" in result.stdout, "the details follow the table"
    assert "salesforce_accounts" not in result.stdout


def test_plan_json_gives_one_object_per_sync(crm_project: ScratchProject) -> None:
    result = _invoke(crm_project, "plan", "hubspot_*", "slack_alerts", "--json")
    assert result.exit_code == 0, result.output
    plans = _objects(result.stdout)
    assert [p["type"] for p in plans] == ["plan"] * 4
    assert [p["sync"] for p in plans] == ["hubspot_companies", "hubspot_tickets", "hubspot_contacts", "slack_alerts"]
    assert all(p["added"] == 20 and p["api_calls"] == 2 for p in plans)


def test_selector_forms(crm_project: ScratchProject) -> None:
    project = crm_project.load()
    assert select_syncs(project, ["+slack_alerts"]) == ["hubspot_tickets", "hubspot_contacts", "slack_alerts"]
    assert select_syncs(project, ["tag:nightly", "salesforce_*"]) == ["hubspot_companies", "salesforce_accounts"]
    assert select_syncs(project, [], ["tag:crm", "slack_alerts"]) == ["salesforce_accounts"]
    assert select_syncs(project, ["+slack_alerts"], ["+hubspot_contacts"]) == ["slack_alerts"]
    assert len(select_syncs(project)) == 5


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("tag:crn", "no sync has tag 'crn' (did you mean 'crm'?); tags in use: alerts, crm, nightly"),
        ("zendesk_*", "no sync matches 'zendesk_*'"),
        ("hubspot_contact", "unknown sync 'hubspot_contact' (did you mean 'hubspot_contacts'?)"),
        ("+hubspot_contact", "unknown sync 'hubspot_contact'"),
    ],
)
def test_a_selector_matching_nothing_is_a_usage_error_naming_the_choices(
    crm_project: ScratchProject, selector: str, message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        select_syncs(crm_project.load(), [selector])
    assert message in str(caught.value)
    result = _invoke(crm_project, "plan", selector)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_runs_and_status_take_selectors_too(crm_project: ScratchProject) -> None:
    assert _invoke(crm_project, "run", "tag:nightly").exit_code == 0
    listed = _objects(_invoke(crm_project, "runs", "tag:crm", "--json").stdout)
    assert [r["sync_name"] for r in listed] == ["hubspot_companies"]
    statuses = _objects(_invoke(crm_project, "status", "hubspot_*", "--exclude", "hubspot_tickets", "--json").stdout)
    assert [s["sync"] for s in statuses] == ["hubspot_companies", "hubspot_contacts"]
    validated = _invoke(crm_project, "validate", "tag:crm")
    assert validated.exit_code == 0, validated.output
    assert _invoke(crm_project, "validate", "tag:nope").exit_code == 2


def test_run_without_a_selection_asks_for_one(crm_project: ScratchProject) -> None:
    result = _invoke(crm_project, "run")
    assert result.exit_code == 2
    assert "name the syncs to run" in result.output


def test_a_project_without_syncs_says_so(tmp_path: Any) -> None:
    (tmp_path / "activate.yml").write_text("connections:\n  warehouse: {type: duckdb, path: w.duckdb}\n")
    result = runner.invoke(app, ["plan", "--project-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "the project defines no syncs yet" in result.output
    assert runner.invoke(app, ["validate", "--project-dir", str(tmp_path)]).exit_code == 0
