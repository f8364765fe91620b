"""The routes of API v1 as functions returning a :class:`~treeframe.client.call.Call`.

One function per route; ``Client`` and ``AsyncClient`` turn each into a
method of the same name and signature (:mod:`treeframe.client.client`), so a
route is described once. Workspace routes take the workspace ID first.
"""

from __future__ import annotations

from treeframe.client.call import Call, model
from treeframe.wire.common import Live, Ready

__all__ = ["health_live", "health_ready"]


def health_live() -> Call[Live]:
    """``GET /v1/health/live``: the server process answers."""
    return Call("GET", "/v1/health/live", model(Live))


def health_ready() -> Call[Ready]:
    """``GET /v1/health/ready``: the server did a real store round trip (503 otherwise)."""
    return Call("GET", "/v1/health/ready", model(Ready))
