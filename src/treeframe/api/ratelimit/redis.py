"""Token buckets in Redis: every worker and instance of a deployment draws from the same one.

One Lua script per request makes the refill and the take atomic on the
server, with the server's own clock (``TIME``), so instances with skewed
clocks agree. A bucket expires once it would be full again anyway. Redis
failing (down, slow: the socket timeout is short) lets requests through,
with one warning a minute in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from treeframe.errors import BackendUnavailable
from treeframe.observability.throttle import ThrottledWarning

__all__ = ["KEY_PREFIX", "RedisBuckets"]

KEY_PREFIX = "treeframe:ratelimit:"
_TIMEOUT = 0.25
_WARN_EVERY = 60.0
_LOG = logging.getLogger("treeframe.api.ratelimit")

_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisBuckets:
    """``rate`` tokens a second, ``burst`` at most, per agent, kept in the Redis at ``url``."""

    def __init__(self, url: str, rate: float, burst: int, *, prefix: str = KEY_PREFIX) -> None:
        try:
            import redis
        except ImportError as exc:
            raise BackendUnavailable(
                "shared rate limits need the redis extra: pip install 'treeframe[redis]'"
            ) from exc
        self.rate = rate
        self.burst = burst
        self.prefix = prefix
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT
        )
        self._script: Any = self._client.register_script(_TAKE)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._warn = ThrottledWarning(_LOG, _WARN_EVERY)

    def take(self, agent: str) -> float | None:
        """None when a token was taken (or Redis cannot say); else the seconds until one is back."""
        try:
            wait = float(self._script(keys=[self.prefix + agent], args=[self.rate, self.burst]))
        except self._errors as exc:
            self._warn("rate limits are not enforced: Redis does not answer (%s)", exc)
            return None
        return wait if wait > 0 else None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
