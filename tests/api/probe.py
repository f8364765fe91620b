"""Test-only routes mounted behind the real edge: a body to validate, a stream, a deprecated route, failures.

v1 has no route with a request body yet (the resource routes need the
service-ready core), so the tests serve this factory with
``treeframe serve --app tests.api.probe:probe_app`` or in process.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field

from treeframe.api import create_app
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.routes import ROUTERS
from treeframe.api.versioning import deprecated
from treeframe.config.settings import Settings
from treeframe.errors import FrameNotFound
from treeframe.storage.base import StorageBackend
from treeframe.wire.common import ApiResponse

SUNSET = date(2027, 7, 1)
router = APIRouter(prefix="/v1/probe", responses=ERROR_RESPONSES)


class Item(BaseModel):
    name: str = Field(min_length=1)
    count: int = Field(ge=1)


class Echo(ApiResponse):
    name: str
    count: int


class Received(ApiResponse):
    bytes: int


@router.post("/echo")
async def echo(item: Item) -> Echo:
    return Echo(name=item.name, count=item.count)


@router.post("/upload")
async def upload(request: Request) -> Received:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
    request.app.state.uploaded.append(total)
    return Received(bytes=total)


@router.get("/old", **deprecated(since=date(2026, 12, 1), sunset=SUNSET, successor="/v1/probe/new"))
async def old() -> ApiResponse:
    return ApiResponse()


@router.get("/slow")
async def slow(seconds: float = 1.0) -> ApiResponse:
    logging.getLogger("tests.api.probe").warning("slow request started")  # tests wait for it
    await asyncio.sleep(min(seconds, 5.0))
    return ApiResponse()


@router.get("/boom")
async def boom() -> ApiResponse:
    raise RuntimeError("secret-internal-detail")


@router.get("/missing")
async def missing() -> ApiResponse:
    raise FrameNotFound("no frame ab12")


def probe_app(settings: Settings, store: StorageBackend, *, close_store: bool = False) -> FastAPI:
    app = create_app(settings, store, routers=(*ROUTERS, router), close_store=close_store)
    app.state.uploaded = []
    return app
