"""Issue 16 acceptance 6: SIGTERM during writes is a graceful stop, tested with a real process.

`python -m activate run` writes to the webhook simulator, which answers slowly; SIGTERM arrives mid-write. The
batches in flight finish and are recorded, the run ends `aborted` with kind `interrupted`, the process exits 143
(128 + SIGTERM, as the README documents), and the next run sends exactly the rows the endpoint never answered.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget

ROWS = 300

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="POSIX signals")


def _answered_keys(target: WebhookConformanceTarget, since: int = 0) -> list[str]:
    """Row keys of every batch the endpoint answered with a 2xx, in order (a key twice means it was sent twice)."""
    keys: list[str] = []
    for call in target.sim.server.log.calls("POST")[since:]:
        if call.status < 300:
            keys += [row["key"] for row in call.json()["rows"]]
    return keys


def test_sigterm_finishes_and_records_the_batches_in_flight(tmp_path: Path) -> None:
    target = WebhookConformanceTarget()
    target.start(tmp_path)
    try:
        project = ScratchProject(tmp_path / "p")
        project.people(ROWS)
        project.add_connection("hooks", target.connection())
        project.add_sync("people_hook", {"connection": "hooks", **target.destination("upsert")})
        target.slow(0.3)
        env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root)}
        child = subprocess.Popen(
            [sys.executable, "-m", "activate", "run", "people_hook"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while target.write_calls() < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=60)
        assert child.returncode == 143, stderr

        reader = project.reader()
        [run] = reader.runs("people_hook")
        assert (run.status, run.failure_kind) == ("aborted", "interrupted")
        answered = _answered_keys(target)
        assert 0 < len(answered) < ROWS, "stopped mid-write"
        recorded = {r.row_key for r in reader.row_results(run.run_id) if r.status == "succeeded"}
        assert recorded == set(answered), "every batch the endpoint answered is recorded, and nothing else"
        assert run.rows_succeeded == len(answered)

        before = len(target.sim.server.log.calls("POST"))
        target.slow(0)
        again = project.run("people_hook")
        assert again.status == "succeeded"
        resent = _answered_keys(target, since=before)
        assert not set(resent) & set(answered), "the next run re-sends none of the answered rows"
        assert sorted(resent + answered, key=int) == [str(i) for i in range(1, ROWS + 1)]
    finally:
        target.stop()
