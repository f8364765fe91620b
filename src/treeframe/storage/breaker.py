"""A circuit breaker for a dependency that is out of reach: fail fast, probe, recover.

Every call to a store (or blob store) that is down costs its full timeout —
a PostgreSQL pool waits ``pool_timeout`` for a connection that never comes —
so a server whose store vanished would tie up its threads on requests that
cannot succeed. The breaker counts consecutive
:class:`~treeframe.errors.BackendUnavailable` failures; after ``failures`` of
them it *opens*: calls fail at once with ``backend_unavailable`` naming the
breaker, without touching the dependency. After ``reset_seconds`` it is
*half-open*: one call at a time goes through as a probe (a readiness check,
or any request); its success closes the breaker, its failure opens it again
for another ``reset_seconds``. Other errors (a locked store, a missing
record, a bad request) are the dependency answering, and count as success.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from treeframe.errors import BackendUnavailable

__all__ = ["CircuitBreaker", "CircuitState"]

CircuitState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """The state machine; thread-safe. ``on_open`` is told each time it opens."""

    def __init__(
        self,
        name: str,
        failures: int,
        reset_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_open: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._on_open = on_open
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        """``closed``, ``open`` or ``half_open`` (open, and the reset time has passed)."""
        with self._lock:
            return self._state()

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return "open"

    def before(self) -> bool:
        """Admit a call (True: it is the half-open probe) or raise ``backend_unavailable`` at once."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return False
            if state == "half_open" and not self._probing:
                self._probing = True
                return True
            assert self._opened_at is not None
            left = max(0.0, self.reset_seconds - (self._clock() - self._opened_at))
        raise BackendUnavailable(
            f"{self.name} is out of reach: its circuit breaker opened after {self.failures} "
            f"failures in a row; the next probe in {left:.1f} s"
        )

    def succeeded(self, probe: bool) -> None:
        """The call got an answer from the dependency."""
        with self._lock:
            self._consecutive = 0
            if probe or self._opened_at is not None:
                self._opened_at = None
                self._probing = False

    def failed(self, probe: bool) -> None:
        """The call found the dependency out of reach."""
        opened = False
        with self._lock:
            self._consecutive += 1
            if probe:
                self._probing = False
                self._opened_at = self._clock()
            elif self._opened_at is None and self._consecutive >= self.failures:
                self._opened_at = self._clock()
                opened = True
        if opened and self._on_open is not None:
            self._on_open(self.name)

    def released(self, probe: bool) -> None:
        """The call ended without a verdict (an unexpected error): free the probe slot."""
        if probe:
            with self._lock:
                self._probing = False
