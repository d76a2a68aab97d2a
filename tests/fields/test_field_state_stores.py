"""Field-level state in the other state stores, once each, over real HTTP to the HubSpot simulator: the project's
state store on Postgres, and `state: warehouse` (the warehouse-native diff keeps per-row state, confirmed values
included, in the DuckDB warehouse). A partial update sends only the changed field, the confirmed values are merged,
`plan --key` reads a chosen row's state where it lives, and `rows --diff` shows what the write changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from field_support import customers_table, hubspot_project, upsert_inputs
from typer.testing import CliRunner

from activate.cli.app import app
from activate.clock import FakeClock
from activate.testing.hubspot import HubSpotSimulator

pytestmark = pytest.mark.slow

MAPPING: dict[str, Any] = {
    "customer_id": "customer_id",
    "email": "email",
    "phone": {"column": "phone", "nulls": "skip"},
    "f01": "f01",
    "f02": "f02",
}


@pytest.mark.parametrize("store", [pytest.param("postgres", marks=pytest.mark.postgres), "warehouse"])
def test_partial_updates_and_confirmed_values_in_each_state_store(
    tmp_path: Path, hubspot: HubSpotSimulator, clock: FakeClock, request: pytest.FixtureRequest, store: str
) -> None:
    state_url = request.getfixturevalue("postgres_url") if store == "postgres" else None
    project = hubspot_project(tmp_path / "p", hubspot, state_url=state_url)
    customers_table(project, 20)
    extra = {"state": "warehouse"} if store == "warehouse" else {}
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
        **extra,
    )
    first = project.run("customers", clock=clock)
    assert (first.status, first.rows_succeeded) == ("succeeded", 20), first.error
    project.execute(
        "update customers set f02 = 'edited' where id <= 5", "update customers set phone = null where id = 6"
    )
    hubspot.answered.clear()

    root = str(project.root)
    planned = CliRunner().invoke(app, ["plan", "customers", "--key", "2", "--key", "9", "--project-dir", root])
    assert planned.exit_code == 0, planned.output
    assert 'f02: "f02-2" → "edited"' in planned.output
    assert "row 9: unchanged since run" in " ".join(planned.output.split())
    run = project.run("customers", clock=clock)

    assert (run.status, run.rows_succeeded, run.rows_skipped, run.api_calls) == ("succeeded", 5, 1, 1)
    assert [i["properties"] for i in upsert_inputs(hubspot)] == [
        {"customer_id": f"C-{n}", "f02": "edited"} for n in range(1, 6)
    ]
    if store == "warehouse":
        [(fields,)] = project.execute("select fields from activate.activate_state where row_key = '2'")
    else:
        fields = project.reader().synced_row("customers", "2").fields
    assert json.loads(fields) == {
        "customer_id": "C-2",
        "email": "person2@example.com",
        "phone": "555-2",
        "f01": "f01-2",
        "f02": "edited",
    }
    shown = CliRunner().invoke(app, ["rows", run.run_id, "--diff", "--json", "--project-dir", root])
    rows = {r["key"]: r for r in map(json.loads, shown.output.splitlines())}
    assert rows["2"]["changes"] == {"f02": {"old": "f02-2", "new": "edited"}}
    assert (rows["6"]["status"], rows["6"]["changes"]) == ("skipped", {})
    hubspot.answered.clear()
    assert project.run("customers", clock=clock).api_calls == 0
    assert upsert_inputs(hubspot) == []
