"""Identifier types shared by every layer: 64-hex IDs and their validation."""

from __future__ import annotations

import re
from typing import NewType

from treeframe.errors import InvalidId

__all__ = [
    "ContentHash",
    "Digest",
    "FrameId",
    "NodeId",
    "WorkspaceId",
    "parse_hex_id",
]

Digest = NewType("Digest", bytes)
"""A raw 32-byte BLAKE3-256 digest."""

NodeId = NewType("NodeId", str)
"""64 lowercase hex characters naming a NodeRecord."""

FrameId = NewType("FrameId", str)
"""64 lowercase hex characters naming a context frame."""

ContentHash = NewType("ContentHash", str)
"""64 lowercase hex characters naming a byte string (file or frame content)."""

WorkspaceId = NewType("WorkspaceId", str)
"""64 lowercase hex characters naming a workspace (derived from its name)."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


def parse_hex_id(value: str, what: str = "ID") -> str:
    """Return ``value`` if it is a well-formed 64-hex ID, else raise InvalidId.

    Uppercase is rejected rather than folded: IDs are compared as strings
    everywhere, and accepting two spellings would invite silent mismatches.
    """
    if not isinstance(value, str) or _HEX64.fullmatch(value) is None:
        shown = value if isinstance(value, str) and len(value) <= 80 else repr(value)[:80]
        raise InvalidId(f"malformed {what} {shown!r}: expected 64 lowercase hex characters")
    return value
