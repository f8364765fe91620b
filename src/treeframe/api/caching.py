"""HTTP caching and conditional requests for content-addressed resources.

A frame record, a node record and a content blob are named by the hash of
what they hold, so the ID is a strong ETag that never changes meaning and
the answer may be cached forever (``immutable``). Views that depend on the
current state (a node's current frames, its heads) say ``no-cache`` instead:
a cache must ask again every time. ``If-Match`` / ``If-None-Match: *`` on a
frame put become the expected head of the store's compare-and-set.
"""

from __future__ import annotations

from fastapi import Response

from treeframe.errors import InvalidRequest
from treeframe.ids import FrameId, parse_hex_id
from treeframe.storage.values import ANY_HEAD, AnyHead

__all__ = [
    "IMMUTABLE",
    "NO_CACHE",
    "expected_head",
    "immutable_headers",
    "matches",
    "not_modified",
    "quoted",
]

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


def quoted(entity_id: str) -> str:
    """The strong ETag of a content-addressed resource: its ID in double quotes."""
    return f'"{entity_id}"'


def immutable_headers(entity_id: str) -> dict[str, str]:
    """``ETag`` and ``Cache-Control`` of a resource that can never change."""
    return {"ETag": quoted(entity_id), "Cache-Control": IMMUTABLE}


def _tags(header: str) -> list[str]:
    """The entity tags of an ``If-*`` header, weak ones with their ``W/`` prefix removed."""
    out = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag:
            out.append(tag)
    return out


def matches(if_none_match: str | None, entity_id: str) -> bool:
    """True when ``If-None-Match`` names the resource (``*`` or its tag; weak comparison)."""
    if if_none_match is None:
        return False
    tags = _tags(if_none_match)
    return "*" in tags or quoted(entity_id) in tags


def not_modified(entity_id: str) -> Response:
    """304: the client's copy is current (no body, the same validators as a 200)."""
    return Response(status_code=304, headers=immutable_headers(entity_id))


def expected_head(if_match: str | None, if_none_match: str | None) -> FrameId | AnyHead | None:
    """The head a conditional frame put expects.

    No condition or ``If-Match: *``: :data:`ANY_HEAD` (no check).
    ``If-Match: "<frame id>"``: that frame must be the current head.
    ``If-None-Match: *``: there must be no head yet (None). Anything else is
    ``invalid_request``: a condition the server cannot read must not be ignored.
    """
    if if_match is not None and if_none_match is not None:
        raise InvalidRequest("send If-Match or If-None-Match, not both")
    if if_none_match is not None:
        if _tags(if_none_match) != ["*"]:
            raise InvalidRequest('a frame put accepts only If-None-Match: * ("no head yet")')
        return None
    if if_match is None:
        return ANY_HEAD
    tags = _tags(if_match)
    if tags == ["*"]:
        return ANY_HEAD
    if len(tags) != 1 or len(tags[0]) < 2 or not (tags[0][0] == tags[0][-1] == '"'):
        raise InvalidRequest('If-Match takes one quoted FrameID: If-Match: "<frame id>"')
    return FrameId(parse_hex_id(tags[0][1:-1], "FrameID in If-Match"))
