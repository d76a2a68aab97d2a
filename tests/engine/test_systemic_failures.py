"""Issue 16 acceptance 5: a destination that cannot be reached fails the run with the cause, rows left pending.

Each case runs `python -m activate run` as a real process against a real socket: an HTTPS server whose certificate
the client does not trust, a closed port, and a server that accepts connections and never answers. Each must end
`failed` (exit 1, kind `connection`) with the cause in the run's error and on stderr, within two attempts' time,
with no per-row results recorded (the rows stay pending and the next run sends them).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from activate.testing.project import ScratchProject
from activate.testing.server import Router, SimulatorServer, issue_certificate

ROWS = 20
TIMEOUT = 0.5  # the hanging endpoint's configured request timeout, in seconds


def _project(root: Path, url: str) -> ScratchProject:
    project = ScratchProject(root)
    project.people(ROWS)
    project.add_connection("hooks", {"type": "webhook", "url": url, "timeout": TIMEOUT, "batch_size": 5})
    mapping = {"email": "email", "first_name": "first_name"}
    project.add_sync("people_hook", {"connection": "hooks", "object": "people", "mode": "upsert", "mapping": mapping})
    return project


def _run(project: ScratchProject) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "activate", "run", "people_hook"], env=env, capture_output=True, text=True, timeout=120
    )
    return done, time.monotonic() - started


@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[str]:
    certificate = issue_certificate(tmp_path / "ca")  # its CA bundle is never given to the client
    with SimulatorServer(Router(), tls=certificate.server_context) as server:
        yield server.url


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """Accepts every connection, reads nothing, answers nothing."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize(
    ("endpoint", "cause"),
    [
        ("untrusted_https", "certificate verify failed"),
        ("closed_port", "connection refused"),
        ("hanging_endpoint", "no answer within the timeout"),
    ],
)
def test_an_unreachable_destination_fails_the_run_with_the_cause(
    tmp_path: Path, request: pytest.FixtureRequest, endpoint: str, cause: str
) -> None:
    url = request.getfixturevalue(endpoint)
    project = _project(tmp_path / "p", url)
    done, elapsed = _run(project)

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot reach {url}/people: {cause}" in done.stderr
    assert "Traceback" not in done.stderr
    [run] = project.reader().runs("people_hook")
    assert (run.status, run.failure_kind) == ("failed", "connection")
    assert run.error is not None
    assert run.error.startswith(f"cannot reach {url}/people: {cause}")
    assert "\n" not in run.error
    assert (run.rows_succeeded, run.rows_failed, run.rows_rejected) == (0, 0, 0), "no row counts as attempted"
    assert project.reader().row_results(run.run_id) == [], "the rows stay pending"
    # two attempts of the slowest case (the timeout) plus one backoff and process start-up, with room for a busy box
    assert elapsed < 20 + 2 * TIMEOUT, elapsed
    assert project.plan("people_hook").counts.added == ROWS, "the next run sends every row"
