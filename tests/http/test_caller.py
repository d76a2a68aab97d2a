"""`ApiCaller` retry policy over real HTTP: each `send` is one httpx POST to the webhook simulator.

Time runs on a FakeClock shared with the simulator, so Retry-After waits and backoffs are checked without sleeping.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from activate.clock import FakeClock
from activate.http.caller import ApiCaller, caller_for
from activate.http.classify import classify_response
from activate.http.errors import AuthFailed, QuotaExhausted, RateLimited, TerminalError, TransientError
from activate.http.limits import RateLimits
from activate.http.policy import RetryPolicy
from activate.http.stats import RunStats
from activate.testing.webhook_sim import WebhookSimulator

FAST = RateLimits(10_000, 1.0, max_concurrency=4)
_keys = itertools.count()


@dataclass
class Poster:
    """Sends one POST of a one-row batch per call; raises the classified error on a non-2xx answer."""

    sim: WebhookSimulator
    clock: FakeClock
    timeout: float = 5.0
    token: str = "stale"
    url: str | None = None
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(timeout=self.timeout)

    def sender(self, row: str | None = None, body: bytes | None = None) -> Callable[[], httpx.Response]:
        key = row or f"row-{next(_keys)}"
        payload = (
            body
            or httpx.Request(
                "POST",
                "/",
                json={
                    "sync": "s",
                    "operation": "upsert",
                    "rows": [{"key": key, "destination_id": None, "fields": {"n": 1}}],
                },
            ).read()
        )

        def send() -> httpx.Response:
            response = self.client.post(
                f"{self.url or self.sim.url}/people",
                content=payload,
                headers={"Idempotency-Key": f"idem-{key}", "Authorization": f"Bearer {self.token}"},
            )
            error = classify_response(response.status_code, response.headers, response.content, now=self.clock.now())
            if error is not None:
                raise error
            return response

        return send


@pytest.fixture
def poster(sim: WebhookSimulator, clock: FakeClock) -> Iterator[Poster]:
    poster = Poster(sim, clock)
    yield poster
    poster.client.close()


def new_caller(clock: FakeClock, limits: RateLimits = FAST, policy: RetryPolicy | None = None) -> ApiCaller:
    return ApiCaller("test", limits, clock=clock, policy=policy or RetryPolicy())


def test_429_without_retry_after_is_waited_out_with_growing_pauses_and_spends_no_attempts(
    sim: WebhookSimulator, clock: FakeClock, poster: Poster
) -> None:
    caller, stats = new_caller(clock, policy=RetryPolicy(max_attempts=1)), RunStats()
    sim.storm(3)
    caller.call(poster.sender("a"), stats=stats)
    assert sim.requests == 4
    assert sim.applied["a"] == 1
    assert [s for s in clock.slept if s >= 1] == [1.0, 2.0, 4.0]
    assert (stats.api_calls, stats.retries) == (4, 3)
    assert stats.throttled_seconds == pytest.approx(7.0)


def test_retry_after_is_honoured_before_the_retry_is_sent(
    sim: WebhookSimulator, clock: FakeClock, poster: Poster
) -> None:
    caller, stats = new_caller(clock), RunStats()
    sim.storm(1, retry_after=3)
    caller.call(poster.sender("a"), stats=stats)
    assert sim.requests == 2
    assert sim.early_retries == []
    assert clock.monotonic() >= 3


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 423])
def test_server_errors_are_retried_with_jittered_backoff(
    sim: WebhookSimulator, clock: FakeClock, poster: Poster, status: int
) -> None:
    caller, stats = new_caller(clock, policy=RetryPolicy(backoff_initial=0.5, backoff_cap=30)), RunStats()
    sim.fail_next(2, status)
    caller.call(poster.sender("a"), stats=stats)
    assert sim.requests == 3
    assert sim.applied["a"] == 1
    first, second = clock.slept[-2:]
    assert 0 <= first <= 0.5, "full jitter within the exponential cap"
    assert 0 <= second <= 1.0
    assert (stats.api_calls, stats.retries) == (3, 2)


def test_transient_errors_give_up_after_max_attempts(sim: WebhookSimulator, clock: FakeClock, poster: Poster) -> None:
    caller, stats = new_caller(clock, policy=RetryPolicy(max_attempts=5)), RunStats()
    sim.fail_next(10, 503)
    with pytest.raises(TransientError) as raised:
        caller.call(poster.sender("a"), stats=stats)
    assert raised.value.status == 503
    assert sim.requests == 5
    assert stats.api_calls == 5


def test_a_connection_reset_is_retried(sim: WebhookSimulator, clock: FakeClock, poster: Poster) -> None:
    caller, stats = new_caller(clock), RunStats()
    sim.faults.drop_connection_next = 1
    caller.call(poster.sender("a"), stats=stats)
    assert sim.applied["a"] == 1
    assert (stats.api_calls, stats.retries) == (2, 1)


def test_a_read_timeout_is_retried_and_the_endpoint_sees_a_replay(sim: WebhookSimulator, clock: FakeClock) -> None:
    poster = Poster(sim, clock, timeout=0.2)
    caller, stats = new_caller(clock), RunStats()
    sim.delay_next(1, 0.6)
    response = caller.call(poster.sender("a"), stats=stats)
    assert response.headers.get("Idempotent-Replayed") == "true"
    assert (sim.requests, sim.replays, sim.applied["a"]) == (2, 1, 1)
    assert (stats.api_calls, stats.retries) == (2, 1)


def test_a_non_idempotent_call_that_may_have_landed_is_not_resent(sim: WebhookSimulator, clock: FakeClock) -> None:
    poster = Poster(sim, clock, timeout=0.2)
    caller, stats = new_caller(clock), RunStats()
    sim.delay_next(1, 0.6)
    with pytest.raises(TransientError) as raised:
        caller.call(poster.sender("a"), stats=stats, idempotent=False)
    assert raised.value.sent
    assert raised.value.code == "TIMEOUT"
    assert sim.requests == 1
    assert stats.api_calls == 1


def test_a_non_idempotent_call_that_surely_never_left_is_retried(sim: WebhookSimulator, clock: FakeClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    poster = Poster(sim, clock, url=closed)
    send = poster.sender("a")
    attempts = 0

    def flaky_then_up() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 2:  # an unreachable destination gets two attempts (then the run fails with the cause)
            poster.url = None
        return send()

    caller, stats = new_caller(clock), RunStats()
    caller.call(flaky_then_up, stats=stats, idempotent=False)
    assert attempts == 2
    assert (sim.requests, sim.applied["a"]) == (1, 1)


def test_400_is_not_retried(sim: WebhookSimulator, clock: FakeClock, poster: Poster) -> None:
    caller, stats = new_caller(clock), RunStats()
    with pytest.raises(TerminalError) as raised:
        caller.call(poster.sender("a", body=b"not json"), stats=stats)
    assert raised.value.status == 400
    assert "malformed batch" in raised.value.message
    assert sim.requests == 1
    assert (stats.api_calls, stats.retries) == (1, 0)


def test_401_refreshes_once_then_retries(sim: WebhookSimulator, clock: FakeClock, poster: Poster) -> None:
    sim.token = "fresh"
    refreshes = []

    def refresh() -> None:
        refreshes.append(1)
        poster.token = "fresh"

    caller, stats = new_caller(clock), RunStats()
    caller.call(poster.sender("a"), stats=stats, refresh=refresh)
    assert len(refreshes) == 1
    assert sim.requests == 2
    assert sim.applied["a"] == 1
    assert (stats.api_calls, stats.retries) == (2, 1)


def test_a_second_401_after_the_refresh_fails_the_call_without_looping(
    sim: WebhookSimulator, clock: FakeClock, poster: Poster
) -> None:
    sim.token = "fresh"
    refreshes = []
    caller, stats = new_caller(clock), RunStats()
    with pytest.raises(AuthFailed, match="after a refresh"):
        caller.call(poster.sender("a"), stats=stats, refresh=lambda: refreshes.append(1))
    assert len(refreshes) == 1
    assert sim.requests == 2


def test_401_without_a_way_to_refresh_fails_at_once(sim: WebhookSimulator, clock: FakeClock, poster: Poster) -> None:
    sim.token = "fresh"
    with pytest.raises(AuthFailed, match="cannot refresh"):
        new_caller(clock).call(poster.sender("a"), stats=RunStats())
    assert sim.requests == 1


def test_an_endless_throttle_gives_up_after_the_cap(sim: WebhookSimulator, clock: FakeClock, poster: Poster) -> None:
    caller = new_caller(clock, policy=RetryPolicy(max_throttled_seconds=10))
    sim.storm(100, retry_after=4)
    with pytest.raises(RateLimited, match="still rate limited"):
        caller.call(poster.sender("a"), stats=RunStats())
    assert sim.requests == 3, "waited 4 + 4 s; a third 4 s wait would pass the 10 s cap"


def test_a_vendor_quota_error_closes_the_day(sim: WebhookSimulator, clock: FakeClock, poster: Poster) -> None:
    sim.quota(10, used=10)
    caller = new_caller(clock)
    send = poster.sender("a")

    def send_or_quota() -> httpx.Response:
        try:
            return send()
        except RateLimited as exc:
            if "DAILY" in exc.message:  # what a vendor writer's own classifier does with its 429 body
                raise QuotaExhausted(exc.message) from exc
            raise

    with pytest.raises(QuotaExhausted):
        caller.call(send_or_quota, stats=RunStats())
    with pytest.raises(QuotaExhausted, match="0 daily calls left"):
        caller.call(send_or_quota, stats=RunStats())
    assert sim.requests == 1, "the second call was refused before sending"


def test_a_bug_in_send_propagates_unchanged(clock: FakeClock) -> None:
    def broken() -> None:
        raise KeyError("field")

    stats = RunStats()
    with pytest.raises(KeyError):
        new_caller(clock).call(broken, stats=stats)
    assert stats.api_calls == 1
    assert stats.retries == 0


def test_callers_are_shared_per_connection_key(clock: FakeClock) -> None:
    first = caller_for("hubspot:portal-1", FAST, clock=clock)
    assert caller_for("hubspot:portal-1", FAST, clock=clock) is first
    assert caller_for("hubspot:portal-2", FAST, clock=clock) is not first
    rebuilt = caller_for("hubspot:portal-1", RateLimits(5, 1.0), clock=clock)
    assert rebuilt is not first
    assert rebuilt.limits.requests == 5
