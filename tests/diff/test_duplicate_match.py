"""Two source rows with one match value would land on one destination record: all but the smallest key are rejected
with DUPLICATE_MATCH_VALUE, counted in the plan, never sent, never deleted by a mirror.

The rule lives in the classification SQL shared by the local and the warehouse-native diff, so both run here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator


@pytest.fixture
def sim() -> Iterator[WebhookSimulator]:
    with WebhookSimulator() as simulator:
        yield simulator


@pytest.fixture(params=["local", "duckdb-native", "postgres-native"])
def project(request: pytest.FixtureRequest, tmp_path: Path, sim: WebhookSimulator) -> ScratchProject:
    warehouse_url = request.getfixturevalue("postgres_url") if request.param == "postgres-native" else None
    project = ScratchProject(tmp_path / "p", warehouse_url=warehouse_url)
    project.people(6)
    # rows 2, 4 and 6 reuse row 1's and row 3's emails (other case, stray spaces): one record each in a CRM
    project.execute(
        "update people set email = 'Person1@Example.com ' where id = 4",
        "update people set email = 'person1@example.com' where id = 6",
        "update people set email = 'PERSON3@example.com' where id = 2",
    )
    project.add_connection("hooks", {"type": "webhook", "url": sim.url})
    extra = {"state": "warehouse"} if request.param != "local" else {}
    project.add_sync(
        "people_hook",
        {
            "connection": "hooks",
            "object": "people",
            "mode": "mirror",
            "match": "email",
            "mapping": {"email": "email", "first_name": "first_name"},
        },
        **extra,
    )
    return project


def test_all_but_the_smallest_key_are_rejected_and_counted(project: ScratchProject, sim: WebhookSimulator) -> None:
    plan = project.plan("people_hook")
    assert (plan.counts.added, plan.counts.duplicate_match, plan.counts.invalid) == (3, 3, 3)
    assert plan.to_dict()["duplicate_match"] == 3
    assert any("DUPLICATE_MATCH_VALUE" in note and "3 rows share their email" in note for note in plan.notes)

    run = project.run("people_hook")
    assert (run.status, run.rows_succeeded, run.rows_rejected) == ("partial", 3, 3)
    assert sorted(sim.rows("people")) == ["1", "2", "5"]
    results = {r["row_key"]: r for r in project.reader().row_results(run.run_id)}
    rejected = {k: r["error_code"] for k, r in results.items() if r["status"] == "rejected"}
    assert rejected == {"4": "DUPLICATE_MATCH_VALUE", "6": "DUPLICATE_MATCH_VALUE", "3": "DUPLICATE_MATCH_VALUE"}
    assert "the row with key 1 has the same email" in results["4"]["error_message"]


def test_a_duplicate_never_makes_a_mirror_delete_and_a_fixed_row_is_sent(
    project: ScratchProject, sim: WebhookSimulator
) -> None:
    first = project.run("people_hook")
    assert sorted(r["row_key"] for r in project.reader().row_results(first.run_id) if r["status"] == "succeeded") == [
        "1",
        "2",
        "5",
    ]
    again = project.run("people_hook")
    assert (again.rows_removed, again.rows_succeeded, again.api_calls) == (0, 0, 0)

    project.execute("update people set email = 'person6@example.com' where id = 6")
    fixed = project.run("people_hook")
    assert (fixed.rows_added, fixed.rows_succeeded, fixed.rows_removed) == (1, 1, 0)
    assert sorted(sim.rows("people")) == ["1", "2", "5", "6"]
