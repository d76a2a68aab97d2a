"""How fast `activate plan` diffs a large table next to pure DuckDB doing the same work, and how much memory it takes.

Builds a DuckDB warehouse table `people` of N rows, seeds the sync's state as if every row had been synced (with
the engine's own hashing), changes a fraction of the rows, then measures, one right after the other:

- the anchor: one DuckDB statement on the same warehouse file and state file, given a 1 GB memory limit, that
  computes the same key and hash of every row (the same canonical SQL) and full-outer-joins them with the state,
  materialising the rows to act on; run before and after activate, the mean is the anchor time;
- activate: `python -m activate plan bench --json` in a fresh interpreter: the time of the command inside the
  process (loading the project, snapshot, diff, samples, rendering; interpreter start-up shown apart) and the
  process's peak RSS (VmHWM).

Prints both times, their ratio, both peak RSS and the load average. Targets (issue 16): plan within 2.0x of the
anchor, peak RSS <= 1 GB (at 10M rows); a first plan (`--first`: empty state) of 30M rows within 1 GB.

    python benchmarks/diff_bench.py [--rows 1000000] [--change 0.01] [--first | --fields]
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

SYNC = "bench"
MAPPING = {"email": "email", "firstname": "first_name", "lastname": "last_name", "score": "score"}

# `activate plan bench --json` in a fresh interpreter, timed inside it, then its own peak RSS: VmHWM, not
# ru_maxrss, which Linux carries across fork+exec (a child would report the parent's peak).
CHILD = """
import sys, time, json
started = time.perf_counter()
from activate.cli.app import app
imported = time.perf_counter()
try:
    app(["plan", "bench", "--json"])
except SystemExit:
    pass
done = time.perf_counter()
peak = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"import": imported - started, "plan": done - imported, "peak_mb": peak}))
"""

ANCHOR = """
import sys, time, json, duckdb
warehouse, state, sync, select = sys.argv[1:5]
started = time.perf_counter()
con = duckdb.connect(warehouse, read_only=True, config={"memory_limit": "1GB"})
con.execute("SET TimeZone = 'UTC'")
con.execute(f"ATTACH '{state}' AS st (READ_ONLY)")
con.execute(
    f"CREATE TEMP TABLE ops AS SELECT coalesce(s.row_key, t.row_key) AS row_key, s.row_hash FROM ({select}) s "
    f"FULL OUTER JOIN (SELECT row_key, row_hash FROM st.activate_state WHERE sync_name = '{sync}') t "
    "ON s.row_key = t.row_key WHERE s.row_hash IS DISTINCT FROM t.row_hash"
)
changed = con.execute("SELECT count(*) FROM ops").fetchone()[0]
elapsed = time.perf_counter() - started
peak = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "changed": changed, "peak_mb": peak}))
"""


def seed_state(project: ScratchProject) -> float:
    """Record every current row as synced, using the engine's own snapshot hashing (so hashes match)."""
    from activate.plan.builder import PlanBuilder, PlanOptions
    from activate.state.store import StateStore

    started = time.perf_counter()
    loaded = project.load()
    store = StateStore(loaded.spec.state.url, project_root=loaded.root)
    builder = PlanBuilder(loaded, loaded.sync(SYNC), store, PlanOptions())
    builder.build()
    store.dispose()
    workspace = builder.workspace
    assert workspace is not None
    con = workspace.con  # type: ignore[union-attr]
    con.execute("SET memory_limit = '8GB'")  # the state file's primary-key index is built in memory
    con.execute(f"ATTACH '{project.root / '.activate' / 'state.duckdb'}' AS st")
    con.execute(
        "INSERT INTO st.activate_state (sync_name, row_key, row_hash, config_hash, destination_id, last_run_id, "
        "synced_at) SELECT ?, row_key, row_hash, ?, row_key, 'seed', now() FROM memory.main.ops",
        [SYNC, loaded.sync(SYNC).config_hash],
    )
    con.execute("DETACH st")
    builder.close()
    return time.perf_counter() - started


def anchor_select(project: ScratchProject) -> str:
    """The key and hash of every row, exactly as activate computes them (the same canonical SQL)."""
    import duckdb

    from activate.diff.canonical import snapshot_select

    con = duckdb.connect(str(project.root / "warehouse.duckdb"), read_only=True)
    schema = con.sql("SELECT * FROM people LIMIT 0").to_arrow_table().schema
    con.close()
    select = snapshot_select(schema, ["id"], sorted(MAPPING.values()), "people", 1, staged=[]).select
    return f"SELECT row_key, row_hash FROM ({select})"


