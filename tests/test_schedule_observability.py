"""`schedule --metrics-host` (loopback by default) and the scheduler's text logs naming the sync of each run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from activate.metrics import Metrics, MetricsServer
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator


def test_metrics_server_listens_on_loopback_by_default() -> None:
    server = MetricsServer(Metrics(), 0).start()
    try:
        assert server._server.server_address[0] == "127.0.0.1"
    finally:
        server.stop()


def test_schedule_binds_the_metrics_host_and_text_logs_name_the_sync(tmp_path: Path) -> None:
    with WebhookSimulator() as hooks:
        project = ScratchProject(tmp_path / "p")
        project.people(3)
        project.add_connection("hooks", {"type": "webhook", "url": hooks.url})
        destination = {"connection": "hooks", "object": "people", "mapping": {"email": "email"}}
        project.add_sync("people_hook", destination, schedule="* * * * * */1")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVATE_")}
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "activate", "schedule", "-p", str(project.root)]
        command += ["--metrics-port", "0", "--metrics-host", "127.0.0.1"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        lines: list[str] = []
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any("[people_hook " in line for line in lines):
                lines.append(process.stdout.readline())
            announced = next(line for line in lines if "metrics on http://" in line)
            port = int(announced.rsplit(":", 1)[1].split("/")[0])
            assert announced.startswith("metrics on http://127.0.0.1:")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                assert response.status == 200
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
    engine = [line for line in lines if "[people_hook " in line]
    assert engine, "".join(lines)
    assert engine[0].startswith("[people_hook ")  # the engine's record names the sync and its run
    assert "INFO activate: run started (schedule)" in engine[0]
