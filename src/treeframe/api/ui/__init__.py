"""The web explorer at ``/ui``: static files shipped in the package, no server-side logic.

The page is plain ES modules (no build step, no framework, nothing from a
CDN: the server may be offline) that call the public v1 routes with the
token the user types in, so it can do exactly what any third-party client
can and nothing more. The files are read once; each answer carries a strong
ETag (its content hash) with ``no-cache``, so a browser revalidates and an
upgraded server is picked up at once, and a Content-Security-Policy that
allows only the server itself (no inline script: frame content rendered by a
bug could still not run). Mounted by ``create_app`` unless ``server.ui`` is
false; kept out of the OpenAPI document (it is not part of the API).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header, Response

from treeframe.api.caching import NO_CACHE, matches, quoted
from treeframe.errors import NotFound
from treeframe.hashing.ids import content_hash

__all__ = ["CONTENT_SECURITY_POLICY", "UI_PATH", "router"]

UI_PATH = "/ui"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

# The only files served: a name outside this table is 404, never a path into the package.
_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}

router = APIRouter(prefix=UI_PATH, include_in_schema=False)


@cache
def _asset(name: str) -> tuple[bytes, str]:
    """The bytes of a packaged file and their content hash, its ETag (read once per process)."""
    data = resources.files(__package__).joinpath(name).read_bytes()
    return data, content_hash(data)


def _serve(name: str, if_none_match: str | None) -> Response:
    if name not in _TYPES:
        raise NotFound(f"no explorer file {name!r}")
    data, digest = _asset(name)
    headers = {
        "ETag": quoted(digest),
        "Cache-Control": NO_CACHE,
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if matches(if_none_match, digest):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=_TYPES[name], headers=headers)


@router.get("")
@router.get("/")
def index(if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The explorer's page (``/ui`` and ``/ui/``)."""
    return _serve("index.html", if_none_match)


@router.get("/{name}")
def asset(name: str, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """One of the page's scripts or styles."""
    return _serve(name, if_none_match)
