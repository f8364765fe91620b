"""The app ``bench_api.py`` serves: the real API v1 plus a bare FastAPI app in the same process.

``treeframe serve --app bench_api_app:bench_app`` (with ``benchmarks/`` on
``PYTHONPATH``). Requests under ``/bare/`` go to a plain FastAPI app with no
treeframe middleware, no authentication and no store access: ``GET
/bare/node`` returns the JSON of the real 100-frame GetNode answer for
``hot.txt`` (computed once at start-up, serialized by FastAPI on every
request) and ``POST /bare/frames`` validates a PutFrame body with the same
pydantic model and answers a PutFrame-shaped result. Everything else goes to
the real app. The difference between the two is what treeframe adds.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from treeframe.api import create_app
from treeframe.api.convert import node_view
from treeframe.config.settings import Settings
from treeframe.engine.principal import Principal
from treeframe.engine.workspaces import WorkspaceService
from treeframe.frames.views import ViewPolicy
from treeframe.storage.base import StorageBackend
from treeframe.wire.frames import PutFrameRequest

WORKSPACE = "bench"
HOT = "hot.txt"


def _bare(store: StorageBackend, settings: Settings) -> FastAPI:
    service = WorkspaceService(store, settings)
    info = service.find(WORKSPACE)
    api = service.open(info.workspace_id)
    policy = ViewPolicy(max_frames=100)
    context = api.get_node(HOT, policy, principal=Principal.owner(info.workspace_id))
    node_payload = node_view(context, policy).model_dump(mode="json", by_alias=True)
    frame = node_payload["frames"][0]
    record = {
        k: v
        for k, v in frame.items()
        if k
        not in (
            "content",
            "content_b64",
            "stale",
            "previous",
            "incomplete",
            "missing",
            "stale_inputs",
        )
    }
    bare = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @bare.get("/bare/node")
    def node() -> dict[str, Any]:
        return node_payload

    @bare.post("/bare/frames", status_code=201)
    def put(body: PutFrameRequest) -> dict[str, Any]:
        return {
            "api_version": "1",
            "schema_version": "1",
            "frame_id": record["frame_id"],
            "node_id": body.node_id if len(body.node_id) == 64 else record["node_id"],
            "created": True,
            "created_at": record["created_at"],
            "frame": record,
        }

    return bare


def bench_app(settings: Settings, store: StorageBackend, *, close_store: bool = False) -> Any:
    """The real app, with ``/bare/`` routed to the bare FastAPI app (an ASGI dispatcher)."""
    real = create_app(settings, store, close_store=close_store)
    bare = _bare(store, settings)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/bare/"):
            await bare(scope, receive, send)
        else:
            await real(scope, receive, send)

    return app
