"""Per-agent rate limits: one token bucket per agent, in this process or shared through Redis.

:class:`RateLimiter` is the seam; :mod:`.memory` keeps buckets in the
process (one server, or each worker on its own), :mod:`.redis` keeps them in
Redis so every worker and instance draws from the same bucket.
:func:`rate_limiter` picks one from the settings: none when
``server.rate_limit`` is 0 (the default), Redis when ``redis.url`` is set,
else memory. A bucket holds ``server.rate_burst`` tokens and gains
``server.rate_limit`` a second; each authenticated request takes one, and a
request finding none is refused with ``rate_limited`` (429) and how long to
wait. A limiter that cannot answer (Redis down) lets the request through:
losing the limit for a while is better than losing the API.
"""

from __future__ import annotations

from typing import Protocol

from treeframe.config.settings import Settings

__all__ = ["RateLimiter", "rate_limiter"]


class RateLimiter(Protocol):
    """Takes one token from an agent's bucket."""

    def take(self, agent: str) -> float | None:
        """None when the request may go; else the seconds until a token is back."""

    def close(self) -> None:
        """Release connections (at app shutdown)."""


def rate_limiter(settings: Settings) -> RateLimiter | None:
    """The limiter the settings ask for, or None when rate limits are off."""
    rate = settings.server.rate_limit
    if rate <= 0:
        return None
    burst = settings.server.rate_burst or max(1, round(rate))
    if settings.redis.url is not None:
        from treeframe.api.ratelimit.redis import RedisBuckets

        return RedisBuckets(settings.redis.url, rate, burst)
    from treeframe.api.ratelimit.memory import MemoryBuckets

    return MemoryBuckets(rate, burst)
