"""HubSpot write throughput under the simulator's 100 requests / 10 s limit (run by hand; prints figures).

    python benchmarks/hubspot_bench.py [--rows 20000] [--threads N] [--engine]

The ceiling is 100 requests per 10 s x 100 inputs per batch upsert = 1,000 rows/s. By default the destination is
driven as the engine drives it (batches of 100 from a ThreadPoolExecutor of `max_concurrency` threads); `--engine`
runs a real sync (`activate run`) of a DuckDB table instead. Real time, real HTTP, the real SDK.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from activate.clock import SYSTEM_CLOCK
from activate.config.models import DestinationSpec
from activate.destinations.base import Operation, RowOp, RowResult, RowStatus, RunStats, WriteBatch, WriteContext
from activate.destinations.hubspot import plugin
from activate.http.caller import forget_callers
from activate.testing.hubspot import HubSpotSimulator

CEILING_ROWS_PER_SECOND = 1000.0


def bench_destination(sim: HubSpotSimulator, rows: int, threads: int | None) -> tuple[float, list[RowResult], RunStats]:
    stats = RunStats()
    spec = DestinationSpec(connection="hubspot", object="contacts", mode="upsert", match="email")
    context = WriteContext("bench", "bench-run", spec, stats, clock=SYSTEM_CLOCK)
    writer = plugin.create({"type": "hubspot", "access_token": sim.token, "base_url": sim.url}, context)
    ops = [
        RowOp(str(i), Operation.UPSERT, {"email": f"person{i}@example.com", "firstname": f"First{i}"}, None, None)
        for i in range(rows)
    ]
    batches = [WriteBatch(Operation.UPSERT, ops[i : i + 100]) for i in range(0, rows, 100)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads or writer.capabilities.max_concurrency) as pool:
        results = [r for batch in pool.map(writer.write, batches) for r in batch]
    return time.perf_counter() - started, results, stats


def bench_engine(sim: HubSpotSimulator, rows: int) -> tuple[float, int, int, str]:
    from activate.testing.project import ScratchProject

    with tempfile.TemporaryDirectory() as scratch:
        project = ScratchProject(Path(scratch))
        project.people(rows)
        project.add_connection("hubspot", {"type": "hubspot", "access_token": sim.token, "base_url": sim.url})
        project.add_sync(
            "people_hubspot",
            {
                "connection": "hubspot",
                "object": "contacts",
                "mode": "upsert",
                "match": "email",
                "mapping": {"email": "email", "firstname": "first_name", "lastname": "last_name"},
            },
        )
        started = time.perf_counter()
        summary = project.run("people_hubspot")
        elapsed = time.perf_counter() - started
        status = summary.status if summary.status == "succeeded" else f"{summary.status}: {summary.error}"
        return elapsed, summary.rows_succeeded, summary.rows_failed + summary.rows_rejected, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=None, help="default: the destination's max_concurrency")
    parser.add_argument("--engine", action="store_true", help="run a real sync through the engine")
    args = parser.parse_args()
    forget_callers()
    with HubSpotSimulator(per_window=100) as sim:
        if args.engine:
            elapsed, succeeded, bad, status = bench_engine(sim, args.rows)
            label = f"engine run ({status})"
        else:
            elapsed, results, stats = bench_destination(sim, args.rows, args.threads)
            succeeded = sum(r.status is RowStatus.SUCCEEDED for r in results)
            bad = len(results) - succeeded
            label = f"destination, {stats.api_calls} API calls, {stats.throttled_seconds:.1f}s throttled"
        calls = sim.log.calls("POST", "/batch/upsert")
        throttled = sum(c.status == 429 for c in calls)
    rate = succeeded / elapsed
    print(f"HubSpot upsert, {args.rows:,} rows, simulator limit 100 requests / 10 s ({label})")
    print(f"  elapsed           {elapsed:8.1f} s")
    print(f"  rows succeeded    {succeeded:8,d}   failed or rejected: {bad:,d}")
    print(f"  upsert requests   {len(calls):8,d}   answered 429: {throttled:,d}")
    print(f"  throughput        {rate:8.0f} rows/s = {rate / CEILING_ROWS_PER_SECOND:.1%} of the 1,000 rows/s ceiling")


if __name__ == "__main__":
    main()