def run_json(args: list[str], env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"failed: {out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--first", action="store_true", help="a first plan: empty state, every row added")
    parser.add_argument(
        "--fields",
        action="store_true",
        help="the cost of field-level state instead: the same plan with and without every row's confirmed values "
        "(benchmarks/field_state_bench.py; target within 1.3x, issue 11)",
    )
    args = parser.parse_args()
    if args.fields:
        from field_state_bench import main as field_state_main

        field_state_main(["--rows", str(args.rows), "--change", str(args.change)])
        return

    with tempfile.TemporaryDirectory() as tmp:
        project = ScratchProject(Path(tmp))
        started = time.perf_counter()
        project.people(args.rows)
        print(f"built warehouse table of {args.rows:,} rows in {time.perf_counter() - started:.1f}s", flush=True)
        project.add_connection("hooks", {"type": "hubspot", "access_token": "bench", "base_url": "http://127.0.0.1:9"})
        project.add_sync(
            SYNC, {"connection": "hooks", "object": "contacts", "mode": "mirror", "match": "email", "mapping": MAPPING}
        )
        if args.first:
            from activate.state.store import StateStore

            StateStore(project.state_url, project_root=project.root).dispose()  # the tables, empty
        else:
            print(f"seeded state for every row in {seed_state(project):.1f}s", flush=True)
            every = round(1 / args.change)
            project.execute(f"update people set first_name = 'Changed' where id % {every} = 0")

        env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root), "PYTHONWARNINGS": "ignore"}
        anchor_args = [
            "-c",
            ANCHOR,
            str(project.root / "warehouse.duckdb"),
            str(project.root / ".activate" / "state.duckdb"),
            SYNC,
            anchor_select(project),
        ]
        load_before = os.getloadavg()
        anchors = [run_json(anchor_args, env)]
        plan_out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
        anchors.append(run_json(anchor_args, env))
        load_after = os.getloadavg()
        if plan_out.returncode != 0:
            sys.exit(f"plan failed: {plan_out.stderr[-3000:]}")
        lines = [line for line in plan_out.stdout.splitlines() if line.strip()]
        plan = next(json.loads(line) for line in lines if line.startswith('{"type": "plan"'))
        measured = json.loads(lines[-1])

    expected = args.rows if args.first else args.rows // round(1 / args.change)
    assert plan["added" if args.first else "changed"] == expected, plan
    assert all(a["changed"] == expected for a in anchors), anchors
    anchor = sum(a["seconds"] for a in anchors) / len(anchors)
    ratio = measured["plan"] / anchor
    print(
        f"plan of {plan['rows_read']:,} rows: {plan['added']:,} added, {plan['changed']:,} changed, "
        f"{plan['unchanged']:,} unchanged, {plan['removed']:,} removed"
    )
    print(
        f"activate plan  {measured['plan']:7.2f} s  peak RSS {measured['peak_mb']:5.0f} MB  "
        f"(+{measured['import']:.2f} s interpreter start and imports)"
    )
    print(
        f"anchor (DuckDB) {anchor:6.2f} s  peak RSS {max(a['peak_mb'] for a in anchors):5.0f} MB  "
        f"(runs: {', '.join(format(a['seconds'], '.2f') for a in anchors)} s; 1 GB memory limit)"
    )
    print(f"ratio          {ratio:7.2f}x")
    print(f"load average   {', '.join(f'{x:.2f}' for x in load_before)} -> {', '.join(f'{x:.2f}' for x in load_after)}")
    ok = ratio <= 2.0 and measured["peak_mb"] <= 1024
    print(f"target: <= 2.0x the anchor and <= 1 GB peak RSS -> {'MET' if ok else 'MISSED'}")
    print(
        json.dumps(
            {
                "rows": args.rows,
                "first": args.first,
                "activate_s": round(measured["plan"], 3),
                "anchor_s": round(anchor, 3),
                "ratio": round(ratio, 2),
                "peak_mb": round(measured["peak_mb"]),
                "load": [round(x, 2) for x in load_after],
            }
        )
    )


if __name__ == "__main__":
    main()
