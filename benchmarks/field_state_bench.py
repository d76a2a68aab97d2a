"""What field-level state costs a plan: the same plan with every synced row's confirmed field values in
`activate_state.fields`, and without them (a store synced before field-level state), measured one after the other.

Builds the `diff_bench` table of N rows, seeds the state as if every row had been synced (the engine's own
hashing; the field values are the JSON the engine stores, built in SQL from the same rows), changes a fraction of
the rows, then runs `python -m activate plan bench --json` in fresh interpreters, alternating: without field
values, with them, without, with. Prints both medians, their ratio and both peak RSS, with the load average.
Target (issue 11): plan time with field state within 1.3x of plan time without it; peak RSS within 1 GB.

    python benchmarks/field_state_bench.py [--rows 1000000] [--change 0.01]
    python benchmarks/diff_bench.py --fields [--rows 1000000]      (the same)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from activate.testing.project import ScratchProject

sys.path.insert(0, str(Path(__file__).parent))
from diff_bench import CHILD, MAPPING, SYNC, seed_state  # noqa: E402


def fill_fields(project: ScratchProject) -> float:
    """Every state row's confirmed values, as the engine writes them (`activate.fieldstate.encode_fields`: sorted
    keys, compact JSON), built in SQL from the warehouse rows."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(str(project.root / ".activate" / "state.duckdb"))
    con.execute("SET memory_limit = '4GB'")
    con.execute(f"ATTACH '{project.root / 'warehouse.duckdb'}' AS wh (READ_ONLY)")
    pairs = ", ".join(f"'{field}', p.{column}" for field, column in sorted(MAPPING.items()))
    con.execute(
        f"UPDATE activate_state SET fields = CAST(json_object({pairs}) AS VARCHAR) FROM wh.people p "
        f"WHERE activate_state.sync_name = '{SYNC}' AND activate_state.row_key = CAST(p.id AS VARCHAR)"
    )
    filled = con.execute("SELECT count(*) FROM activate_state WHERE fields IS NOT NULL").fetchone()
    con.close()
    if filled is None or filled[0] == 0:
        sys.exit("no state row got field values")
    return time.perf_counter() - started


def plan_once(project_dir: Path) -> dict[str, float]:
    env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project_dir), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"plan failed: {out.stderr[-3000:]}")
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    plan = next(json.loads(line) for line in lines if line.startswith('{"type": "plan"'))
    measured: dict[str, float] = json.loads(lines[-1])
    measured["changed"] = plan["changed"]
    return measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        without = ScratchProject(Path(tmp) / "without")
        started = time.perf_counter()
        without.people(args.rows)
        print(f"built warehouse table of {args.rows:,} rows in {time.perf_counter() - started:.1f}s", flush=True)
        without.add_connection("hooks", {"type": "hubspot", "access_token": "bench", "base_url": "http://127.0.0.1:9"})
        without.add_sync(
            SYNC, {"connection": "hooks", "object": "contacts", "mode": "mirror", "match": "email", "mapping": MAPPING}
        )
        print(f"seeded state for every row in {seed_state(without):.1f}s", flush=True)
        # the same project and state, with field values: copies of both files, so both plans read the same data
        fields = ScratchProject(Path(tmp) / "with")
        with_dir = fields.root
        shutil.copy(without.root / "warehouse.duckdb", with_dir / "warehouse.duckdb")
        (with_dir / ".activate").mkdir(exist_ok=True)
        shutil.copy(without.root / ".activate" / "state.duckdb", with_dir / ".activate" / "state.duckdb")
        fields.connections, fields.syncs = dict(without.connections), dict(without.syncs)
        fields.write()
        print(f"filled field values for every row in {fill_fields(fields):.1f}s", flush=True)
        every = round(1 / args.change)
        for root in (without.root, with_dir):
            import duckdb

            con = duckdb.connect(str(root / "warehouse.duckdb"))
            con.execute(f"update people set first_name = 'Changed' where id % {every} = 0")
            con.close()

        load_before = os.getloadavg()
        runs: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
        for _ in range(args.rounds):
            runs["without"].append(plan_once(without.root))
            runs["with"].append(plan_once(with_dir))
        load_after = os.getloadavg()

    expected = args.rows // every
    assert all(r["changed"] == expected for rs in runs.values() for r in rs), runs
    median = {name: statistics.median(r["plan"] for r in rs) for name, rs in runs.items()}
    peak = {name: max(r["peak_mb"] for r in rs) for name, rs in runs.items()}
    ratio = median["with"] / median["without"]
    for name in ("without", "with"):
        times = ", ".join(format(r["plan"], ".2f") for r in runs[name])
        print(f"plan {name:7} field state {median[name]:7.2f} s  peak RSS {peak[name]:5.0f} MB  (runs: {times} s)")
    print(f"ratio          {ratio:7.2f}x")
    print(f"load average   {', '.join(f'{x:.2f}' for x in load_before)} -> {', '.join(f'{x:.2f}' for x in load_after)}")
    ok = ratio <= 1.3 and peak["with"] <= 1024
    print(f"target: <= 1.3x the plan without field state and <= 1 GB peak RSS -> {'MET' if ok else 'MISSED'}")
    print(
        json.dumps(
            {
                "rows": args.rows,
                "without_s": round(median["without"], 3),
                "with_s": round(median["with"], 3),
                "ratio": round(ratio, 2),
                "peak_mb": round(peak["with"]),
                "load": [round(x, 2) for x in load_after],
            }
        )
    )


if __name__ == "__main__":
    main()
