"""Backpressure for the expensive operations: a bounded queue in front of synthesis and regeneration.

A synthesis or regeneration walks a subtree and writes frames; a burst of them
would take every thread of the worker and make every other request wait. So
each worker runs at most ``server.work_concurrency`` of them at once and lets
``server.work_queue`` more wait for a slot; one more is refused at once with
``queue_full`` (429) and a ``Retry-After`` estimated from how long recent
operations took. Admission is decided when the request arrives (a job started
with ``Prefer: respond-async`` is refused with the same 429, never accepted
and then dropped); the slot is taken in the thread that does the work.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from treeframe.errors import QueueFull

__all__ = ["Ticket", "WorkQueue"]

_RECENT = 32
"""Run times kept for the Retry-After estimate."""


class Ticket:
    """An admitted operation: it holds a place in the queue until it runs, then a slot."""

    def __init__(self, queue: WorkQueue) -> None:
        self._queue = queue
        self._used = False
        self._lock = threading.Lock()

    def _claim(self) -> bool:
        with self._lock:
            if self._used:
                return False
            self._used = True
            return True

    @contextmanager
    def running(self) -> Iterator[None]:
        """Wait for a slot, run the body in it, give it back (and the place) afterwards."""
        if not self._claim():
            raise RuntimeError("a ticket runs once, and not after it was cancelled")
        queue = self._queue
        queue._start()
        started = time.monotonic()
        try:
            yield
        finally:
            queue._finish(time.monotonic() - started)

    def cancel(self) -> None:
        """Give the place back without running (the request failed before its work started)."""
        if self._claim():
            self._queue._leave()


class WorkQueue:
    """``concurrency`` running, ``waiting`` more queued, per process; thread-safe."""

    def __init__(
        self, concurrency: int, waiting: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.waiting = max(0, waiting)
        self._clock = clock
        self._admitted = 0
        self._running = 0
        self._recent: deque[float] = deque(maxlen=_RECENT)
        self._cond = threading.Condition()

    @property
    def depth(self) -> tuple[int, int]:
        """``(running, waiting)`` now."""
        with self._cond:
            return self._running, self._admitted - self._running

    def admit(self, what: str) -> Ticket:
        """A ticket for one operation, or QueueFull when every slot and place is taken."""
        with self._cond:
            if self._admitted >= self.concurrency + self.waiting:
                raise QueueFull(
                    f"{what}: the work queue is full ({self.concurrency} running, "
                    f"{self.waiting} waiting); retry later",
                    retry_after=self._retry_after(),
                )
            self._admitted += 1
        return Ticket(self)

    def _retry_after(self) -> float:
        """Seconds until a place is likely free: the mean recent run time per slot, 1..60."""
        mean = sum(self._recent) / len(self._recent) if self._recent else 1.0
        rounds = (self.waiting + 1) / self.concurrency
        return float(min(60, max(1, math.ceil(mean * rounds))))

    def _start(self) -> None:
        with self._cond:
            while self._running >= self.concurrency:
                self._cond.wait()
            self._running += 1

    def _finish(self, seconds: float) -> None:
        with self._cond:
            self._running -= 1
            self._admitted -= 1
            self._recent.append(seconds)
            self._cond.notify()

    def _leave(self) -> None:
        with self._cond:
            self._admitted -= 1
            self._cond.notify()
