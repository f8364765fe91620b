"""Progress of a long operation as one callback: ``progress(phase, done, total)``.

Scan, push, export, import, migrate, regenerate and verify all report through
this one shape, so a single consumer serves every operation: the CLI's rich
bars (one bar per phase, :func:`treeframe.cli.output.counted_progress`) and
the API's job status (a :class:`ProgressTracker` a job reads from another
thread). ``phase`` names what is being counted (``files``, ``bytes``,
``nodes``, ``frames``, …; each operation documents its phases), ``done`` only
grows within a phase, and ``total`` is ``None`` while it is not known.
Callbacks run on the operation's thread and must be cheap; an operation calls
them at most every few thousand items or when a phase ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PhaseProgress", "ProgressFn", "ProgressTracker", "no_progress"]

ProgressFn = Callable[[str, int, int | None], None]
"""``progress(phase, done, total)``: ``total`` is None while unknown."""


def no_progress(_phase: str, _done: int, _total: int | None) -> None:
    """The callback of an operation nobody watches."""


@dataclass(frozen=True, slots=True)
class PhaseProgress:
    """Where one phase stands: items done, the total when known, when it last moved."""

    phase: str
    done: int
    total: int | None
    updated: float


class ProgressTracker:
    """A :data:`ProgressFn` that remembers the latest count of every phase, safe to read from any thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._phases: dict[str, PhaseProgress] = {}
        self._clock = clock

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        """Record the phase's latest count (the :data:`ProgressFn` shape)."""
        with self._lock:
            self._phases[phase] = PhaseProgress(phase, done, total, self._clock())

    def phases(self) -> list[PhaseProgress]:
        """Every phase reported so far, in the order each was first reported."""
        with self._lock:
            return list(self._phases.values())
