"""Property test of the diff and the run around it: whatever sequence of snapshots, per-row rejections, 5xx and
kills came before, one clean final run leaves the destination equal to the source, and every run's audit accounts
for each row it touched exactly once.

Real components end to end: a DuckDB warehouse, the engine, the webhook writer over HTTP to the webhook simulator
(its fault switches inject the rejections and 5xx), and for a kill a real `activate run` process SIGKILLed while
the endpoint holds a batch it has already applied. Bounded and derandomized so CI runs the same examples in well
under a minute; `deadline=None` because a kill step waits on a child process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from activate.clock import FakeClock
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

KEYS = range(12)
SYNC = "items_hook"


@dataclass(frozen=True)
class Step:
    """One run: the warehouse's rows for it and the fault the endpoint injects during it."""

    rows: dict[int, str]
    fault: str  # none | reject | flaky | failing | kill
    keys: frozenset[int]  # the rows a reject/failing fault targets


snapshots = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(["a", "b", "c"]), max_size=len(KEYS))
steps = st.builds(
    Step,
    rows=snapshots,
    fault=st.sampled_from(["none", "reject", "flaky", "failing", "kill"]),
    keys=st.frozensets(st.sampled_from(KEYS), min_size=1, max_size=3),
)


def _write_snapshot(project: ScratchProject, rows: dict[int, str]) -> None:
    values = ", ".join(f"({key}, '{value}')" for key, value in sorted(rows.items()))
    statements = ["drop table if exists items", "create table items (id integer, v varchar)"]
    if values:
        statements.append(f"insert into items values {values}")
    project.execute(*statements)


def _destination(sim: WebhookSimulator) -> dict[int, str]:
    held = sim.rows("items")
    assert all(len(records) == 1 for records in held.values()), f"a row was written twice: {held}"
    return {int(key): records[0]["v"] for key, records in held.items()}


def _audit_accounts_for_every_row(project: ScratchProject, summary: Any) -> None:
    results = project.reader().row_results(summary.run_id)
    touched = summary.rows_succeeded + summary.rows_failed + summary.rows_rejected + summary.rows_skipped
    assert len(results) == touched, "a touched row has no result, or a result has no row"
    assert len({r["row_key"] for r in results}) == len(results), "a row was recorded twice in one run"


def _run(project: ScratchProject, **options: Any) -> Any:
    summary = project.run(SYNC, clock=FakeClock(start=datetime.now(UTC)), **options)
    _audit_accounts_for_every_row(project, summary)
    return summary


def _killed_run(project: ScratchProject, sim: WebhookSimulator) -> None:
    """`activate run` in a child process, SIGKILLed once the endpoint applied a batch it has not answered yet."""
    sim.delay_next(1, 3.0)
    env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root)}
    child = subprocess.Popen(
        [sys.executable, "-m", "activate", "run", SYNC],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while sum(sim.applied.values()) == 0 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    with sim._lock:
        sim._delay_next.clear()


def _apply_fault(sim: WebhookSimulator, step: Step) -> None:
    keys = {str(k) for k in step.keys}
    if step.fault == "reject":
        sim.reject_keys = keys  # 207: these rows are refused for their data
    elif step.fault == "flaky":
        sim.fail_next(2, 503)  # retried by the toolkit within the run
    elif step.fault == "failing":
        sim.fail_rows, sim.fail_times = keys, None  # every batch with these rows answers 500: failed, retried later


def _clear_faults(sim: WebhookSimulator) -> None:
    with sim._lock:
        sim.reject_keys = set()
        sim.fail_rows = set()
        sim._fail_next.clear()


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(history=st.lists(steps, min_size=1, max_size=3), final=snapshots)
def test_after_a_clean_run_the_destination_equals_the_source(history: list[Step], final: dict[int, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp, WebhookSimulator() as sim:
        project = ScratchProject(Path(tmp) / "p")
        _write_snapshot(project, {})
        project.add_connection(
            "hooks", {"type": "webhook", "url": sim.url, "rate_limit": {"requests": 1000, "per_seconds": 1}}
        )
        project.add_sync(
            SYNC,
            {"connection": "hooks", "object": "items", "mode": "mirror", "batch_size": 4, "mapping": {"v": "v"}},
            query="select * from items",
            guardrails={"max_deletes": "100%", "allow_empty_source": True},
        )
        for step in history:
            _write_snapshot(project, step.rows)
            _apply_fault(sim, step)
            if step.fault == "kill":
                _killed_run(project, sim)
            else:
                _run(project)
            _clear_faults(sim)

        _write_snapshot(project, final)
        clean = _run(project, retry_rejected=True)
        assert clean.status == "succeeded", clean.error
        assert (clean.rows_failed, clean.rows_rejected) == (0, 0)
        assert _destination(sim) == final

        settled = _run(project)
        assert (settled.status, settled.api_calls, settled.rows_unchanged) == ("succeeded", 0, len(final))
