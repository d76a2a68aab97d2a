"""Local diff vs warehouse-native diff: time, peak RSS and bytes that leave the warehouse, for `activate plan`.

For each warehouse (DuckDB file, Postgres) and size, builds `people` with N rows, seeds the sync's state as if every
row had been synced (local state store for the local diff, the warehouse's `activate` schema for the native one),
changes a fraction of the rows, then builds the plan in a child process (so its peak RSS is the plan's own) and
reports rows/s, peak RSS and the bytes transferred (Arrow bytes of every row for the local diff; the planned and
sample rows' text for the native diff). Target (issue 7): 10M rows with 0.1% changes planned in <= 10 s natively
on DuckDB on a 2-core machine.

    python benchmarks/native_diff_bench.py [--rows 1000000 10000000] [--change 0.001] [--warehouse duckdb postgres]

Postgres is read from ACTIVATE_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test); a
fresh database is created and dropped per size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from activate.testing.project import ScratchProject

SYNC = "people_sync"
MAPPING = {"activate_id": "id", "email": "email", "firstname": "first_name"}

CHILD = r"""
import json, logging, sys, time

def peak_rss_mb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child would report its parent's peak
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
import activate.plan.builder as builder_module
from activate.config import load_project
from activate.plan.builder import build_plan
from activate.state.store import StateReader

transferred = {"bytes": 0}
messages = []
handler = logging.Handler()
handler.emit = lambda record: messages.append(record.getMessage())
logging.getLogger("activate.diff.native").addHandler(handler)
logging.getLogger("activate.diff.native").setLevel(logging.INFO)
open_reader = builder_module.open_reader

def counting_reader(*args, **kwargs):
    reader = open_reader(*args, **kwargs)
    batches = reader.batches
    def counted(*a, **k):
        for batch in batches(*a, **k):
            transferred["bytes"] += batch.nbytes
            yield batch
    reader.batches = counted
    return reader

builder_module.open_reader = counting_reader
project = load_project(sys.argv[1])
reader = StateReader(project.spec.state.url, project_root=project.root)
started = time.perf_counter()
plan = build_plan(project, "people_sync", reader)
elapsed = time.perf_counter() - started
for message in messages:
    transferred["bytes"] += int(message.split("(")[2].split(" bytes")[0]) if "bytes)" in message else 0
print(json.dumps({"seconds": elapsed, "changed": plan.counts.changed, "rows_read": plan.counts.rows_read,
                  "max_rss_mb": peak_rss_mb(),
                  "bytes": transferred["bytes"], "log": messages}))
"""


def _project(root: Path, warehouse_url: str | None, rows: int, state: str) -> ScratchProject:
    project = ScratchProject(root, warehouse_url=warehouse_url)
    project.people(rows)
    project.add_connection("dest", {"type": "hubspot", "access_token": "unused", "base_url": "http://127.0.0.1:9"})
    destination = {"connection": "dest", "object": "contacts", "mode": "upsert", "match": "activate_id"}
    project.add_sync(SYNC, {**destination, "mapping": MAPPING}, state=state)
    return project


def _seed(project: ScratchProject, native: bool) -> None:
    """Every current row recorded as synced, with the hashes the warehouse computes (equal to the local ones for
    these integer and text columns)."""
    from activate.diff.native import NativeDiff
    from activate.state.warehouse import WarehouseState
    from activate.warehouse.target import NativeTarget, native_target, open_session

    loaded = project.load()
    sync = loaded.sync(SYNC)
    connection = loaded.connection(sync.spec.source.connection)
    target = native_target(loaded, sync) or NativeTarget(connection, "activate", separate_state=True)
    diff = NativeDiff(open_session(target, loaded.root, "activate:bench:seed"), target, SYNC)
    if diff.session.dialect == "duckdb":
        # seeding only: the state table's primary-key index is built in memory (10M keys exceed the plan's limit)
        diff.session.execute("SET memory_limit = '8GB'")
    try:
        diff.stage_snapshot(sync.query, ["id"], sorted(MAPPING.values()))
        select = (
            f"SELECT '{SYNC}', row_key, row_hash, '{sync.config_hash}', row_key, 'seed', now() FROM activate_snapshot"
        )
        if native:
            state = WarehouseState(diff.session, target)
            state._prepare()
            diff.session.execute(f"INSERT INTO activate.activate_state {select}")
            return
        from activate.state.store import StateStore

        StateStore(loaded.spec.state.url, project_root=loaded.root).dispose()
        state_file = str(project.root / ".activate" / "state.duckdb")
        if diff.session.dialect == "duckdb":
            diff.session.execute(f"ATTACH '{state_file}' AS st")
            diff.session.execute(f"INSERT INTO st.activate_state {select}")
            diff.session.execute("DETACH st")
            return
        import duckdb
        import pyarrow as pa

        con = duckdb.connect(state_file)
        names = ("sync_name", "row_key", "row_hash", "config_hash", "destination_id", "last_run_id")
        for rows in diff.session.stream(select, 200_000):
            chunk = pa.table({name: [r[i] for r in rows] for i, name in enumerate(names)})
            con.register("chunk", chunk)
            con.execute(f"INSERT INTO activate_state SELECT {', '.join(names)}, now() FROM chunk")
            con.unregister("chunk")
        con.close()
    finally:
        diff.close()


def _measure(project: ScratchProject) -> dict[str, Any]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(project.root)], capture_output=True, text=True, env=env, check=False
    )
    if child.returncode != 0:
        raise SystemExit(child.stderr[-3000:])
    last = [line for line in child.stdout.splitlines() if line.startswith("{")][-1]
    result: dict[str, Any] = json.loads(last)
    return result


def _postgres_database(stack: ExitStack) -> str:
    from activate.testing.services import fresh_postgres_database

    return stack.enter_context(fresh_postgres_database())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--change", type=float, default=0.001)
    parser.add_argument("--warehouse", nargs="+", default=["duckdb", "postgres"], choices=["duckdb", "postgres"])
    parser.add_argument("--mode", nargs="+", default=["local", "native"], choices=["local", "native"])
    args = parser.parse_args()

    print(
        f"{'warehouse':<10} {'diff':<7} {'rows':>11} {'changed':>8} {'seconds':>8} {'rows/s':>12} "
        f"{'peak RSS':>9} {'transferred':>12}"
    )
    for warehouse in args.warehouse:
        for rows in args.rows:
            for mode in args.mode:
                with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
                    url = _postgres_database(stack) if warehouse == "postgres" else None
                    state = "warehouse" if mode == "native" else "local"
                    project = _project(Path(tmp) / "p", url, rows, state)
                    _seed(project, native=mode == "native")
                    # --change 0: an unchanged table, whose plan must send nothing (so a run makes no API call)
                    every = max(1, round(1 / args.change)) if args.change else 0
                    if every:
                        project.execute(f"update people set first_name = 'Changed' || id where id % {every} = 0")
                    result = _measure(project)
                    assert result["rows_read"] == rows, result
                    assert result["changed"] == (rows // every if every else 0), result
                    print(
                        f"{warehouse:<10} {mode:<7} {rows:>11,} {result['changed']:>8,} {result['seconds']:>8.2f} "
                        f"{rows / result['seconds']:>12,.0f} {result['max_rss_mb']:>6.0f} MB "
                        f"{result['bytes'] / 1e6:>9.1f} MB",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
