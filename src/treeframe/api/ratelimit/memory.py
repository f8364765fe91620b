"""Token buckets in this process: exact for one worker, per worker with several."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["MemoryBuckets"]

MAX_AGENTS = 100_000
"""Buckets kept; the least recently used is dropped (a dropped bucket restarts full)."""


class MemoryBuckets:
    """``rate`` tokens a second, ``burst`` at most, per agent."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, agent: str) -> float | None:
        """None when a token was taken; else the seconds until one is back."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(agent, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[agent] = (tokens - 1.0, now)
                wait = None
            else:
                self._buckets[agent] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            self._buckets.move_to_end(agent)
            while len(self._buckets) > MAX_AGENTS:
                self._buckets.popitem(last=False)
        return wait

    def close(self) -> None:
        """Nothing to release."""
