"""A warning said at most once a period: a dependency that stays down must not flood the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["ThrottledWarning"]


class ThrottledWarning:
    """``warn(message, *args)`` logs to ``logger`` unless it already did in the last ``every`` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        every: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._every = every
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()

    def __call__(self, message: str, *args: object) -> None:
        """Log ``message % args`` as a warning, unless one was logged less than a period ago."""
        now = self._clock()
        with self._lock:
            if self._last is not None and now - self._last < self._every:
                return
            self._last = now
        self._logger.warning(message, *args)
