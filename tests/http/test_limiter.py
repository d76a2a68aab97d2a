"""The in-process limiter's invariants, on a FakeClock (waits take no real time)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from activate.clock import FakeClock
from activate.http.limiter import WindowLimiter


def run_requests(limiter: WindowLimiter, clock: FakeClock, count: int, threads: int) -> list[tuple[float, float]]:
    """Send `count` requests from `threads` threads; each takes 0.01 s; returns (start, end) per request."""
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        permit = limiter.acquire()
        start = clock.monotonic()
        clock.advance(0.01)
        end = clock.monotonic()
        with lock:
            spans.append((start, end))
        limiter.release(permit)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    return spans


def most_in_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_no_window_ever_holds_more_than_the_limit() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(10, 1.0, 4, clock)
    spans = run_requests(limiter, clock, 95, threads=4)
    assert len(spans) == 95
    assert most_in_window([start for start, _ in spans], 1.0) <= 10
    assert clock.monotonic() >= 8.5, "95 requests at 10/s need at least 8.5 s"


def test_the_window_counts_a_request_until_its_answer_arrived() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(2, 1.0, 2, clock, burst=2)
    first, second = limiter.acquire(), limiter.acquire()
    clock.advance(0.5)  # both answers arrive half a second after they were sent
    limiter.release(first)
    limiter.release(second)
    third = limiter.acquire()
    # Counting from the send (t=0) would admit at t=1.0; the server may have seen them arrive up to t=0.5.
    assert clock.monotonic() >= 1.5
    assert third.waited >= 1.0


def test_concurrency_is_capped() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(1000, 1.0, 3, clock)
    in_flight, most = 0, 0
    lock = threading.Lock()

    def one(_: int) -> None:
        nonlocal in_flight, most
        permit = limiter.acquire()
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        threading.Event().wait(0.002)
        with lock:
            in_flight -= 1
        limiter.release(permit)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(60)))
    assert most == 3


def test_requests_are_paced_after_a_burst() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(10, 1.0, 4, clock)
    starts = []
    for _ in range(8):
        limiter.release(limiter.acquire())
        starts.append(clock.monotonic())
    assert starts[:4] == [0.0] * 4, "a burst of max_concurrency goes at once"
    gaps = [round(b - a, 6) for a, b in zip(starts[3:], starts[4:], strict=False)]
    assert gaps == [0.1] * 4, "then one request every per_seconds / requests"


def test_throttle_pauses_every_caller_then_the_rate_recovers() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(10, 1.0, 4, clock)
    limiter.release(limiter.acquire())
    limiter.throttle(5.0)
    assert limiter.current_limit == 5
    woke: list[float] = []

    def waiter() -> None:
        limiter.release(limiter.acquire())
        woke.append(clock.monotonic())

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(woke) == 3
    assert min(woke) >= 5.0
    for _ in range(5):
        limiter.recover()
    assert limiter.current_limit == 10


def test_the_backed_off_rate_never_drops_below_one() -> None:
    limiter = WindowLimiter(4, 1.0, 1, FakeClock())
    for _ in range(10):
        limiter.throttle(0)
    assert limiter.current_limit == 1
