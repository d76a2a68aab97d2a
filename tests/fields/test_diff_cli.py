"""Acceptance 3 of issue #11 through the CLI (Typer's runner) over real HTTP to the HubSpot simulator:
`plan --diff --key K` prints old → new for each changed field of K, and `rows RUN --diff --json` gives the same as
data; a created record shows as created, a row synced before field-level state shows only the new values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from field_support import customers_table, hubspot_project
from typer.testing import CliRunner

from activate.cli.app import app
from activate.clock import FakeClock
from activate.testing.hubspot import HubSpotSimulator
from activate.testing.project import ScratchProject

pytestmark = pytest.mark.slow

MAPPING: dict[str, Any] = {
    "customer_id": "customer_id",
    "email": "email",
    "phone": "phone",
    "f01": {"column": "f01", "on": "create"},
    "f02": "f02",
}


@pytest.fixture
def project(tmp_path: Path, hubspot: HubSpotSimulator, clock: FakeClock) -> ScratchProject:
    """Ten customers synced once, then: 3 gets a new phone and f02, 4 changes only its on: create field, 11 is new,
    10 is gone."""
    project = hubspot_project(tmp_path / "p", hubspot)
    customers_table(project, 10)
    project.add_sync(
        "customers",
        {
            "connection": "hubspot",
            "object": "contacts",
            "match": "customer_id",
            "update": "changed_fields",
            "mapping": MAPPING,
        },
        query="select * from customers",
    )
    assert project.run("customers", clock=clock).status == "succeeded"
    project.execute(
        "update customers set phone = null, f02 = 'f02 \"new\"' where id = 3",
        "update customers set f01 = 'changed' where id = 4",
        "insert into customers (id, customer_id, email, phone, f01, f02) "
        "values (11, 'C-11', 'p11@x.io', '1', 'w', 'v')",
        "delete from customers where id = 10",
    )
    return project


def cli(project: ScratchProject, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--project-dir", str(project.root)])


def test_plan_diff_key_prints_old_to_new_for_each_changed_field(project: ScratchProject) -> None:
    result = cli(
        project,
        "plan",
        "customers",
        "--diff",
        "--key",
        "3",
        "--key",
        "4",
        "--key",
        "5",
        "--key",
        "11",
        "--key",
        "10",
        "--key",
        "99",
    )

    assert result.exit_code == 0, result.output
    out = result.output
    assert "row 3: changed (upsert)" in out
    assert 'f02: "f02-3" → "f02 \\"new\\""' in out
    assert 'phone: "555-3" → null' in out
    assert "row 4: changed (upsert)" in out
    assert "no field this sync updates changed: nothing is sent" in out
    assert "row 5: unchanged since run" in out
    assert "row 11: added (upsert)" in out
    assert '"f01":"w"' in out
    assert "row 10: removed (forget)" in out
    assert "row 99: not in the source and never synced: nothing to send" in out
    assert "changes in sample rows (old → new):" in out

    as_data = cli(project, "plan", "customers", "--json", "--key", "3")
    [plan] = [json.loads(line) for line in as_data.output.splitlines()]
    [row] = plan["keys"]
    assert (row["key"], row["kind"], row["operation"]) == ("3", "changed", "upsert")
    assert row["changes"] == {"f02": {"old": "f02-3", "new": 'f02 "new"'}, "phone": {"old": "555-3", "new": None}}
    assert row["fields"] == {"customer_id": "C-3", "f02": 'f02 "new"', "phone": None}


def test_rows_diff_json_gives_the_same_as_data(project: ScratchProject, clock: FakeClock) -> None:
    run = project.run("customers", clock=clock)
    assert run.status == "succeeded", run.error

    result = cli(project, "rows", run.run_id[:-2], "--diff", "--json")

    assert result.exit_code == 0, result.output
    rows = {r["key"]: r for r in map(json.loads, result.output.splitlines())}
    assert {r["type"] for r in rows.values()} == {"row_changes"}
    assert rows["3"] | {"type": None} == {
        "type": None,
        "key": "3",
        "operation": "upsert",
        "status": "succeeded",
        "created": False,
        "changes": {"f02": {"old": "f02-3", "new": 'f02 "new"'}, "phone": {"old": "555-3", "new": None}},
    }
    assert (rows["11"]["created"], rows["11"]["changes"]) == (True, {})
    assert (rows["4"]["status"], rows["4"]["changes"]) == ("skipped", {})
    assert rows["10"]["operation"] == "delete"

    shown = cli(project, "rows", run.run_id, "--diff")
    assert shown.exit_code == 0, shown.output
    assert 'phone: "555-3" → null' in shown.output
    assert "created by this run" in shown.output
    plain = cli(project, "rows", run.run_id, "--json")
    assert {json.loads(line)["type"] for line in plain.output.splitlines()} == {"row"}


def test_a_row_synced_before_field_level_state_shows_only_the_new_values(
    project: ScratchProject, clock: FakeClock
) -> None:
    import duckdb

    # as a state store migrated to field-level state holds rows synced before it: no confirmed values
    con = duckdb.connect(str(project.root / ".activate" / "state.duckdb"))
    con.execute("UPDATE activate_state SET fields = NULL WHERE row_key = '3'")
    con.close()

    planned = cli(project, "plan", "customers", "--diff", "--key", "3")
    assert "phone: ? → null" in planned.output
    run = project.run("customers", clock=clock)
    rows = {
        r["key"]: r for r in map(json.loads, cli(project, "rows", run.run_id, "--diff", "--json").output.splitlines())
    }
    assert rows["3"]["changes"] == {
        "customer_id": {"new": "C-3"},
        "email": {"new": "person3@example.com"},
        "f02": {"new": 'f02 "new"'},
        "phone": {"new": None},
    }
    assert 'f02: ? → "f02 \\"new\\""' in cli(project, "rows", run.run_id, "--diff").output


def test_a_composite_key_is_given_as_json(tmp_path: Path, hubspot: HubSpotSimulator, clock: FakeClock) -> None:
    project = hubspot_project(tmp_path / "p", hubspot)
    customers_table(project, 4)
    project.add_sync(
        "customers",
        {"connection": "hubspot", "object": "contacts", "match": "customer_id", "mapping": MAPPING},
        query="select id, 'eu' as region, * exclude (id) from customers",
        primary_key=["id", "region"],
    )
    assert project.run("customers", clock=clock).status == "succeeded"
    project.execute("update customers set f02 = 'x' where id = 2")

    result = cli(project, "plan", "customers", "--key", '[2, "eu"]', "--key", '[1,"eu"]')
    assert result.exit_code == 0, result.output
    assert 'row [2,"eu"]: changed (upsert)' in result.output
    assert 'f02: "f02-2" → "x"' in result.output
    assert 'row [1,"eu"]: unchanged since run' in result.output

    wrong = cli(project, "plan", "customers", "--key", "2")
    assert wrong.exit_code == 2
    assert 'sync \'customers\' has a composite key (id, region): give it as ["<id>", "<region>"]' in wrong.output


def test_plan_key_says_why_a_row_is_held_back_or_cannot_be_sent(
    tmp_path: Path, hubspot: HubSpotSimulator, clock: FakeClock
) -> None:
    project = hubspot_project(tmp_path / "p", hubspot)
    customers_table(project, 5)
    project.execute("update customers set email = 'broken-3' where id = 3")
    project.add_sync(
        "customers",
        {"connection": "hubspot", "object": "contacts", "match": "customer_id", "mapping": {**MAPPING, "f03": "score"}},
        query="select *, case when id = 4 then 'nan'::double else 1.5 end as score from customers",
    )
    first = project.run("customers", clock=clock)
    assert (first.rows_succeeded, first.rows_rejected) == (3, 2)

    plan = project.plan("customers", sample_keys=("3", "4", "1"))

    held, invalid, synced = plan.key_samples
    assert (held["kind"], invalid["kind"], synced["kind"]) == ("held_back", "invalid", "unchanged")
    assert held["note"].startswith(f"held back: rejected INVALID_EMAIL in run {first.run_id}")
    assert invalid["note"].startswith("cannot be sent:")
    assert "NaN" in invalid["note"] or "nan" in invalid["note"]


def test_plan_key_says_an_insert_sync_skips_a_changed_row(
    tmp_path: Path, hubspot: HubSpotSimulator, clock: FakeClock
) -> None:
    project = hubspot_project(tmp_path / "p", hubspot)
    customers_table(project, 3)
    project.add_sync(
        "customers",
        {"connection": "hubspot", "object": "contacts", "mode": "insert", "match": "customer_id", "mapping": MAPPING},
        query="select * from customers",
    )
    assert project.run("customers", clock=clock).status == "succeeded"
    project.execute("update customers set f02 = 'x' where id = 1")

    [row] = project.plan("customers", sample_keys=("1",)).key_samples

    assert (row["kind"], row["operation"]) == ("changed", "skip")
    assert row["note"] == "changed in the source; mode insert never updates a record it created"
