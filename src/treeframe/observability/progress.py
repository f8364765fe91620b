"""Progress of a long operation as one callback: ``progress(phase, done, total)``.

Scan, push, export, import, migrate, regenerate and verify all report through
this one shape, so a single consumer serves every operation: the CLI's rich
bars (one bar per phase, :func:`treeframe.cli.output.progress_bars`) and
the API's job status (a :class:`ProgressTracker` a job reads from another
thread). ``phase`` names what is being counted (``files``, ``bytes``,
``nodes``, ``frames``, …; docs/CLI.md "Progress" lists each operation's
phases), ``done`` only grows within a phase, and ``total`` is ``None`` while
it is not known. A phase that counts bytes is named ``bytes`` or ends in
``_bytes`` (:func:`is_bytes_phase`), so a renderer can show sizes. Callbacks
run on the operation's thread and must be cheap; operations wrap them in
:func:`throttled`, which passes a call on at most every
:data:`INTERVAL` seconds, and always passes the last one of a phase
(``done == total``): every operation ends each phase with such a call, the
total then being the final count when it was not known before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "INTERVAL",
    "PhaseProgress",
    "ProgressFn",
    "ProgressTracker",
    "is_bytes_phase",
    "no_progress",
    "throttled",
]

ProgressFn = Callable[[str, int, int | None], None]
"""``progress(phase, done, total)``: ``total`` is None while unknown."""


INTERVAL = 0.1
"""Seconds between two calls :func:`throttled` passes on (the end of a phase always passes)."""


def no_progress(_phase: str, _done: int, _total: int | None) -> None:
    """The callback of an operation nobody watches."""


def is_bytes_phase(phase: str) -> bool:
    """Whether ``phase`` counts bytes (named ``bytes`` or ``*_bytes``), to be shown as a size."""
    return phase == "bytes" or phase.endswith("_bytes")


class _Throttle:
    """Passes a call on when a phase ends or :data:`INTERVAL` has passed since the last one."""

    __slots__ = ("_next", "_progress")

    def __init__(self, progress: ProgressFn) -> None:
        self._progress = progress
        self._next = 0.0  # the first call passes

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if total is not None and done >= total:
            self._progress(phase, done, total)
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + INTERVAL
            self._progress(phase, done, total)


def throttled(progress: ProgressFn | None) -> ProgressFn | None:
    """``progress`` called at most every :data:`INTERVAL` s, plus each phase's end; None stays None.

    Operations call the result per item, so its cost is what matters: one
    clock read per call (well under a microsecond). None stays None so that
    an operation nobody watches skips even that.
    """
    return None if progress is None else _Throttle(progress)


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
