"""Canonical JSON: the byte form of records on the wire, in the store and in exports.

Keys sorted by code point, no insignificant whitespace, UTF-8, integers only
(floats are rejected: their text form is not portable).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json", "loads"]


def _check(value: Any) -> None:
    if isinstance(value, float):
        raise ValueError("floats are not allowed in canonical JSON")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("canonical JSON object keys must be strings")
            _check(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check(item)


def canonical_json(value: Any) -> bytes:
    """Serialize ``value`` to canonical JSON bytes."""
    _check(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes (canonical or not)."""
    return json.loads(data)
