"""How close a first sync gets to a plain HTTP client on the same endpoint, and what an unchanged re-run costs.

For each size, a DuckDB warehouse table `people` of N rows and a webhook sync (upsert, four mapped columns,
batches of 100, 8 in flight, no rate limit) to a local webhook simulator. In the same run, on the same server:

- the anchor: a plain httpx client (8 threads, keep-alive) posting the same batches (the same JSON bodies, built
  beforehand from the same rows) to the same endpoint; its rows/s is the ceiling of this server and machine;
- activate: `activate run` of the sync (snapshot, diff, rendering, sending, recording: the whole run);
- the same `activate run` again, nothing changed: seconds and API calls (must be 0).

The endpoint runs in a process of its own (`--endpoint process`, the default) for both the anchor and activate:
a real endpoint never shares the client's interpreter, and in one process the server's threads compete with the
client's for the GIL, which taxes whichever client does more Python work per row. `--endpoint thread` keeps the
simulator in the benchmark's process (the first figures of issue 16 were taken that way).

Prints both rates, their ratio, the re-run and the load average. Targets (issue 16): a first sync of 100k rows
at >= 25% of the anchor's rows/s; an unchanged re-run of 1M rows in <= 3 s with 0 API calls.

    python benchmarks/write_bench.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

BATCH, CONCURRENCY = 100, 8
MAPPING = {"email": "email", "firstname": "first_name", "lastname": "last_name", "score": "score"}


def _serve_endpoint(conn: Any) -> None:
    """The child process: a webhook simulator answering `count <object>` and `stop` over the pipe."""
    with WebhookSimulator() as sim:
        conn.send(sim.url)
        while True:
            command, _, obj = conn.recv().partition(" ")
            if command == "stop":
                return
            conn.send(len(sim.rows(obj)))


@contextmanager
def endpoint(where: str) -> Iterator[tuple[str, Any]]:
    """(url, count of records stored for an object) of a webhook simulator in its own process or in this one."""
    if where == "thread":
        with WebhookSimulator() as sim:
            yield sim.url, lambda obj: len(sim.rows(obj))
        return
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve_endpoint, args=(child,), daemon=True)
    process.start()
    try:
        url = parent.recv()

        def count(obj: str) -> int:
            parent.send(f"count {obj}")
            return int(parent.recv())

        yield url, count
        parent.send("stop")
        process.join(timeout=10)
    finally:
        if process.is_alive():
            process.terminate()


def anchor_bodies(project: ScratchProject) -> list[bytes]:
    """The request bodies of a first sync, built as the webhook wire format from the same rows."""
    rows = project.execute("select id, email, first_name, last_name, score from people order by id::varchar")
    bodies = []
    for start in range(0, len(rows), BATCH):
        wire = [
            {"key": str(r[0]), "destination_id": None, "fields": dict(zip(MAPPING, r[1:], strict=True))}
            for r in rows[start : start + BATCH]
        ]
        bodies.append(json.dumps({"sync": "people_hook", "operation": "upsert", "rows": wire}).encode())
    return bodies


def post_all(url: str, bodies: list[bytes]) -> float:
    """Seconds for a plain httpx client with CONCURRENCY threads to POST every body (each answered 2xx)."""
    import httpx

    cursor = iter(enumerate(bodies))
    lock = threading.Lock()
    failures: list[int] = []

    def worker() -> None:
        with httpx.Client(headers={"Content-Type": "application/json"}) as client:
            while True:
                with lock:
                    item = next(cursor, None)
                if item is None:
                    return
                index, body = item
                response = client.post(url, content=body, headers={"Idempotency-Key": f"anchor-{index}"})
                if response.status_code >= 300:
                    failures.append(response.status_code)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not failures, failures[:5]
    return elapsed


def measure(rows: int, where: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, endpoint(where) as (url, stored):
        project = ScratchProject(Path(tmp))
        project.people(rows)
        limit = {"requests": 1_000_000, "per_seconds": 1, "max_concurrency": CONCURRENCY}
        project.add_connection("hooks", {"type": "webhook", "url": url, "batch_size": BATCH, "rate_limit": limit})
        project.add_sync("people_hook", {"connection": "hooks", "object": "people", "mapping": MAPPING})
        bodies = anchor_bodies(project)

        load_before = os.getloadavg()
        anchor = post_all(f"{url}/anchor", bodies)
        started = time.perf_counter()
        first = project.run("people_hook")
        engine = time.perf_counter() - started
        load_after = os.getloadavg()
        assert first.status == "succeeded", first.error
        assert first.rows_succeeded == rows
        assert stored("people") == rows

        started = time.perf_counter()
        again = project.run("people_hook")
        rerun = time.perf_counter() - started
        assert again.status == "succeeded", again.error
    return {
        "rows": rows,
        "activate_rows_s": rows / engine,
        "activate_s": engine,
        "anchor_rows_s": rows / anchor,
        "anchor_s": anchor,
        "ratio": anchor / engine,
        "rerun_s": rerun,
        "rerun_api_calls": again.api_calls,
        "endpoint": where,
        "load": [round(x, 2) for x in (*load_before, *load_after)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--endpoint", choices=("process", "thread"), default="process")
    args = parser.parse_args()
    print(f"{'rows':>10} {'activate rows/s':>16} {'anchor rows/s':>14} {'share':>7} {'re-run':>8} {'calls':>6}  load")
    for rows in args.rows:
        r = measure(rows, args.endpoint)
        load = r["load"]
        print(
            f"{rows:>10,} {r['activate_rows_s']:>16,.0f} {r['anchor_rows_s']:>14,.0f} {r['ratio']:>6.1%} "
            f"{r['rerun_s']:>7.2f}s {r['rerun_api_calls']:>6}  {load[0]:.2f} -> {load[3]:.2f}",
            flush=True,
        )
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}), flush=True)
    print("targets: first sync of 100k rows >= 25% of the anchor; unchanged re-run of 1M rows <= 3 s, 0 calls")


if __name__ == "__main__":
    main()
