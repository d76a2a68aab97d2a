"""Parallel runs on one DuckDB warehouse: sources open the file read-only, wait a bounded time for a writer, and
name the writer's pid when it does not let go. Real processes hold the real file locks throughout."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from activate.clock import SYSTEM_CLOCK, FakeClock
from activate.errors import SourceError
from activate.sources.config import DuckDBConnection
from activate.sources.readers import DuckDBReader
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator


@contextmanager
def holding(path: Path, *, read_only: bool, release_after: float = 60.0) -> Iterator[subprocess.Popen[str]]:
    """Another process with `path` open (a `dbt build` writing it, or another sync reading it)."""
    code = textwrap.dedent(
        f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r}, read_only={read_only})
        print("ready", flush=True)
        time.sleep({release_after})
        con.close()
        """
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table people as select 1 as id, 'a@b.c' as email")
    con.close()
    return path


def test_a_writer_that_never_lets_go_fails_the_open_naming_the_file_and_its_pid(warehouse: Path) -> None:
    clock = FakeClock()
    connection = DuckDBConnection(path=str(warehouse), lock_timeout=5)
    with holding(warehouse, read_only=False) as writer, pytest.raises(SourceError) as caught:
        DuckDBReader(connection, warehouse.parent, clock=clock)
    message = str(caught.value)
    assert f"DuckDB warehouse {warehouse} is locked by another process (PID {writer.pid}" in message
    assert "waited 5 s" in message
    assert sum(clock.slept) == pytest.approx(5.0)
    assert len(clock.slept) > 3  # backed off, not one long sleep


def test_the_local_diff_attaching_the_warehouse_waits_for_a_writer_the_same_way(warehouse: Path) -> None:
    from activate.diff.workspace import DiffWorkspace

    clock = FakeClock()
    workspace = DiffWorkspace(directory=None)
    try:
        with holding(warehouse, read_only=False) as writer, pytest.raises(SourceError) as caught:
            workspace.attach_duckdb(str(warehouse), 3, clock)
    finally:
        workspace.close()
    assert f"is locked by another process (PID {writer.pid}" in str(caught.value)
    assert sum(clock.slept) == pytest.approx(3.0)


def test_a_writer_that_finishes_is_waited_for(warehouse: Path) -> None:
    connection = DuckDBConnection(path=str(warehouse), lock_timeout=30)
    with holding(warehouse, read_only=False, release_after=0.5):
        reader = DuckDBReader(connection, warehouse.parent, clock=SYSTEM_CLOCK)
    try:
        assert reader.columns("select * from people") == ["id", "email"]
    finally:
        reader.close()


def test_readers_in_other_processes_do_not_block_a_source(warehouse: Path) -> None:
    connection = DuckDBConnection(path=str(warehouse), lock_timeout=0)
    with holding(warehouse, read_only=True):
        reader = DuckDBReader(connection, warehouse.parent, clock=FakeClock())
        reader.close()


def test_a_file_this_process_has_open_for_writing_is_read_through_that_instance(warehouse: Path) -> None:
    writer = duckdb.connect(str(warehouse))
    try:
        reader = DuckDBReader(DuckDBConnection(path=str(warehouse)), warehouse.parent, clock=FakeClock())
        assert reader.columns("select * from people") == ["id", "email"]
        reader.close()
    finally:
        writer.close()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_four_syncs_on_one_warehouse_run_as_four_processes_ten_times(tmp_path: Path) -> None:
    """Acceptance 6. Each round starts the four runs while a writer (a `dbt build`) still holds the file for a
    second: they wait for it (a source that did not would fail), then read the file side by side, read-only."""
    with WebhookSimulator() as hooks:
        project = ScratchProject(tmp_path / "project")
        project.people(30)
        project.add_connection("hooks", {"type": "webhook", "url": hooks.url})
        for index in range(4):
            destination = {"connection": "hooks", "object": f"people{index}", "mapping": {"email": "email"}}
            project.add_sync(f"sync{index}", destination)
        for round_number in range(10):
            with holding(project.root / "warehouse.duckdb", read_only=False, release_after=1.0):
                processes = [
                    subprocess.Popen(
                        [sys.executable, "-m", "activate", "run", f"sync{index}", "-p", str(project.root)],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    for index in range(4)
                ]
                outcomes = [(p.wait(timeout=300), p.communicate()) for p in processes]
            failed = [(code, out[-300:], err[-300:]) for code, (out, err) in outcomes if code != 0]
            assert not failed, f"round {round_number}: {failed}"
        assert all(len(hooks.rows(f"people{index}")) == 30 for index in range(4))
