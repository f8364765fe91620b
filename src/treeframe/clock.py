"""The one wall clock behind every ``created_at`` (root history, frames): metadata, never hashed.

Every timestamp treeframe records has the same precision and spelling,
ISO-8601 in UTC with microseconds and a ``Z`` suffix
(``2026-12-01T15:51:31.123456Z``), so they compare as strings and no two
components disagree about the format (docs/SCHEMAS.md, "created_at").
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_now"]


def utc_now() -> str:
    """The current wall-clock time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
