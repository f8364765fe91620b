"""Canonical JSON: the byte form of records on the wire, in the store and in exports.

Keys sorted by code point, no insignificant whitespace, UTF-8, integers only
(floats are rejected: their text form is not portable).
"""

from __future__ import annotations

import json
from typing import Any

from treeframe.errors import StoreCorrupt

__all__ = ["canonical_json", "load_record", "loads"]


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


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any, *, checked: bool = False) -> bytes:
    """Serialize ``value`` to canonical JSON bytes.

    ``checked=True`` skips the walk that rejects floats and non-string keys;
    only record serializers pass it, whose dicts are built from typed fields
    (the walk costs more than the encoding on a scan's hot path).
    """
    if not checked:
        _check(value)
    return _ENCODER.encode(value).encode("utf-8")


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes (canonical or not)."""
    return json.loads(data)


def load_record(data: bytes, what: str) -> dict[str, Any]:
    """Parse a stored record's JSON object; damage raises StoreCorrupt naming ``what``."""
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreCorrupt(f"malformed {what}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise StoreCorrupt(f"malformed {what}: not an object")
    return parsed
