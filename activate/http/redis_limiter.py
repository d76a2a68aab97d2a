"""The Redis-backed window: several processes or machines calling one connection stay under one limit together.

A sorted set per connection key holds one member per request, scored by when its response arrived (in-flight
requests are scored `lease` seconds ahead, so a crashed holder frees its slot by itself). A Lua script prunes what
left the window and admits a request only while the set holds fewer than `requests` members, all on Redis's own
clock, so machines with skewed clocks still share one window. A 429 anywhere sets a shared pause key.
Concurrency and pacing stay per process (the in-process `WindowLimiter` in front of the shared window).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from activate.clock import Clock
from activate.http.limiter import Permit, WindowLimiter
from activate.http.limits import RateLimits

if TYPE_CHECKING:
    import redis

_ACQUIRE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local lease = tonumber(ARGV[4])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then
  return paused - now
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil((window + lease) / 1000))
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1000, tonumber(oldest[2]) + window - now)
"""

_RELEASE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""

_PAUSE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], until_, 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return 0
"""


class RedisWindowLimiter:
    """`RateLimiter` whose window (and 429 pause) lives in Redis, keyed by the connection key.

    Invariant: across every process using the same `redis_url` and key, requests in flight plus requests answered
    in the last `per_seconds` (by Redis's clock) never exceed `requests`. Waits are slept through the injected
    clock, but the window itself runs on Redis time, so this backend is for real-time use.
    """

    poll_seconds = 0.05  # longest sleep between two looks at the shared window (others may release early)
    lease_seconds = 120.0  # an in-flight request whose process died stops counting after this

    def __init__(self, key: str, limits: RateLimits, clock: Clock) -> None:
        import redis

        assert limits.redis_url is not None
        self._client: redis.Redis = redis.Redis.from_url(limits.redis_url)
        self._local = WindowLimiter(limits.requests, limits.per_seconds, limits.max_concurrency, clock)
        self._clock = clock
        self._limits = limits
        self._keys = [f"activate:ratelimit:{key}:window", f"activate:ratelimit:{key}:pause"]
        self._acquire: Any = self._client.register_script(_ACQUIRE)
        self._release: Any = self._client.register_script(_RELEASE)
        self._pause: Any = self._client.register_script(_PAUSE)

    def acquire(self) -> Permit:
        local = self._local.acquire()
        started = self._clock.monotonic()
        token = uuid.uuid4().hex
        window_us = int(self._limits.per_seconds * 1_000_000)
        lease_us = int(self.lease_seconds * 1_000_000)
        try:
            while True:
                wait_us = int(self._acquire(keys=self._keys, args=[self._limits.requests, window_us, token, lease_us]))
                if wait_us == 0:
                    break
                self._clock.sleep(min(wait_us / 1_000_000, self.poll_seconds))
        except BaseException:
            self._local.release(local, sent=False)
            raise
        return Permit(waited=local.waited + max(0.0, self._clock.monotonic() - started), token=token)

    def release(self, permit: Permit, *, sent: bool = True) -> None:
        try:
            self._release(keys=self._keys[:1], args=[permit.token, "1" if sent else "0"])
        finally:
            self._local.release(permit, sent=sent)

    def throttle(self, seconds: float) -> None:
        self._pause(keys=self._keys[1:], args=[int(seconds * 1_000_000)])
        self._local.throttle(seconds)

    def recover(self) -> None:
        self._local.recover()
