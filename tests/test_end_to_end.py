"""Issue 2 acceptance, end to end over real HTTP: a warehouse, the engine, the webhook destination, a local endpoint.

The same lifecycle runs with the state store on DuckDB and on Postgres, and with Postgres as the warehouse.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget

ROWS = 1000


@pytest.fixture
def target(tmp_path: Path) -> Iterator[WebhookConformanceTarget]:
    target = WebhookConformanceTarget()
    target.start(tmp_path)
    yield target
    target.stop()


def _project(
    root: Path,
    target: WebhookConformanceTarget,
    *,
    state_url: str | None = None,
    warehouse_url: str | None = None,
    mode: str = "mirror",
    rows: int = ROWS,
    **sync: Any,
) -> ScratchProject:
    project = ScratchProject(root, state_url=state_url, warehouse_url=warehouse_url)
    project.people(rows)
    project.add_connection("hooks", target.connection())
    destination = {**target.destination(mode), "batch_size": 100}
    project.add_sync("people_hook", {"connection": "hooks", **destination}, **sync)
    return project


def _rows_sent(target: WebhookConformanceTarget) -> int:
    """Rows the endpoint applied (replays of an Idempotency-Key and refused batches not counted)."""
    return sum(target.sim.applied.values())


def _source(project: ScratchProject) -> dict[str, dict[str, Any]]:
    rows = project.execute("select id, email, first_name from people order by id")
    return {str(r[0]): {"email": r[1], "first_name": r[2]} for r in rows}


def _destination(target: WebhookConformanceTarget) -> dict[str, dict[str, Any]]:
    return {k: {"email": v["email"], "first_name": v["first_name"]} for k, v in target.records().items()}


def _audit_accounts_for_every_row(project: ScratchProject, summary: Any) -> None:
    results = project.reader().row_results(summary.run_id)
    touched = summary.rows_succeeded + summary.rows_failed + summary.rows_rejected + summary.rows_skipped
    assert len(results) == touched
    assert len({r["row_key"] for r in results}) == len(results), "a row was recorded twice in one run"


@pytest.fixture(params=["duckdb-state", "postgres-state", "postgres-warehouse"])
def lifecycle_project(
    request: pytest.FixtureRequest, tmp_path: Path, target: WebhookConformanceTarget
) -> ScratchProject:
    if request.param == "duckdb-state":
        return _project(tmp_path / "p", target)
    url = request.getfixturevalue("postgres_url")
    if request.param == "postgres-state":
        return _project(tmp_path / "p", target, state_url=url)
    return _project(tmp_path / "p", target, warehouse_url=url)


def test_lifecycle_sends_only_what_changed(lifecycle_project: ScratchProject, target: WebhookConformanceTarget) -> None:
    project = lifecycle_project
    first = project.run("people_hook")
    assert first.status == "succeeded", first.error
    assert (first.rows_added, first.rows_succeeded) == (ROWS, ROWS)
    assert target.write_calls() == ROWS // 100, "1,000 rows go out in batches of 100"
    assert _destination(target) == _source(project)
    _audit_accounts_for_every_row(project, first)

    second = project.run("people_hook")
    assert (second.status, second.rows_unchanged, second.api_calls) == ("succeeded", ROWS, 0)
    assert target.write_calls() == ROWS // 100, "an unchanged re-run sent requests"

    project.execute("update people set first_name = 'Edited' where id in (10, 20, 30)")
    third = project.run("people_hook")
    assert (third.rows_changed, third.rows_succeeded, third.api_calls) == (3, 3, 1)
    assert sorted(r["row_key"] for r in project.reader().row_results(third.run_id)) == ["10", "20", "30"]
    assert _rows_sent(target) == ROWS + 3

    project.execute("delete from people where id in (5, 6)")
    fourth = project.run("people_hook")
    assert (fourth.rows_removed, fourth.rows_succeeded) == (2, 2)
    assert [r["operation"] for r in project.reader().row_results(fourth.run_id)] == ["delete", "delete"]
    assert _destination(target) == _source(project)

    sync = project.syncs["people_hook"]
    sync["destination"]["mapping"]["last_name"] = "last_name"
    project.write()
    plan = project.plan("people_hook")
    assert plan.counts.changed == ROWS - 2
    assert plan.counts.config_changed == ROWS - 2
    assert any("configuration" in note and f"{ROWS - 2} rows" in note for note in plan.notes)
    calls = target.write_calls()
    fifth = project.run("people_hook")
    assert (fifth.status, fifth.rows_succeeded) == ("succeeded", ROWS - 2)
    assert target.write_calls() - calls == 10
    assert all(record.get("last_name") for record in target.records().values())
    assert project.run("people_hook").api_calls == 0, "the re-send happens once"
    for summary in (third, fourth, fifth):
        _audit_accounts_for_every_row(project, summary)


def test_failed_batch_is_retried_next_run_and_rejected_rows_wait_for_a_change(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path / "p", target, rows=300)
    target.sim.fail_rows = {"150"}  # the batch holding row 150 answers 500, every time
    target.reject({"person201@example.com", "person202@example.com"})
    result = project.run("people_hook")
    assert (result.status, result.exit_code) == ("partial", 3)
    rows = {r["row_key"]: r for r in project.reader().row_results(result.run_id)}
    failed = sorted(k for k, r in rows.items() if r["status"] == "failed")
    rejected = sorted(k for k, r in rows.items() if r["status"] == "rejected")
    assert len(failed) == 100
    assert "150" in failed
    assert rejected == ["201", "202"]
    assert all(rows[k]["error_message"] for k in failed + rejected)
    assert result.rows_succeeded == 300 - 100 - 2

    target.sim.fail_rows = set()
    sent_before = _rows_sent(target)
    again = project.run("people_hook")
    assert again.rows_succeeded == 100, "only the failed batch's rows are re-sent"
    assert _rows_sent(target) - sent_before == 100
    assert "201" not in {r["row_key"] for r in project.reader().row_results(again.run_id)}

    target.reject(set())
    project.execute("update people set email = 'fixed' || id || '@example.com' where id = 201")
    fixed = project.run("people_hook")
    assert [r["row_key"] for r in project.reader().row_results(fixed.run_id)] == ["201"]
    assert fixed.rows_succeeded == 1


def test_two_concurrent_runs_exactly_one_writes(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    project = _project(tmp_path / "p", target, rows=200)
    target.slow(0.3)
    env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root)}
    command = [sys.executable, "-m", "activate", "run", "people_hook"]
    children = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    time.sleep(0.3)
    children.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outcomes = sorted((child.wait(timeout=120), child.stderr.read() if child.stderr else "") for child in children)
    assert [code for code, _ in outcomes] == [0, 1]
    assert "already running" in outcomes[1][1]
    assert _rows_sent(target) == 200, "the second run must not write"
    assert _destination(target) == _source(project)


def test_guardrail_empty_source_stops_a_mirror_before_any_write(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path / "p", target, rows=50)
    assert project.run("people_hook").status == "succeeded"
    calls = target.write_calls()
    project.execute("delete from people")
    result = project.run("people_hook")
    assert (result.status, result.exit_code) == ("failed", 1)
    assert "allow_empty_source" in result.error
    assert "50 rows are synced" in result.error
    assert target.write_calls() == calls
    assert len(target.records()) == 50


def test_guardrail_max_deletes_names_threshold_and_excess(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    project = _project(tmp_path / "p", target, rows=100, guardrails={"max_deletes": "5%"})
    assert project.run("people_hook").status == "succeeded"
    calls = target.write_calls()
    project.execute("delete from people where id <= 40")
    result = project.run("people_hook")
    assert result.status == "failed"
    assert "would delete 40 of 100 synced rows (40.0%), over max_deletes 5% (5 rows) by 35 rows" in result.error
    assert target.write_calls() == calls
    assert len(target.records()) == 100


def test_bad_rows_are_rejected_per_row_and_the_run_goes_on(tmp_path: Path, target: WebhookConformanceTarget) -> None:
    project = _project(tmp_path / "p", target, rows=20)
    project.syncs["people_hook"]["destination"]["mapping"]["score"] = "score"  # NaN matters only where it is read
    project.write()
    project.execute(
        "create table people_nopk as select * from people",
        "drop table people",
        "alter table people_nopk rename to people",
        "insert into people values (null, 'nokey@example.com', 'No', 'Key', 1.0)",
        "insert into people values (7, 'dupe@example.com', 'Dupe', 'Seven', 1.0)",
        "insert into people values (21, 'nan@example.com', 'Not', 'Number', 'nan'::double)",
    )
    result = project.run("people_hook")
    # ids 1..20 but 7, whose two rows share a key; the null key, both 7s and the NaN row are rejected
    assert (result.status, result.rows_succeeded, result.rows_rejected) == ("partial", 19, 4)
    reasons = {r["row_key"]: r["error_message"] for r in project.reader().row_results(result.run_id, ["rejected"])}
    assert "primary key column 'id' is null" in reasons["<row 21>"]
    assert "duplicate primary key: 2 rows" in reasons["7"]
    assert "NaN" in reasons["21"]
    assert "7" not in target.records(), "a duplicated key is never sent"


def test_plan_writes_nothing_and_shows_counts_samples_and_guardrails(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path / "p", target, rows=30, guardrails={"max_deletes": 10})
    assert project.run("people_hook").status == "succeeded"
    project.execute("update people set first_name = 'P' where id = 3", "delete from people where id = 4")
    state_file = project.root / ".activate" / "state.duckdb"
    before = hashlib.sha256(state_file.read_bytes()).hexdigest()
    calls = target.write_calls()
    out = subprocess.run(
        [sys.executable, "-m", "activate", "plan", "people_hook"],
        env={**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root), "COLUMNS": "200"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert hashlib.sha256(state_file.read_bytes()).hexdigest() == before
    assert target.write_calls() == calls
    assert "+0 added" in out.stdout
    assert "~1 changed" in out.stdout
    assert "-1 removed" in out.stdout
    assert "guardrail max_deletes: ok" in out.stdout
    assert "'first_name': 'P'" in out.stdout or '"first_name": "P"' in out.stdout


def test_sigkill_mid_write_then_rerun_converges_without_resending_recorded_rows(
    tmp_path: Path, target: WebhookConformanceTarget
) -> None:
    project = _project(tmp_path / "p", target, rows=2000)
    # 1 s a request: a write phase of ~5 s, so the kill lands mid-write even on a loaded machine (results are
    # recorded by a background thread, visible up to a flush after the endpoint answered)
    target.slow(1.0)
    env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root)}
    child = subprocess.Popen(
        [sys.executable, "-m", "activate", "run", "people_hook", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    reader = project.reader()
    while time.monotonic() < deadline and child.poll() is None:  # kill once some batches are recorded, not all
        runs = reader.runs("people_hook")
        if runs and len(reader.row_results(runs[0]["run_id"])) >= 100:
            break
        time.sleep(0.05)
    child.kill()
    child.wait(timeout=30)
    output = child.stdout.read() if child.stdout else ""
    assert 0 < _rows_sent(target) < 2000, f"not killed mid-write: rc={child.returncode} {output}"
    killed = project.reader().runs("people_hook")[0]
    recorded = {r["row_key"] for r in project.reader().row_results(killed["run_id"], ["succeeded"])}
    assert 100 <= len(recorded) < 2000

    target.slow(0.0)
    result = project.run("people_hook")
    assert result.status == "succeeded", result.error
    assert _destination(target) == _source(project)
    assert all(target.sim.applied[key] == 1 for key in recorded), "a recorded row was sent again"
    assert result.rows_succeeded == 2000 - len(recorded)
    statuses = {r["run_id"]: r["status"] for r in project.reader().runs("people_hook")}
    assert statuses[killed["run_id"]] == "aborted"
