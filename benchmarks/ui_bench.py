"""How fast `activate ui` serves the first page of a run with 1M row results.

Records a run of N row results (default 1,000,000; 2% rejected with three error codes) in a DuckDB state store,
starts the audit server, and times GET /runs/RUN (first page, all statuses) and GET /runs/RUN?status=rejected over
real HTTP. The anchor, measured in the same run: the same three SQL statements the page needs (count, page, status
and error-code facets) executed directly in DuckDB on the same file. Target (issue 12): first page <= 1 s.

    python benchmarks/ui_bench.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from activate.clock import SYSTEM_CLOCK
from activate.testing.project import ScratchProject
from activate.ui import AuditServer, Pages

RUN_ID = "20261201T000000-bench000"


def record_run(project: ScratchProject, rows: int) -> None:
    import duckdb

    from activate.state.store import StateStore

    store = StateStore(project.state_url, project_root=project.root)  # creates the tables by migration
    store.dispose()
    con = duckdb.connect(str(project.root / ".activate" / "state.duckdb"))
    con.execute(
        "INSERT INTO activate_runs (run_id, sync_name, status, trigger, started_at, finished_at, rows_read, "
        "rows_added, rows_changed, rows_removed, rows_unchanged, rows_succeeded, rows_failed, rows_rejected, "
        "rows_skipped, rows_invalid, api_calls, retries, throttled_seconds) VALUES "
        "(?, 'bench', 'partial', 'manual', now() - interval 1 hour, now(), ?, ?, 0, 0, 0, ?, 0, ?, 0, 0, ?, 0, 0)",
        [RUN_ID, rows, rows, rows - rows // 50, rows // 50, rows // 100],
    )
    con.execute(
        f"""INSERT INTO activate_row_results
        SELECT '{RUN_ID}', 'bench', i::VARCHAR, 'upsert',
               CASE WHEN i % 50 = 0 THEN 'rejected' ELSE 'succeeded' END,
               CASE WHEN i % 50 = 0 THEN NULL ELSE 'id-' || i END,
               CASE WHEN i % 50 = 0 THEN ['INVALID_EMAIL', 'PROPERTY_DOESNT_EXIST', 'TOO_LONG'][1 + (i // 50) % 3] END,
               CASE WHEN i % 50 = 0 THEN 'row ' || i || ' refused' END,
               1, now() - interval 1 hour + to_microseconds(i)
        FROM range({rows}) r(i)"""
    )
    con.close()


def anchor(project: ScratchProject) -> float:
    """The page's statements, straight in DuckDB on the same file (read-only, a fresh connection as the UI does)."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(str(project.root / ".activate" / "state.duckdb"), read_only=True)
    where = f"run_id = '{RUN_ID}'"
    con.execute(f"SELECT count(*) FROM activate_row_results WHERE {where}").fetchall()
    con.execute(f"SELECT * FROM activate_row_results WHERE {where} ORDER BY recorded_at, row_key LIMIT 50").fetchall()
    con.execute(f"SELECT status, count(*) FROM activate_row_results WHERE {where} GROUP BY status").fetchall()
    con.execute(
        f"SELECT error_code, count(*) n FROM activate_row_results WHERE {where} AND error_code IS NOT NULL "
        "GROUP BY error_code ORDER BY n DESC LIMIT 20"
    ).fetchall()
    con.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = ScratchProject(Path(tmp))
        project.people(1)
        project.add_connection("hooks", {"type": "webhook", "url": "http://127.0.0.1:9/"})
        project.add_sync("bench", {"connection": "hooks", "object": "people", "mapping": {"email": "email"}})
        built = time.perf_counter()
        record_run(project, args.rows)
        print(f"recorded a run of {args.rows:,} row results in {time.perf_counter() - built:.1f} s")
        reader = project.reader()
        pages = Pages(project.load(), reader, SYSTEM_CLOCK, command="python -m activate")
        with AuditServer(pages, port=0) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            for label, params in (("first page", {}), ("rejected only", {"status": "rejected"})):
                times, anchors = [], []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    page = client.get(f"/runs/{RUN_ID}", params=params)
                    times.append(time.perf_counter() - started)
                    assert page.status_code == 200, page.text[:300]
                    assert page.text.count("<tr>") >= 50
                    anchors.append(anchor(project))
                first, median, floor = times[0], statistics.median(times), statistics.median(anchors)
                print(
                    f"{label:14} first {first * 1000:6.0f} ms  median {median * 1000:6.0f} ms  "
                    f"anchor (DuckDB, same statements) {floor * 1000:6.0f} ms  ratio {median / floor:4.1f}x  "
                    f"target <= 1000 ms: {'ok' if max(times) <= 1.0 else 'MISSED'}"
                )
        reader.dispose()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
