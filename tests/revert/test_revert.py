"""Issue #11 acceptance 4: `activate revert RUN_ID` against the webhook simulator over real HTTP.

A run that blanks `phone` on 300 of 1,000 rows is reverted: the 300 previous values are back in the simulator's
records, in ceil(300 / batch) calls and no call for the other 700; the revert is a run with trigger `revert` naming
the run it undid; the next normal run re-applies the blanking while the source still blanks, and sends nothing once
the source is fixed. Records a run created are deleted in mirror mode and only listed otherwise; a field a later run
changed is kept; `--hold` keeps `run` and the scheduler off the sync until `resume`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from activate.cli.app import app
from activate.revert import execute_revert, preview_revert
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

BATCH = 100
SYNC = "contacts_hook"


@pytest.fixture
def sim() -> Iterator[WebhookSimulator]:
    with WebhookSimulator() as simulator:
        yield simulator


def _project(root: Path, sim: WebhookSimulator, mode: str, rows: int, state_url: str | None = None) -> ScratchProject:
    project = ScratchProject(root, state_url=state_url)
    project.execute(
        "drop table if exists contacts",
        "create table contacts (id integer primary key, email varchar, phone varchar)",
        f"insert into contacts select i, 'c' || i || '@example.com', '555-' || i from range(1, {rows + 1}) r(i)",
    )
    project.add_connection(
        "hooks", {"type": "webhook", "url": sim.url, "rate_limit": {"requests": 200, "per_seconds": 1}}
    )
    project.add_sync(
        SYNC,
        {
            "connection": "hooks",
            "object": "contacts",
            "mode": mode,
            "batch_size": BATCH,
            "mapping": {"email": "email", "phone": "phone"},
        },
        query="select * from contacts",
    )
    return project


def _posts(sim: WebhookSimulator, since: int = 0) -> list[dict[str, Any]]:
    return [call.json() for call in sim.server.log.calls("POST")[since:]]


def _count(sim: WebhookSimulator) -> int:
    return len(sim.server.log.calls("POST"))


def _phones(sim: WebhookSimulator) -> dict[str, Any]:
    return {key: records[0].get("phone") for key, records in sim.rows("contacts").items()}


def _revert(project: ScratchProject, run_id: str, **options: Any) -> Any:
    return execute_revert(project.load(), run_id, **options)


def test_revert_restores_the_blanked_phones_and_touches_nothing_else(tmp_path: Path, sim: WebhookSimulator) -> None:
    project = _project(tmp_path / "p", sim, "upsert", 1000)
    assert project.run(SYNC).status == "succeeded"
    project.execute("update contacts set phone = null where id <= 300")
    blanking = project.run(SYNC)
    assert (blanking.status, blanking.rows_succeeded) == ("succeeded", 300)
    assert all(_phones(sim)[str(i)] is None for i in range(1, 301))
    calls = _count(sim)

    preview = preview_revert(project.load(), blanking.run_id)
    assert (len(preview.restore), dict(preview.restored_fields), len(preview.delete), preview.listed) == (
        300,
        {"phone": 300},
        0,
        [],
    )
    sample = preview.samples["restore"][0]
    assert sample["changes"] == {"phone": {"old": None, "new": "555-1"}}
    assert _count(sim) == calls == 1000 // BATCH + 300 // BATCH, "a dry run sends nothing"

    before = _count(sim)
    summary = _revert(project, blanking.run_id)
    assert (summary.status, summary.rows_succeeded) == ("succeeded", 300)
    posts = _posts(sim, before)
    assert len(posts) == math.ceil(300 / BATCH), "the 300 rows in ceil(300/batch) calls, nothing for the other 700"
    sent = sorted(int(row["key"]) for body in posts for row in body["rows"])
    assert sent == list(range(1, 301))
    phones = _phones(sim)
    assert all(phones[str(i)] == f"555-{i}" for i in range(1, 1001)), "every phone is back as before the run"

    reader = project.reader()
    try:
        revert_run = reader.run(summary.run_id)
        assert revert_run is not None
        assert (revert_run.trigger, revert_run.reverted_run_id) == ("revert", blanking.run_id)
        # batches are recorded as they return, in any order: pick row 1 by key
        results = {r.row_key: r for r in reader.row_results(summary.run_id)}
        assert json.loads(results["1"].changed_fields or "{}") == {"phone": {"old": None, "new": "555-1"}}
        recorded = {r.row_key: r.previous_hash for r in reader.row_results(blanking.run_id)}
        state = reader.synced_rows(SYNC, ["1", "301"])
        assert state["1"].row_hash == recorded["1"], "the row's hash is the one it had before the reverted run"
        assert json.loads(state["1"].fields or "{}") == {"email": "c1@example.com", "phone": "555-1"}
    finally:
        reader.dispose()

    # the source still blanks: the next normal run re-applies it. Its bodies are byte for byte the blanking run's,
    # but the rows' state before the write differs, so the Idempotency-Key does too: never dropped as a replay
    replays = sim.replays
    before = _count(sim)
    again = project.run(SYNC)
    assert (again.status, again.rows_succeeded, _count(sim) - before) == ("succeeded", 300, 3)
    reapplied = [row for body in _posts(sim, before) for row in body["rows"]]
    assert sorted(int(row["key"]) for row in reapplied) == list(range(1, 301))
    assert all(row["fields"]["phone"] is None for row in reapplied)
    assert sim.replays == replays
    assert all(_phones(sim)[str(i)] is None for i in range(1, 301))

    # reverted once more, then the source is fixed: the next run sends nothing
    assert _revert(project, again.run_id).status == "succeeded"
    project.execute("update contacts set phone = '555-' || id where id <= 300")
    before = _count(sim)
    fixed = project.run(SYNC)
    assert (fixed.status, fixed.rows_succeeded, _count(sim) - before) == ("succeeded", 0, 0)


def test_mirror_revert_deletes_exactly_the_created_records(tmp_path: Path, sim: WebhookSimulator) -> None:
    project = _project(tmp_path / "p", sim, "mirror", 100)
    project.run(SYNC)
    project.execute("insert into contacts select i, 'c' || i || '@example.com', '555-' || i from range(101, 151) r(i)")
    creating = project.run(SYNC)
    assert creating.rows_succeeded == 50
    assert len(sim.rows("contacts")) == 150

    before = _count(sim)
    summary = _revert(project, creating.run_id)
    assert (summary.status, summary.rows_succeeded) == ("succeeded", 50)
    posts = _posts(sim, before)
    assert {body["operation"] for body in posts} == {"delete"}
    assert sorted(int(row["key"]) for body in posts for row in body["rows"]) == list(range(101, 151))
    assert sorted(map(int, sim.rows("contacts"))) == list(range(1, 101))
    reader = project.reader()
    try:
        assert reader.synced_rows(SYNC, [str(i) for i in range(101, 151)]) == {}, "deleted records lose their state"
    finally:
        reader.dispose()


def test_upsert_revert_lists_created_records_and_deletes_nothing(tmp_path: Path, sim: WebhookSimulator) -> None:
    project = _project(tmp_path / "p", sim, "upsert", 100)
    project.run(SYNC)
    project.execute("insert into contacts select i, 'c' || i || '@example.com', '555-' || i from range(101, 151) r(i)")
    creating = project.run(SYNC)

    preview = preview_revert(project.load(), creating.run_id)
    assert (preview.delete, preview.listed_by_reason()) == ([], {"created": 50})
    before = _count(sim)
    summary = _revert(project, creating.run_id)
    assert (summary.status, summary.rows_succeeded, _count(sim) - before) == ("succeeded", 0, 0)
    assert len(sim.rows("contacts")) == 150


def test_a_field_a_later_run_changed_is_kept(tmp_path: Path, sim: WebhookSimulator) -> None:
    project = _project(tmp_path / "p", sim, "upsert", 20)
    project.run(SYNC)
    project.execute("update contacts set phone = 'bad-' || id where id <= 10")
    bad = project.run(SYNC)
    project.execute("update contacts set phone = 'later-' || id where id <= 5")
    later = project.run(SYNC)

    preview = preview_revert(project.load(), bad.run_id)
    assert sorted(int(r.row_key) for r in preview.restore) == [6, 7, 8, 9, 10]
    assert {(r.row_key, r.reason, r.fields, r.later_run_id) for r in preview.listed} == {
        (str(i), "changed_since", ("phone",), later.run_id) for i in range(1, 6)
    }
    _revert(project, bad.run_id)
    phones = _phones(sim)
    assert [phones[str(i)] for i in range(1, 11)] == [f"later-{i}" for i in range(1, 6)] + [
        f"555-{i}" for i in range(6, 11)
    ]


def test_cli_dry_run_hold_refuses_run_until_resume(tmp_path: Path, sim: WebhookSimulator) -> None:
    project = _project(tmp_path / "p", sim, "upsert", 30)
    project.run(SYNC)
    project.execute("update contacts set phone = null where id <= 9")
    blanking = project.run(SYNC)
    runner = CliRunner()
    env = {"ACTIVATE_PROJECT_DIR": str(project.root)}

    before = _count(sim)
    shown = runner.invoke(app, ["revert", blanking.run_id], env=env)
    assert shown.exit_code == 0, shown.output
    assert "restore 9 rows (fields: phone 9)" in shown.output
    assert 'phone null → "555-1"' in shown.output
    data = runner.invoke(app, ["revert", blanking.run_id, "--json"], env=env)
    [plan] = [json.loads(line) for line in data.stdout.splitlines()]
    assert (plan["type"], plan["restore"], plan["delete"], plan["dry_run"]) == (
        "revert_plan",
        {"rows": 9, "fields": {"phone": 9}},
        0,
        True,
    )
    assert _count(sim) == before, "a dry run sends nothing"
    assert len(project.reader().runs(SYNC)) == 2, "and records no run"

    held = runner.invoke(app, ["revert", blanking.run_id, "--yes", "--hold"], env=env)
    assert held.exit_code == 0, held.output
    assert _phones(sim)["1"] == "555-1"

    refused = runner.invoke(app, ["run", SYNC], env=env)
    assert refused.exit_code == 5, refused.output
    assert f"is held since the revert of run {blanking.run_id}" in refused.output
    assert "resume contacts_hook" in refused.output
    status = runner.invoke(app, ["status", SYNC], env=env)
    assert "HELD" in status.output

    from activate.scheduler import Scheduler

    scheduler = Scheduler(project.load())
    try:
        skipped = scheduler._claim_and_run(project.load(), SYNC, datetime.now(UTC))
    finally:
        scheduler.shutdown(1)
    assert skipped.summary is None
    assert (skipped.skipped or "").startswith("held: ")

    resumed = runner.invoke(app, ["resume", SYNC], env=env)
    assert resumed.exit_code == 0
    assert "Released" in resumed.output
    ran = runner.invoke(app, ["run", SYNC], env=env)
    assert ran.exit_code == 0, ran.output
    assert _phones(sim)["1"] is None, "the source still blanks: the resumed run re-applies it"


def test_unknown_running_and_pruned_runs_say_so_in_one_line(tmp_path: Path, sim: WebhookSimulator) -> None:
    project = _project(tmp_path / "p", sim, "upsert", 5)
    first = project.run(SYNC)
    runner = CliRunner()
    env = {"ACTIVATE_PROJECT_DIR": str(project.root)}

    unknown = runner.invoke(app, ["revert", "20990101T000000-nope"], env=env)
    assert unknown.exit_code == 2
    assert "no run '20990101T000000-nope' in the state store; list runs with:" in unknown.output
    assert "Traceback" not in unknown.output

    from activate.state.store import StateStore

    store = StateStore(project.state_url, project_root=project.root)
    try:
        store.update_run(first.run_id, status="running")
        running = runner.invoke(app, ["revert", first.run_id], env=env)
        assert running.exit_code == 2
        assert "is still running" in running.output
        store.update_run(first.run_id, status="succeeded")
        store.prune_row_results(datetime.now(UTC) + timedelta(days=1))
    finally:
        store.dispose()
    pruned = runner.invoke(app, ["revert", first.run_id], env=env)
    assert pruned.exit_code == 2
    assert "is older than the kept history: its row results were pruned" in pruned.output
    assert "row_results_retention_days" in pruned.output
    assert len(pruned.output.strip().splitlines()) == 1


@pytest.mark.postgres
def test_revert_on_postgres_state(tmp_path: Path, sim: WebhookSimulator, postgres_url: str) -> None:
    project = _project(tmp_path / "p", sim, "mirror", 200, state_url=postgres_url)
    project.run(SYNC)
    project.execute("update contacts set phone = null where id <= 60")
    project.execute("insert into contacts select i, 'c' || i || '@example.com', '555-' || i from range(201, 211) r(i)")
    bad = project.run(SYNC)
    assert bad.rows_succeeded == 70
    before = _count(sim)
    summary = _revert(project, bad.run_id)
    assert (summary.status, summary.rows_succeeded) == ("succeeded", 70)
    assert _count(sim) - before == 1 + 1, "60 restores in one call, 10 deletes in another"
    phones = _phones(sim)
    assert sorted(map(int, phones)) == list(range(1, 201))
    assert all(phones[str(i)] == f"555-{i}" for i in range(1, 201))
    before = _count(sim)
    project.execute("update contacts set phone = '555-' || id where id <= 60", "delete from contacts where id > 200")
    assert (project.run(SYNC).rows_succeeded, _count(sim) - before) == (0, 0)


def test_mirror_revert_recreates_the_deleted_records(tmp_path: Path, sim: WebhookSimulator) -> None:
    project = _project(tmp_path / "p", sim, "mirror", 40)
    project.run(SYNC)
    project.execute("delete from contacts where id > 30")
    deleting = project.run(SYNC)
    assert sorted(map(int, sim.rows("contacts"))) == list(range(1, 31))

    summary = _revert(project, deleting.run_id)
    assert (summary.status, summary.rows_succeeded) == ("succeeded", 10)
    records = sim.rows("contacts")
    assert {key: records[key][0]["phone"] for key in map(str, range(31, 41))} == {
        str(i): f"555-{i}" for i in range(31, 41)
    }
    reader = project.reader()
    try:
        deleted = {r.row_key: r.previous_hash for r in reader.row_results(deleting.run_id)}
        state = reader.synced_rows(SYNC, ["31"])
        assert state["31"].row_hash == deleted["31"]
    finally:
        reader.dispose()
    # the source still lacks them: the next mirror run deletes them again (--hold is how a user stops that); its
    # body repeats the deleting run's, its Idempotency-Key does not (the rows' state before differs)
    again = project.run(SYNC)
    assert (again.rows_removed, len(sim.rows("contacts"))) == (10, 30)


def test_a_revert_restores_a_previous_null_on_a_nulls_skip_field_and_can_itself_be_reverted(
    tmp_path: Path, sim: WebhookSimulator
) -> None:
    project = _project(tmp_path / "p", sim, "upsert", 10)
    project.syncs[SYNC]["destination"]["mapping"]["phone"] = {"column": "phone", "nulls": "skip"}
    project.write()
    project.execute("update contacts set phone = null where id <= 4")
    project.run(SYNC)
    project.execute("update contacts set phone = 'set-' || id where id <= 4")
    setting = project.run(SYNC)
    assert _phones(sim)["1"] == "set-1"

    undo = _revert(project, setting.run_id)
    assert undo.rows_succeeded == 4
    assert [_phones(sim)[str(i)] for i in range(1, 5)] == [None] * 4, "the null from before the run is put back"

    redo = _revert(project, undo.run_id)  # a revert is a run like any other: reverting it re-applies the values
    assert redo.rows_succeeded == 4
    assert [_phones(sim)[str(i)] for i in range(1, 5)] == [f"set-{i}" for i in range(1, 5)]


def test_hubspot_revert_sends_only_the_restored_field_and_the_match_property(tmp_path: Path) -> None:
    from activate.testing.hubspot.conformance import MATCH_PROPERTY, HubSpotConformanceTarget

    target = HubSpotConformanceTarget()
    target.start(tmp_path)
    try:
        hubspot = target.simulator
        project = ScratchProject(tmp_path / "p")
        project.execute(
            "create table contacts (id integer primary key, email varchar, phone varchar)",
            "insert into contacts select i, 'c' || i || '@example.com', '555-' || i from range(1, 201) r(i)",
        )
        project.add_connection("crm", target.connection())
        project.add_sync(
            SYNC,
            {
                "connection": "crm",
                "object": "contacts",
                "mode": "upsert",
                "match": MATCH_PROPERTY,
                "update": "changed_fields",
                "mapping": {MATCH_PROPERTY: "id", "email": "email", "phone": "phone"},
            },
            query="select * from contacts",
        )
        project.run(SYNC)
        project.execute("update contacts set phone = null where id <= 60")
        blanking = project.run(SYNC)
        assert blanking.rows_succeeded == 60

        before = len(hubspot.log.calls("POST", "/batch/upsert"))
        summary = _revert(project, blanking.run_id)
        assert (summary.status, summary.rows_succeeded) == ("succeeded", 60)
        calls = hubspot.log.calls("POST", "/batch/upsert")[before:]
        assert len(calls) == 1, "60 rows in one batch of up to 100"
        inputs = calls[0].json()["inputs"]
        assert {frozenset(i["properties"]) for i in inputs} == {frozenset({"phone", MATCH_PROPERTY})}
        phones = {str(r[MATCH_PROPERTY]): r.get("phone") for r in hubspot.records("contacts")}
        assert all(phones[str(i)] == f"555-{i}" for i in range(1, 201))
    finally:
        target.stop()


def test_run_of_several_syncs_refuses_the_held_one_and_runs_the_others(tmp_path: Path, sim: WebhookSimulator) -> None:
    project = _project(tmp_path / "p", sim, "upsert", 5)
    other = {**project.syncs[SYNC]["destination"], "object": "others"}
    project.add_sync("other_hook", other, query="select * from contacts")
    from activate.state.store import StateStore

    store = StateStore(project.state_url, project_root=project.root)
    try:
        store.hold_sync(SYNC, "R2", "R1", "alice", datetime.now(UTC))
    finally:
        store.dispose()
    result = CliRunner().invoke(app, ["run", SYNC, "other_hook"], env={"ACTIVATE_PROJECT_DIR": str(project.root)})
    assert result.exit_code == 5, result.output
    assert f"sync '{SYNC}' is held since the revert of run R1" in result.output
    assert (len(sim.rows("contacts")), len(sim.rows("others"))) == (0, 5)
