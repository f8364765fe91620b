"""The one wall clock behind every ``created_at`` (root history, frames): metadata, never hashed.

Every timestamp treeframe records has the same precision and spelling,
ISO-8601 in UTC with microseconds and a ``Z`` suffix
(``2026-12-01T15:51:31.123456Z``), so they compare as strings and no two
components disagree about the format (docs/SCHEMAS.md, "created_at").

Code that records a time takes a :class:`Clock` instead of calling the
system clock itself, so a server can share one and a test can pin the time:
:class:`SystemClock` reads the wall clock (:func:`utc_now`), :class:`FixedClock`
returns a given instant and steps it by a fixed amount on every call.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "FixedClock", "SystemClock", "format_instant", "utc_now"]


@runtime_checkable
class Clock(Protocol):
    """Where ``created_at`` values come from."""

    def now(self) -> str:
        """The current time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds)."""


def format_instant(instant: datetime) -> str:
    """``instant`` (timezone-aware) in the one ``created_at`` spelling."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def utc_now() -> str:
    """The current wall-clock time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds)."""
    return format_instant(datetime.now(UTC))


class SystemClock:
    """The wall clock (:func:`utc_now`); stateless, so one instance serves every caller."""

    def now(self) -> str:
        """The current wall-clock time."""
        return utc_now()


SYSTEM_CLOCK = SystemClock()
"""The default clock where none is injected (immutable: it holds no state)."""


class FixedClock:
    """A test clock: ``start``, then ``start + step``, ``start + 2 * step``, ...

    With the default ``step`` of zero every call returns ``start``. Thread-safe,
    so concurrent writers in a test each get a distinct instant when ``step`` is set.
    """

    def __init__(self, start: datetime | str, step: timedelta = timedelta(0)) -> None:
        if isinstance(start, str):
            start = datetime.strptime(start, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start")
        self._next = start
        self._step = step
        self._lock = threading.Lock()

    def now(self) -> str:
        """The current instant; then advance by ``step``."""
        with self._lock:
            current = self._next
            self._next = current + self._step
        return format_instant(current)
