"""Structured JSON logs: a real `python -m activate run` subprocess, its stderr parsed line by line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activate.http.caller import forget_callers
from activate.logs import configure, log, log_event, remember_secrets
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

TOKEN = "s3cr3t-webhook-token-0042"


@pytest.fixture
def hooks() -> Iterator[WebhookSimulator]:
    forget_callers()
    with WebhookSimulator(token=TOKEN) as simulator:
        yield simulator
    forget_callers()


def project_for(tmp_path: Path, hooks: WebhookSimulator) -> ScratchProject:
    project = ScratchProject(tmp_path / "project")
    project.people(12)
    project.add_connection(
        "hooks",
        {"type": "webhook", "url": hooks.url, "headers": {"Authorization": f"Bearer {TOKEN}"}, "batch_size": 5},
    )
    project.add_sync(
        "people_hook",
        {"connection": "hooks", "object": "people", "mode": "mirror", "mapping": {"e": "{{ row.email }}"}},
    )
    path = project.root / "activate.yml"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "alerts": [{"connection": "hooks", "on": ["partial"]}]}))
    return project


def run_cli(project: ScratchProject, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "ACTIVATE_LOG_FORMAT"}
    return subprocess.run(
        [sys.executable, "-m", "activate", "run", "people_hook", "-p", str(project.root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, **(env or {})},
        check=False,
    )


def parsed(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def test_json_logs_of_a_real_run_carry_run_id_sync_batches_and_no_secret(
    tmp_path: Path, hooks: WebhookSimulator
) -> None:
    project = project_for(tmp_path, hooks)
    hooks.reject_keys = {"4"}
    done = run_cli(project, "--log-format", "json", "--json")
    assert done.returncode == 3, done.stderr
    assert TOKEN not in done.stderr
    assert TOKEN not in done.stdout
    lines = parsed(done.stderr)  # every line is a JSON object, or this raises
    run_id = json.loads(done.stdout.strip().splitlines()[-1])["run_id"]
    engine = [line for line in lines if line.get("run_id") == run_id]
    events = [line["event"] for line in engine]
    assert events[0] == "run.started"
    assert events[-1] == "run.finished"
    assert events.count("batch.recorded") == 3  # 12 rows in batches of 5
    assert all(line["sync"] == "people_hook" for line in engine)
    assert all({"ts", "level", "message"} <= set(line) for line in lines)
    batches = [line for line in engine if line["event"] == "batch.recorded"]
    assert [b["batch"] for b in batches] == [1, 2, 3]
    assert sum(sum(b["counts"].values()) for b in batches) == 12
    assert sum(b["counts"].get("rejected", 0) for b in batches) == 1
    finished = engine[-1]
    assert finished["counts"]["rows_succeeded"] == 11
    assert finished["counts"]["rows_rejected"] == 1
    assert finished["message"].startswith("run partial")
    # the CLI sent the partial run's alert through the same webhook connection
    assert list(hooks.rows("alerts")) == [f"alert:{run_id}"]


def test_env_selects_json_and_default_is_quiet(tmp_path: Path, hooks: WebhookSimulator) -> None:
    project = project_for(tmp_path, hooks)
    by_env = run_cli(project, env={"ACTIVATE_LOG_FORMAT": "json"})
    assert by_env.returncode == 0, by_env.stderr
    assert [line["event"] for line in parsed(by_env.stderr)][0] == "run.started"
    quiet = run_cli(project)
    assert quiet.returncode == 0
    assert "run.started" not in quiet.stderr
    assert '"event"' not in quiet.stderr


def test_formatter_masks_secrets_that_reach_a_message(tmp_path: Path, hooks: WebhookSimulator) -> None:
    project = project_for(tmp_path, hooks).load()
    remember_secrets(project.secrets)
    stream = io.StringIO()
    handler = configure("json", stream=stream)
    try:
        log_event("run.finished", f"run failed: 401 for Bearer {TOKEN}", run_id="r1", sync="people_hook")
        log.warning("text with %s inside", f"Bearer {TOKEN}")
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    first, second = parsed(stream.getvalue())
    assert first["message"] == "run failed: 401 for ***"  # the header value `Bearer <token>` is the secret
    assert (first["run_id"], first["sync"], first["level"]) == ("r1", "people_hook", "info")
    assert second["message"] == "text with *** inside"
    assert TOKEN not in stream.getvalue()
