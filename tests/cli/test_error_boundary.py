"""Acceptance 3: no traceback reaches a user. Each failure is one line on stderr naming what failed and the fix,
the exit code of DESIGN §3 (1, or 2 for configuration), and under `--json` one JSON object with `error`.

Real components throughout: a truncated DuckDB file, real URLs SQLAlchemy refuses, a real Postgres cut off by a
TCP proxy in the middle of a run, a port held by a real socket, a webhook endpoint that is not listening.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from activate.cli.app import app
from activate.cli.boundary import BoundaryGroup
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

runner = CliRunner()


def _invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"ACTIVATE_DEBUG": "0", **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def _one_error_line(stderr: str, *, json_output: bool) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    if json_output:
        found = json.loads(lines[0])
        assert found["type"] == "error"
        return str(found["error"])
    assert lines[0].startswith("Error: ")
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def project(tmp_path: Path) -> ScratchProject:
    scratch = ScratchProject(tmp_path / "project")
    scratch.people(20)
    scratch.add_connection("hooks", {"type": "webhook", "url": f"http://127.0.0.1:{_closed_port()}"})
    scratch.add_sync("people_hook", {"connection": "hooks", "object": "people", "mapping": {"email": "email"}})
    return scratch


@pytest.mark.parametrize("json_output", [False, True])
def test_a_truncated_duckdb_state_file_says_it_is_damaged_and_how_to_recover(
    project: ScratchProject, json_output: bool
) -> None:
    state = project.root / ".activate" / "state.duckdb"
    state.parent.mkdir(exist_ok=True)
    state.write_bytes((project.root / "warehouse.duckdb").read_bytes()[:5000])
    flags = ["--json"] if json_output else []

    for command in (["runs"], ["plan", "people_hook"]):
        code, _, stderr = _invoke(*command, "-p", str(project.root), *flags)
        line = _one_error_line(stderr, json_output=json_output)
        assert code == 1
        assert f"the DuckDB file {state} is damaged" in line
        assert "restore it from a backup" in line
        assert "--full-resync" in line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "the URL cannot be used"),
        ("nosuchdialect://user:hunter2@db/x", "unknown database dialect 'nosuchdialect'"),
    ],
)
@pytest.mark.parametrize("json_output", [False, True])
def test_a_state_url_that_cannot_be_used_is_a_config_error(
    project: ScratchProject, url: str, expected: str, json_output: bool
) -> None:
    project.state_url = url
    project.write()
    code, _, stderr = _invoke("runs", "-p", str(project.root), *(["--json"] if json_output else []))
    line = _one_error_line(stderr, json_output=json_output)
    assert code == 2
    assert expected in line
    assert "hunter2" not in stderr


@pytest.mark.parametrize("json_output", [False, True])
def test_an_unreachable_postgres_state_store_names_it(project: ScratchProject, json_output: bool) -> None:
    project.state_url = f"postgresql+psycopg://activate:hunter2@127.0.0.1:{_closed_port()}/state"
    project.write()
    code, _, stderr = _invoke("plan", "people_hook", "-p", str(project.root), *(["--json"] if json_output else []))
    line = _one_error_line(stderr, json_output=json_output)
    assert code == 1
    assert "cannot reach the state store" in line
    assert "hunter2" not in stderr


class _Proxy:
    """A TCP proxy to Postgres that can be cut: every connection through it drops at once, new ones are refused."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.cut_now = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut_now.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.cut_now.set()
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self.listener.close()
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


@pytest.fixture
def hooks() -> Iterator[WebhookSimulator]:
    with WebhookSimulator() as simulator:
        yield simulator


@pytest.mark.postgres
@pytest.mark.parametrize("json_output", [False, True])
def test_postgres_state_store_going_down_mid_run_is_one_line(
    tmp_path: Path, postgres_url: str, hooks: WebhookSimulator, json_output: bool
) -> None:
    import sqlalchemy as sa

    url = sa.engine.make_url(postgres_url)
    proxy = _Proxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    project = ScratchProject(tmp_path / "project", state_url=proxied)
    project.people(40)
    slow = {"max_concurrency": 1}
    project.add_connection("hooks", {"type": "webhook", "url": hooks.url, "batch_size": 5, "rate_limit": slow})
    project.add_sync("people_hook", {"connection": "hooks", "object": "people", "mapping": {"email": "email"}})
    hooks.delay_next(8, 0.4)  # slow batches one at a time, so the cut lands while the run is writing

    def cut_after_first_batch() -> None:
        for _ in range(200):
            if hooks.rows("people"):
                break
            threading.Event().wait(0.05)
        proxy.cut()

    threading.Thread(target=cut_after_first_batch, daemon=True).start()
    flags = ["--json"] if json_output else []
    code, _, stderr = _invoke("run", "people_hook", "-p", str(project.root), *flags)
    line = _one_error_line(stderr, json_output=json_output)
    assert code == 1
    assert "the state store" in line
    assert "re-sent by the next run" in line


@pytest.mark.parametrize("vendor", ["webhook", "hubspot", "all"])
def test_simulate_on_a_busy_port_names_the_port(vendor: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = int(busy.getsockname()[1])
        code, _, stderr = _invoke("simulate", vendor, "--port", str(port), "--cert-dir", "/nonexistent-unused")
    line = _one_error_line(stderr, json_output=False)
    assert code == 1
    assert f"{port}" in line
    assert "already in use (choose another with --port)" in line


@pytest.mark.parametrize("json_output", [False, True])
def test_check_connections_with_the_destination_down_names_the_sync(project: ScratchProject, json_output: bool) -> None:
    flags = ["--json"] if json_output else []
    code, _, stderr = _invoke("validate", "--check-connections", "-p", str(project.root), *flags)
    line = _one_error_line(stderr, json_output=json_output)
    assert code == 1
    assert "people_hook" in line


def test_an_unexpected_exception_is_one_line_and_a_traceback_only_when_debugging() -> None:
    broken = typer.Typer(cls=BoundaryGroup)

    @broken.command()
    def explode() -> None:
        raise RuntimeError("the flux capacitor\nsecond line with postgresql://u:hunter2@h/db")

    @broken.command()
    def other() -> None:
        """A second command, so `explode` is a subcommand as in the real app."""

    result = runner.invoke(broken, ["explode"], env={"ACTIVATE_DEBUG": "0"})
    line = _one_error_line(result.stderr, json_output=False)
    assert result.exit_code == 1
    assert "unexpected RuntimeError: the flux capacitor" in line
    assert "ACTIVATE_DEBUG=1" in line

    debugging = runner.invoke(broken, ["explode"], env={"ACTIVATE_DEBUG": "1"})
    assert isinstance(debugging.exception, RuntimeError)


def test_a_damaged_project_file_tree_still_never_tracebacks(tmp_path: Path) -> None:
    shutil.copytree(Path(__file__).parent.parent / "config" / "example", tmp_path / "project")
    (tmp_path / "project" / "syncs" / "crm_contacts.yml").write_bytes(b"\xff\xfe\x00garbage")
    code, _, stderr = _invoke("validate", "-p", str(tmp_path / "project"))
    assert code == 2
    assert "Traceback" not in stderr
    assert "syncs/crm_contacts.yml:1:1: not UTF-8 text" in stderr
