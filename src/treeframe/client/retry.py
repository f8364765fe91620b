"""When a failed call is tried again, and how long the client waits first.

Only idempotent calls are retried (GET, HEAD, PUT, DELETE, and the POSTs that
are idempotent by design: a content-addressed frame put, a workspace create
by name, batch reads): sending one twice cannot do anything once would not.
They are retried on ``429`` and ``503`` (the server asks to come back later)
and on transport errors (no connection, a connection dropped mid-answer).
The wait is exponential backoff with full jitter, so clients that failed
together do not come back together; a ``Retry-After`` the server sent is a
floor under it. Attempts are bounded, and so is the longest wait: a server
asking for more than ``max_retry_after`` seconds gets its error raised at once.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["RETRY_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRY_STATUSES = frozenset({429, 503})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP-date); None if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    ``attempts`` counts every try, the first included (1 disables retries).
    The n-th retry waits a uniform random time in ``[0, min(max_delay,
    base_delay * 2**(n-1))]``, but never less than the server's
    ``Retry-After``. ``on_retry`` is told ``(attempt, delay, reason)`` before
    each wait (for logs and metrics).
    """

    attempts: int = 4
    base_delay: float = 0.1
    max_delay: float = 5.0
    max_retry_after: float = 60.0
    on_retry: Callable[[int, float, str], None] | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry number ``retry`` (1-based); None: give up now."""
        if retry >= self.attempts:
            return None
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        wait = self.rng.uniform(0, ceiling)
        return max(wait, retry_after or 0.0)

    def notify(self, retry: int, delay: float, reason: str) -> None:
        """Tell ``on_retry`` (if any) that retry ``retry`` follows in ``delay`` s."""
        if self.on_retry is not None:
            self.on_retry(retry, delay, reason)


NO_RETRY = RetryPolicy(attempts=1)
