"""Test-only app: every v1 router plus one real write route, behind a header-trusting authenticate.

v1 has no frame routes in this slice, so ``POST /v1/probe-audit/{ws}/frames``
performs a real ``put_frame`` through :data:`~treeframe.api.deps.Bound` (a
sync route: FastAPI runs it in a threadpool, which is what ``X-Audit-Head``
must survive). ``authenticate`` is overridden: the caller is the agent named
by ``X-Test-Agent`` with the permissions of ``X-Test-Perms`` (default all).
Served in process or with ``treeframe serve --app tests.api.audit_probe:audit_app``.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel

from treeframe.api import create_app
from treeframe.api.deps import Bound, Identity, authenticate
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.routes import ROUTERS
from treeframe.config.settings import Settings
from treeframe.engine.principal import Permission
from treeframe.engine.types import FrameInput
from treeframe.errors import Unauthorized
from treeframe.storage.base import StorageBackend
from treeframe.wire.common import ApiResponse

router = APIRouter(prefix="/v1/probe-audit/{ws}", responses=ERROR_RESPONSES)


class Put(BaseModel):
    path: str
    text: str


class Stored(ApiResponse):
    frame_id: str


@router.post("/frames")
def put(bound: Bound, body: Put) -> Stored:
    frame_id = bound.api.put_frame(
        body.path, FrameInput("note", body.text.encode()), principal=bound.principal
    )
    return Stored(frame_id=frame_id)


def header_identity(request: Request) -> Identity:
    agent = request.headers.get("x-test-agent")
    if not agent:
        raise Unauthorized("no X-Test-Agent")
    perms = request.headers.get("x-test-perms")
    granted = (
        frozenset(Permission)
        if perms is None
        else frozenset(Permission(p) for p in perms.split(",") if p)
    )
    return Identity(agent_id=agent, token_id="test", scope=None, permissions=granted)


def audit_app(settings: Settings, store: StorageBackend, *, close_store: bool = False) -> FastAPI:
    app = create_app(settings, store, routers=(*ROUTERS, router), close_store=close_store)
    app.dependency_overrides[authenticate] = header_identity
    return app
