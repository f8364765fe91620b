"""In process (httpx over ASGI): every route needs a token, and ``Bound`` carries the right principal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI

from tests.api.test_app import AppClient
from treeframe.api import create_app
from treeframe.api.deps import Bound, Identity, authenticate
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.routes import ROUTERS
from treeframe.config.settings import Settings
from treeframe.engine.access import LOCAL_OWNER, AccessService, parse_permissions
from treeframe.engine.principal import Permission
from treeframe.hashing.ids import workspace_id
from treeframe.storage.sqlite import SqliteStore
from treeframe.wire.common import ApiResponse

probe = APIRouter(prefix="/v1/probe-auth", responses=ERROR_RESPONSES)


class Seen(ApiResponse):
    agent_id: str | None
    workspace: str
    permissions: list[str]


@probe.get("/{ws}")
def whoami(bound: Bound) -> Seen:
    principal = bound.principal
    return Seen(
        agent_id=principal.agent_id,
        workspace=principal.workspace,
        permissions=sorted(principal.permissions),
    )


@pytest.fixture
def app(tmp_path: Any) -> Iterator[FastAPI]:
    store = SqliteStore(tmp_path / "store.db")
    try:
        yield create_app(Settings(), store, routers=(*ROUTERS, probe))
    finally:
        store.close()


def client(app: FastAPI) -> AppClient:
    return AppClient(app)


def issue(app: FastAPI, ws: str | None, agent: str, perms: str, *, owner: str | None = None) -> str:
    access: AccessService = app.state.access
    scope = None
    if ws is not None:
        info, _ = access.create_workspace(ws, actor=LOCAL_OWNER, owner=owner or agent)
        scope = info.workspace_id
    return access.create_token(
        actor=LOCAL_OWNER, agent_id=agent, permissions=parse_permissions(perms), scope=scope
    ).token


def _concrete(path: str) -> str:
    return (
        path.replace("{ws}", workspace_id("w"))
        .replace("{token_id}", "0" * 16)
        .replace("{agent_id}", "x")
    )


def test_every_route_but_health_refuses_a_request_without_a_token(app: FastAPI) -> None:
    document = app.openapi()
    checked = 0
    with client(app) as http:
        for path, methods in document["paths"].items():
            # /v1/metrics has its own credential (tests/api/test_metrics.py).
            if path.startswith(("/v1/health/", "/v1/probe-auth", "/v1/metrics")):
                continue
            for method in methods:
                answer = http.request(method.upper(), _concrete(path), json={})
                assert answer.status_code == 401, (method, path, answer.text)
                assert answer.headers["www-authenticate"] == "Bearer"
                assert answer.json()["error"]["code"] == "unauthorized"
                checked += 1
    assert checked >= 13


def test_bound_principal_is_the_ceiling_intersected_with_what_is_held(app: FastAPI) -> None:
    owner = issue(app, "w", "alice", "read,write")
    reader = issue(app, "w", "bob", "read,write,admin", owner="alice")
    access: AccessService = app.state.access
    access.grant(workspace_id("w"), "bob", parse_permissions("read,synthesize"), actor=LOCAL_OWNER)
    with client(app) as http:
        seen = http.get(
            f"/v1/probe-auth/{workspace_id('w')}", headers={"Authorization": f"Bearer {owner}"}
        )
        assert seen.status_code == 200
        assert seen.json()["permissions"] == ["read", "write"]  # the owner, capped by the token
        assert seen.json()["agent_id"] == "alice"
        seen = http.get(
            f"/v1/probe-auth/{workspace_id('w')}", headers={"Authorization": f"bearer {reader}"}
        )
        assert seen.json()["permissions"] == [
            "read"
        ]  # ACL read+synthesize ∩ token read,write,admin
        bad = http.get(f"/v1/probe-auth/{'A' * 64}", headers={"Authorization": f"Bearer {owner}"})
        assert bad.status_code in (400, 404)


def test_overriding_authenticate_still_works_for_route_tests(app: FastAPI) -> None:
    issue(app, "w", "alice", "read")

    def fake() -> Identity:
        return Identity("alice", "0" * 16, None, frozenset({Permission.READ}))

    app.dependency_overrides[authenticate] = fake
    with client(app) as http:
        seen = http.get(f"/v1/probe-auth/{workspace_id('w')}")
        assert seen.status_code == 200, seen.text
        assert seen.json()["permissions"] == ["read"]
        listed = http.get("/v1/workspaces")
        assert [w["name"] for w in listed.json()["workspaces"]] == ["w"]
