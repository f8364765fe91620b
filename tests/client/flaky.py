"""A server that fails on purpose: ``treeframe serve --app tests.client.flaky:flaky_app``.

``/v1/flaky/{key}?fail=N&status=S`` answers ``S`` (503 by default, with the
error envelope and ``Retry-After: 0``) to the first ``N`` requests for ``key``
and 200 after that; ``/v1/flaky/{key}/hits`` counts the requests ``key`` got.
Keys keep tests that share one server apart.
"""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import Field

from treeframe.api import create_app
from treeframe.api.errors import error_response
from treeframe.api.routes import ROUTERS
from treeframe.config.settings import Settings
from treeframe.errors import StoreLocked
from treeframe.storage.base import StorageBackend
from treeframe.wire.common import ApiResponse

router = APIRouter(prefix="/v1/flaky")


class Hits(ApiResponse):
    key: str
    hits: int
    request_ids: list[str] = Field(default_factory=list)


def _hits(request: Request) -> Counter[str]:
    counter: Counter[str] = request.app.state.flaky_hits
    return counter


async def _answer(request: Request, key: str, fail: int, status: int) -> Response:
    hits = _hits(request)
    hits[key] += 1
    request.app.state.flaky_ids.setdefault(key, []).append(request.headers.get("x-request-id", ""))
    if hits[key] <= fail:
        error = StoreLocked("busy, come back later")
        error.http_status = status
        code, body = error_response(error, "flaky")
        return Response(
            body, status_code=code, media_type="application/json", headers={"Retry-After": "0"}
        )
    return Response(Hits(key=key, hits=hits[key]).model_dump_json(), media_type="application/json")


@router.get("/{key}")
async def flaky_get(request: Request, key: str, fail: int = 0, status: int = 503) -> Response:
    return await _answer(request, key, fail, status)


@router.post("/{key}")
async def flaky_post(request: Request, key: str, fail: int = 0, status: int = 503) -> Response:
    return await _answer(request, key, fail, status)


class Peer(ApiResponse):
    port: int


@router.get("/peer/port")
async def peer(request: Request) -> Peer:
    return Peer(port=request.client.port if request.client else 0)


@router.get("/{key}/hits")
async def hits(request: Request, key: str) -> Hits:
    ids = request.app.state.flaky_ids.get(key, [])
    return Hits(key=key, hits=_hits(request)[key], request_ids=ids)


def flaky_app(settings: Settings, store: StorageBackend, *, close_store: bool = False) -> FastAPI:
    app = create_app(settings, store, routers=(*ROUTERS, router), close_store=close_store)
    app.state.flaky_hits = Counter()
    app.state.flaky_ids = {}
    return app
