"""How close the writer toolkit gets to a rate-limited endpoint's ceiling, and how many 429s it earns on the way.

A webhook simulator enforces 100 requests per sliding 10 s (429 + Retry-After beyond it); the webhook writer,
configured with the same limit, sends batches of 100 rows from `max_concurrency` threads with at most that many
batches in flight (as the engine does). The ceiling is 100 requests x 100 rows / 10 s = 1,000 rows/s.
Target (issue 3): >= 95% of the ceiling with <= 1% of requests answered 429.

    python benchmarks/throughput_bench.py [--rows 30000] [--concurrency 4] [--latency 0.02] [--engine]

`--engine` runs the same rows as a real `activate run` of a DuckDB-backed webhook sync instead of calling the
writer directly (the figure then includes reading, diffing and recording).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from activate.clock import SYSTEM_CLOCK
from activate.config.models import DestinationSpec
from activate.destinations.base import Operation, RowOp, RowResult, RowStatus, RunStats, WriteBatch, WriteContext
from activate.destinations.webhook import WebhookConnection, plugin
from activate.testing.webhook_sim import WebhookSimulator

REQUESTS, PER_SECONDS, BATCH = 100, 10.0, 100
CEILING = REQUESTS * BATCH / PER_SECONDS


def rate_limit(concurrency: int) -> dict[str, object]:
    return {"requests": REQUESTS, "per_seconds": PER_SECONDS, "max_concurrency": concurrency}


def run_writer(sim: WebhookSimulator, rows: int, concurrency: int) -> tuple[float, int, RunStats]:
    connection = WebhookConnection.model_validate(
        {"type": "webhook", "url": sim.url, "batch_size": BATCH, "rate_limit": rate_limit(concurrency)}
    )
    spec = DestinationSpec(connection="hooks", object="people")
    stats = RunStats()
    writer = plugin.create(connection, WriteContext("bench", "run-1", spec, stats, SYSTEM_CLOCK))
    batches = (
        WriteBatch(
            Operation.UPSERT, [RowOp(str(i), Operation.UPSERT, {"i": i}) for i in range(s, min(s + BATCH, rows))]
        )
        for s in range(0, rows, BATCH)
    )
    succeeded = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        in_flight: set[Future[list[RowResult]]] = set()
        for batch in batches:
            if len(in_flight) >= concurrency:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                succeeded += sum(r.status is RowStatus.SUCCEEDED for f in done for r in f.result())
            in_flight.add(pool.submit(writer.write, batch))
        succeeded += sum(r.status is RowStatus.SUCCEEDED for f in in_flight for r in f.result())
    elapsed = time.perf_counter() - started
    writer.close()
    return elapsed, succeeded, stats


def run_engine(sim: WebhookSimulator, rows: int, concurrency: int) -> tuple[float, int, RunStats]:
    from activate.testing.project import ScratchProject

    with tempfile.TemporaryDirectory() as tmp:
        project = ScratchProject(Path(tmp))
        project.people(rows)
        project.add_connection(
            "hooks", {"type": "webhook", "url": sim.url, "batch_size": BATCH, "rate_limit": rate_limit(concurrency)}
        )
        project.add_sync("people_hook", {"connection": "hooks", "object": "people", "mapping": {"email": "email"}})
        started = time.perf_counter()
        result = project.run("people_hook")
        elapsed = time.perf_counter() - started
    stats = RunStats(api_calls=result.api_calls)
    return elapsed, result.rows_succeeded, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.02, help="simulated server time per request (s)")
    parser.add_argument("--engine", action="store_true", help="run through `activate run` instead of the writer")
    args = parser.parse_args()

    with WebhookSimulator() as sim:
        sim.limit(REQUESTS, PER_SECONDS)
        sim.faults.latency = args.latency
        runner = run_engine if args.engine else run_writer
        elapsed, succeeded, stats = runner(sim, args.rows, args.concurrency)
        requests, throttled = sim.requests, sim.throttled

    rate = succeeded / elapsed
    print(f"path                 {'engine (activate run)' if args.engine else 'writer'}")
    print(f"rows succeeded       {succeeded:,} of {args.rows:,} in {elapsed:.1f} s")
    print(f"achieved             {rate:,.0f} rows/s = {100 * rate / CEILING:.1f}% of the {CEILING:,.0f} rows/s ceiling")
    print(f"requests             {requests:,} ({stats.api_calls:,} counted by the caller)")
    print(f"answered 429         {throttled:,} = {100 * throttled / max(requests, 1):.2f}% of requests")
    print(f"busiest 10 s window  {sim.max_in_window(PER_SECONDS)} requests (server limit {REQUESTS})")
    ok = rate >= 0.95 * CEILING and throttled <= 0.01 * requests and succeeded == args.rows
    print(f"target (>= 95%, <= 1% 429s): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
