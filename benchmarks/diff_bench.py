"""How fast `activate plan` diffs a large table, and how much memory it takes.

Builds a DuckDB warehouse table of N rows (default 1,000,000), seeds the sync's state as if every row had been
synced, changes 1% of the rows, then times `python -m activate plan` in a subprocess and reads its peak RSS.
Target (issue 2): <= 10 s and <= 500 MB for 1M rows on a 2-core machine.

    python benchmarks/diff_bench.py [--rows 1000000] [--change 0.01]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from activate.testing.project import ScratchProject

# `activate plan bench --json` in a fresh interpreter, then its own peak RSS: VmHWM, not ru_maxrss, which Linux
# carries across fork+exec (a child would report the parent's peak, here the process that built the table).
CHILD = """
import sys
from activate.cli.app import app
try:
    app(["plan", "bench", "--json"])
except SystemExit:
    pass
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) / 1024)
"""


def seed_state(project: ScratchProject, sync: str) -> float:
    """Record every current row as synced, using the engine's own snapshot hashing (so hashes match)."""
    import duckdb

    from activate.plan.builder import PlanBuilder, PlanOptions
    from activate.state.store import StateStore

    started = time.perf_counter()
    loaded = project.load()
    store = StateStore(loaded.spec.state.url, project_root=loaded.root)
    builder = PlanBuilder(loaded, loaded.sync(sync), store, PlanOptions())
    builder.build()
    assert builder.workspace is not None
    state_file = str(project.root / ".activate" / "state.duckdb")
    store.dispose()
    con = builder.workspace.con
    con.execute(f"ATTACH '{state_file}' AS st")
    con.execute(
        "INSERT INTO st.activate_state SELECT ?, row_key, row_hash, ?, row_key, 'seed', now() FROM ops",
        [sync, loaded.sync(sync).config_hash],
    )
    con.execute("DETACH st")
    builder.close()
    del duckdb
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--change", type=float, default=0.01)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        project = ScratchProject(Path(tmp))
        started = time.perf_counter()
        project.people(args.rows)
        print(f"built warehouse table of {args.rows:,} rows in {time.perf_counter() - started:.1f}s")
        project.add_connection("hooks", {"type": "hubspot", "access_token": "bench", "base_url": "http://127.0.0.1:9"})
        project.add_sync(
            "bench",
            {
                "connection": "hooks",
                "object": "contacts",
                "mode": "mirror",
                "match": "email",
                "mapping": {"email": "email", "firstname": "first_name", "lastname": "last_name", "score": "score"},
            },
        )
        print(f"seeded state for every row in {seed_state(project, 'bench'):.1f}s")
        every = round(1 / args.change)
        project.execute(f"update people set first_name = 'Changed' where id % {every} = 0")

        env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root)}
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if out.returncode != 0:
            sys.exit(f"plan failed: {out.stderr}")
        lines = [line for line in out.stdout.splitlines() if line.strip()]
        plan = next(json.loads(line) for line in lines if line.startswith("{"))
        peak_mb = float(lines[-1])
        print(
            f"plan of {plan['rows_read']:,} rows: {plan['changed']:,} changed, {plan['unchanged']:,} unchanged, "
            f"{plan['added']} added, {plan['removed']} removed"
        )
        print(f"elapsed {elapsed:.2f}s ({plan['rows_read'] / elapsed:,.0f} rows/s), peak RSS {peak_mb:.0f} MB")
        print(f"target: <= 10 s and <= 500 MB -> {'MET' if elapsed <= 10 and peak_mb <= 500 else 'MISSED'}")


if __name__ == "__main__":
    main()
