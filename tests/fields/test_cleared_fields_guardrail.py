"""Acceptance 5 of issue #11 over real HTTP to the HubSpot simulator: `max_cleared_fields: "5%"` stops a run that
would blank `phone` on 300 of 1,000 synced rows before any write (0 requests), naming the field and the share;
`plan` shows it tripped and exits 4 like max_deletes; `run` exits 1. Within the limit the run goes ahead."""

from __future__ import annotations

from pathlib import Path

import pytest
from field_support import customers_table, hubspot_project, upsert_inputs
from typer.testing import CliRunner

from activate.cli.app import app
from activate.clock import FakeClock
from activate.exits import FAILED, GUARDRAIL_TRIPPED
from activate.testing.hubspot import HubSpotSimulator

pytestmark = pytest.mark.slow

MESSAGE = (
    "max_cleared_fields: would clear phone on 300 of 1000 synced rows (30.0%), over max_cleared_fields 5% (50 rows); "
    "nothing was written"
)


def test_blanking_phone_on_300_of_1000_rows_stops_before_any_write(
    tmp_path: Path, hubspot: HubSpotSimulator, clock: FakeClock
) -> None:
    project = hubspot_project(tmp_path / "p", hubspot)
    customers_table(project, 1000)
    project.add_sync(
        "customers",
        {
            "connection": "hubspot",
            "object": "contacts",
            "match": "customer_id",
            "update": "changed_fields",
            "mapping": {"customer_id": "customer_id", "email": "email", "phone": "phone", "f01": "f01"},
        },
        query="select * from customers",
        guardrails={"max_cleared_fields": "5%"},
    )
    first = project.run("customers", clock=clock)
    assert (first.status, first.rows_succeeded) == ("succeeded", 1000), first.error
    project.execute("update customers set phone = null where id % 10 < 3")  # 300 rows: a broken model
    hubspot.answered.clear()

    stopped = project.run("customers", clock=clock)

    assert (stopped.status, stopped.exit_code, stopped.api_calls) == ("failed", FAILED, 0)
    assert MESSAGE in (stopped.error or "")
    assert list(hubspot.answered) == [], "not one request: the run stopped before any write"
    assert project.reader().row_results(stopped.run_id) == []

    root = str(project.root)
    planned = CliRunner().invoke(app, ["plan", "customers", "--project-dir", root])
    assert planned.exit_code == GUARDRAIL_TRIPPED, planned.output
    assert "guardrail max_cleared_fields: TRIPPED would clear phone on 300 of 1000 synced rows (30.0%)" in " ".join(
        planned.output.split()
    )
    ran = CliRunner().invoke(app, ["run", "customers", "--project-dir", root])
    assert ran.exit_code == FAILED
    assert "would clear phone on 300 of 1000 synced rows (30.0%)" in " ".join(ran.output.split())
    assert list(hubspot.answered) == []
    assert project.plan("customers").counts.changed == 300, "nothing advanced: the blanked rows are still pending"

    # the model fixed for all but 30 rows (3%): within the limit, those are sent and clear phone
    project.execute("update customers set phone = '555-' || id where phone is null and id > 100")
    within = project.run("customers", clock=clock)
    assert (within.status, within.rows_succeeded, within.api_calls) == ("succeeded", 30, 1), within.error
    assert {i["properties"]["phone"] for i in upsert_inputs(hubspot)} == {""}, "HubSpot clears with an empty string"
    verdict = next(v for v in project.plan("customers").verdicts if v.name == "max_cleared_fields")
    assert not verdict.tripped


def test_a_nulls_skip_field_is_never_counted_as_cleared(
    tmp_path: Path, hubspot: HubSpotSimulator, clock: FakeClock
) -> None:
    project = hubspot_project(tmp_path / "p", hubspot)
    customers_table(project, 100)
    project.add_sync(
        "customers",
        {
            "connection": "hubspot",
            "object": "contacts",
            "match": "customer_id",
            "mapping": {"customer_id": "customer_id", "phone": {"column": "phone", "nulls": "skip"}, "f01": "f01"},
        },
        query="select * from customers",
        guardrails={"max_cleared_fields": 5},
    )
    assert project.run("customers", clock=clock).status == "succeeded"
    project.execute("update customers set phone = null, f01 = null where id <= 40")

    plan = project.plan("customers")

    assert plan.cleared_fields == {"f01": 40}
    [verdict] = [v for v in plan.verdicts if v.name == "max_cleared_fields"]
    assert verdict.tripped
    assert "would clear f01 on 40 of 100 synced rows (40.0%), over max_cleared_fields 5 (5 rows)" in verdict.message
