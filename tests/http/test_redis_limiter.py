"""Two OS processes sharing one Redis-backed window stay under one limit together (real Redis, real HTTP).

Each child process runs its own `ApiCaller` (4 threads) against one simulator in this process; the simulator
timestamps every request it admits. The control case (each process with its own in-memory window) shows the
check is sensitive: without the shared window the server sees both processes' full rate.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from activate.testing.services import redis_url
from activate.testing.webhook_sim import WebhookSimulator

ROOT = Path(__file__).resolve().parents[2]
PER_PROCESS = 30
LIMIT = 20

CHILD = r"""
import sys, time
from concurrent.futures import ThreadPoolExecutor
import httpx
from activate.http.stats import RunStats
from activate.http.caller import ApiCaller
from activate.http.limits import RateLimits

url, redis_url, key, count, start_at, backend, name = sys.argv[1:]
limits = RateLimits(20, 1.0, max_concurrency=4, backend=backend, redis_url=redis_url if backend == "redis" else None)
caller = ApiCaller(key, limits)
stats = RunStats()
client = httpx.Client()

def send(i):
    def one():
        response = client.post(
            url + "/people",
            json={"sync": "s", "operation": "upsert", "rows": [{"key": f"{name}-{i}", "fields": {}}]},
            headers={"Idempotency-Key": f"{name}-{i}"},
        )
        response.raise_for_status()
    caller.call(one, stats=stats)

time.sleep(max(0.0, float(start_at) - time.time()))
with ThreadPoolExecutor(4) as pool:
    list(pool.map(send, range(int(count))))
print(stats.api_calls)
"""


@pytest.fixture
def sim() -> Iterator[WebhookSimulator]:
    with WebhookSimulator() as simulator:
        yield simulator


def run_two_processes(sim: WebhookSimulator, backend: str, key: str) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start_at = time.time() + 2.0  # both children past their imports before the first request
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, sim.url, redis_url(), key, str(PER_PROCESS), str(start_at), backend, name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out.strip() == str(PER_PROCESS)
    return time.time() - start_at


@pytest.mark.redis
def test_two_processes_sharing_a_redis_window_never_exceed_it(sim: WebhookSimulator, redis_client: object) -> None:
    key = f"test-{uuid.uuid4().hex}"
    try:
        elapsed = run_two_processes(sim, "redis", key)
    finally:
        redis_client.delete(f"activate:ratelimit:{key}:window", f"activate:ratelimit:{key}:pause")  # type: ignore[attr-defined]
    assert len(sim.arrivals) == 2 * PER_PROCESS
    assert set(sim.applied.values()) == {1}
    assert sim.max_in_window(1.0) <= LIMIT
    assert elapsed >= (2 * PER_PROCESS - LIMIT) / LIMIT, "60 requests at 20/s take at least 2 s"


def test_without_the_shared_window_two_processes_exceed_it(sim: WebhookSimulator) -> None:
    run_two_processes(sim, "memory", "unshared")
    assert len(sim.arrivals) == 2 * PER_PROCESS
    assert sim.max_in_window(1.0) > LIMIT
