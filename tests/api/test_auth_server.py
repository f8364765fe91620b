"""Tokens, ACLs and the workspace routes against a real ``treeframe serve`` subprocess.

The isolation matrix (a token never reaches, nor learns about, a workspace
its agent holds nothing in), ACL per route, expired / revoked / forged
tokens, idempotent create, delete and restore, and 1,000 workspaces listed
through paging. Everything is set up in the server's real SQLite store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server, issue_token, make_store, start_server, stop_server
from treeframe.clock import FixedClock
from treeframe.engine.access import LOCAL_OWNER, AccessService, parse_permissions
from treeframe.engine.runtime import Runtime
from treeframe.engine.workspaces import WorkspaceService
from treeframe.hashing.ids import workspace_id
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.storage.values import AclEntry, WorkspaceInfo

ALPHA, BETA, GAMMA = workspace_id("alpha"), workspace_id("beta"), workspace_id("gamma")
MISSING = workspace_id("never-created")


@dataclass
class World:
    server: Server
    alpha_admin: str  # alice, owner of alpha, scoped to alpha
    alice_all: str  # alice, every workspace she holds rights in
    alice_all_read: str  # alice, every workspace, ceiling read only
    beta_admin: str  # bob, owner of beta (and gamma), scoped to beta
    bob_all: str
    carol_alpha: str  # carol: ACL read in alpha; token ceiling: everything


def _store(server: Server) -> Any:
    return open_store(sqlite_url(server.store_path), create=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("auth")
    path = make_store(tmp / "store.db")
    alpha_admin = issue_token(path, "alpha", "alice")
    beta_admin = issue_token(path, "beta", "bob")
    issue_token(path, "gamma", "bob")
    with open_store(sqlite_url(path), create=False) as store:
        access = AccessService(WorkspaceService(store))
        access.grant(ALPHA, "carol", parse_permissions("read"), actor=LOCAL_OWNER)
        access.grant(GAMMA, "alice", parse_permissions("read"), actor=LOCAL_OWNER)
    running = start_server(tmp, path, app=None)
    try:
        yield World(
            running,
            alpha_admin,
            issue_token(path, None, "alice", scope="all"),
            issue_token(path, None, "alice", "read", scope="all"),
            beta_admin,
            issue_token(path, None, "bob", scope="all"),
            issue_token(path, "alpha", "carol"),
        )
    finally:
        stop_server(running)


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.server.url, timeout=30) as client:
        yield client


def call(
    http: httpx.Client, token: str | None, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return http.request(method, url, headers=headers, **kwargs)


def scrubbed(response: httpx.Response, ws: str) -> dict[str, Any]:
    """The body without what differs per request (request ID) or per path (the ID asked for)."""
    body: dict[str, Any] = response.json()
    body["error"].pop("request_id")
    body["error"]["message"] = body["error"]["message"].replace(ws, "<ws>")
    return body


# Every route of this slice that names a workspace: (method, path template, body).
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/workspaces/{ws}", None),
    ("DELETE", "/v1/workspaces/{ws}?confirm=beta", None),
    ("POST", "/v1/workspaces/{ws}/restore", None),
    ("GET", "/v1/workspaces/{ws}/acl", None),
    ("PUT", "/v1/workspaces/{ws}/acl/mallory", {"permissions": ["admin"]}),
    ("DELETE", "/v1/workspaces/{ws}/acl/bob", None),
    ("GET", "/v1/workspaces/{ws}/tokens", None),
    ("POST", "/v1/workspaces/{ws}/tokens", {"agent_id": "mallory", "permissions": ["admin"]}),
    ("DELETE", "/v1/workspaces/{ws}/tokens/0123456789abcdef", None),
    ("GET", "/v1/workspaces/{ws}/agents", None),
    ("PUT", "/v1/workspaces/{ws}/agents/mallory", {"role": "writer"}),
]


@pytest.mark.parametrize(
    ("method", "template", "body"), ROUTES, ids=[f"{m} {t}" for m, t, _ in ROUTES]
)
@pytest.mark.parametrize("who", ["alpha_admin", "alice_all", "carol_alpha"])
def test_no_token_reaches_or_learns_about_a_workspace_out_of_reach(
    world: World,
    http: httpx.Client,
    who: str,
    method: str,
    template: str,
    body: dict[str, Any] | None,
) -> None:
    token = getattr(world, who)
    json = {} if body is None else {"json": body}
    for ws in (BETA, GAMMA) if who != "alice_all" else (BETA,):
        hidden = call(http, token, method, template.format(ws=ws), **json)
        missing = call(http, token, method, template.format(ws=MISSING), **json)
        assert hidden.status_code == missing.status_code == 404, hidden.text
        assert scrubbed(hidden, ws) == scrubbed(missing, MISSING)
        assert hidden.json()["error"]["code"] == "workspace_not_found"
    # Nothing was changed in the workspaces out of reach.
    with _store(world.server) as store:
        assert store.get_workspace(BETA).deleted_at is None
        assert store.get_acl(BETA, "mallory") is None
        assert store.get_agent(BETA, "mallory") is None
        assert [t.agent_id for t in store.list_tokens(BETA)] == ["bob"]


def test_a_scoped_token_does_not_reach_where_its_agent_has_rights(
    world: World, http: httpx.Client
) -> None:
    # alice reads gamma through her ACL entry, but only with a token not scoped to alpha.
    assert call(http, world.alice_all, "GET", f"/v1/workspaces/{GAMMA}").status_code == 200
    scoped = call(http, world.alpha_admin, "GET", f"/v1/workspaces/{GAMMA}")
    assert scoped.status_code == 404
    assert scoped.json()["error"]["code"] == "workspace_not_found"


ADMIN_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/workspaces/{ws}/acl", None),
    ("PUT", "/v1/workspaces/{ws}/acl/mallory", {"permissions": ["admin"]}),
    ("DELETE", "/v1/workspaces/{ws}/acl/carol", None),
    ("GET", "/v1/workspaces/{ws}/tokens", None),
    ("POST", "/v1/workspaces/{ws}/tokens", {"agent_id": "mallory", "permissions": ["admin"]}),
    ("DELETE", "/v1/workspaces/{ws}/tokens/0123456789abcdef", None),
    ("PUT", "/v1/workspaces/{ws}/agents/mallory", {"role": "writer"}),
    ("DELETE", "/v1/workspaces/{ws}?confirm=alpha", None),
    ("POST", "/v1/workspaces/{ws}/restore", None),
]


@pytest.mark.parametrize(
    ("method", "template", "body"), ADMIN_ROUTES, ids=[f"{m} {t}" for m, t, _ in ADMIN_ROUTES]
)
@pytest.mark.parametrize("who", ["carol_alpha", "alice_all_read"])
def test_admin_routes_refuse_a_reader_with_403(
    world: World,
    http: httpx.Client,
    who: str,
    method: str,
    template: str,
    body: dict[str, Any] | None,
) -> None:
    token = getattr(world, who)
    json = {} if body is None else {"json": body}
    denied = call(http, token, method, template.format(ws=ALPHA), **json)
    assert denied.status_code == 403, denied.text
    assert denied.json()["error"]["code"] == "access_denied"
    with _store(world.server) as store:
        assert store.get_workspace(ALPHA).deleted_at is None
        assert store.get_acl(ALPHA, "mallory") is None
        assert store.get_acl(ALPHA, "carol") is not None
        assert store.get_agent(ALPHA, "mallory") is None


@pytest.mark.parametrize("who", ["carol_alpha", "alice_all_read", "alpha_admin"])
def test_readers_read_the_workspace_and_its_agents(
    world: World, http: httpx.Client, who: str
) -> None:
    token = getattr(world, who)
    shown = call(http, token, "GET", f"/v1/workspaces/{ALPHA}")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["workspace_id"], body["name"], body["owner"]) == (ALPHA, "alpha", "alice")
    assert body["root"] is None
    assert (body["node_count"], body["frame_count"]) == (0, 0)
    assert (body["api_version"], body["schema_version"]) == ("1", "1")
    assert call(http, token, "GET", f"/v1/workspaces/{ALPHA}/agents").status_code == 200


def test_forged_expired_and_revoked_tokens_get_401(world: World, http: httpx.Client) -> None:
    url = f"/v1/workspaces/{ALPHA}"
    valid = world.alpha_admin
    token_id = valid[4:20]
    forged = [
        valid[:-1] + ("A" if valid[-1] != "A" else "B"),  # right ID, wrong secret
        f"tft_{'0' * 16}_{valid[21:]}",  # unknown ID
        valid[:-1],  # malformed
        "not-a-token",
    ]
    bodies = []
    for token in forged:
        refused = call(http, token, "GET", url)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["code"] == "unauthorized"
        bodies.append(scrubbed(refused, ALPHA))
    assert all(body == bodies[0] for body in bodies), bodies  # never which part was wrong
    assert token_id not in str(bodies)
    for header in ({}, {"Authorization": f"Basic {valid}"}, {"Authorization": "Bearer"}):
        refused = http.get(url, headers=header)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"

    # Expired: issued by a clock in 2020 for one day.
    with _store(world.server) as store:
        past = WorkspaceService(
            store, runtime=Runtime(clock=FixedClock("2020-01-01T00:00:00.000000Z"))
        )
        expired = AccessService(past).create_token(
            actor=LOCAL_OWNER,
            agent_id="alice",
            permissions=parse_permissions("read"),
            scope=ALPHA,
            expires_in=timedelta(days=1),
        )
    refused = call(http, expired.token, "GET", url)
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]["message"]

    # Revoked over the API by the workspace's admin: refused from the next request on.
    made = call(
        http, valid, "POST", f"{url}/tokens", json={"agent_id": "alice", "permissions": ["read"]}
    )
    assert made.status_code == 201, made.text
    fresh = made.json()["token"]
    assert call(http, fresh, "GET", url).status_code == 200
    gone = call(http, valid, "DELETE", f"{url}/tokens/{made.json()['token_id']}")
    assert gone.status_code == 200
    assert gone.json()["revoked_at"] is not None
    refused = call(http, fresh, "GET", url)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]
    unknown = call(http, valid, "DELETE", f"{url}/tokens/ffffffffffffffff")
    assert unknown.status_code == 404


def test_tokens_acl_and_agents_over_the_api(world: World, http: httpx.Client) -> None:
    url = f"/v1/workspaces/{ALPHA}"
    admin = world.alpha_admin
    made = call(
        http,
        admin,
        "POST",
        f"{url}/tokens",
        json={"agent_id": "dave", "permissions": ["read", "write"], "expires_in": "30d"},
    )
    assert made.status_code == 201, made.text
    created = made.json()
    dave = created["token"]
    assert re.fullmatch(r"tft_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", dave)
    assert created["token_id"] == dave[4:20]
    assert created["workspace_id"] == ALPHA
    assert created["expires_at"] > created["created_at"]
    assert created["created_by"] == "alice"
    listed = call(http, admin, "GET", f"{url}/tokens")
    assert listed.status_code == 200
    assert dave[21:] not in listed.text  # the secret is never shown again
    assert "token" not in listed.json()["tokens"][0]
    assert created["token_id"] in [t["token_id"] for t in listed.json()["tokens"]]

    # dave holds nothing in alpha yet: his token does not even see it.
    assert call(http, dave, "GET", url).status_code == 404
    granted = call(http, admin, "PUT", f"{url}/acl/dave", json={"permissions": ["read"]})
    assert granted.status_code == 200, granted.text
    assert granted.json()["permissions"] == ["read"]
    assert granted.json()["granted_by"] == "alice"
    assert call(http, dave, "GET", url).status_code == 200
    assert call(http, dave, "GET", f"{url}/acl").status_code == 403  # read is not admin
    entries = call(http, admin, "GET", f"{url}/acl").json()["entries"]
    assert [e["agent_id"] for e in entries] == ["carol", "dave"]
    assert call(http, admin, "DELETE", f"{url}/acl/dave").status_code == 200
    assert call(http, dave, "GET", url).status_code == 404
    assert call(http, admin, "DELETE", f"{url}/acl/dave").status_code == 404

    # A registered role grants what it grants: erin, a reader, reads alpha.
    registered = call(http, admin, "PUT", f"{url}/agents/erin", json={"role": "reader"})
    assert registered.status_code == 200, registered.text
    assert registered.json()["role"] == "reader"
    erin = call(
        http, admin, "POST", f"{url}/tokens", json={"agent_id": "erin", "permissions": ["read"]}
    ).json()["token"]
    assert call(http, erin, "GET", url).status_code == 200
    agents = call(http, erin, "GET", f"{url}/agents").json()["agents"]
    assert [a["agent_id"] for a in agents] == ["erin"]

    # Bad inputs are refused with the envelope, nothing stored.
    bad = [
        ("PUT", f"{url}/acl/dave", {"permissions": ["root"]}, 422),
        ("PUT", f"{url}/acl/dave", {"permissions": []}, 422),
        ("PUT", f"{url}/acl/bad%20agent", {"permissions": ["read"]}, 400),
        (
            "POST",
            f"{url}/tokens",
            {"agent_id": "x", "permissions": ["read"], "expires_in": "3y"},
            400,
        ),
        ("POST", f"{url}/tokens", {"agent_id": "x", "permissions": ["sudo"]}, 422),
        ("PUT", f"{url}/agents/x", {"role": "god"}, 422),
    ]
    for method, path, body, status in bad:
        answer = call(http, admin, method, path, json=body)
        assert answer.status_code == status, (path, body, answer.text)
        assert "error" in answer.json()
    with _store(world.server) as store:
        assert store.get_acl(ALPHA, "dave") is None
        assert store.get_agent(ALPHA, "x") is None
        assert "x" not in [t.agent_id for t in store.list_tokens(ALPHA)]


def test_create_is_idempotent_and_needs_an_unscoped_admin_token(
    world: World, http: httpx.Client
) -> None:
    body = {"name": "made-over-http", "description": "from the API"}
    first = call(http, world.alice_all, "POST", "/v1/workspaces", json=body)
    assert first.status_code == 201, first.text
    again = call(http, world.alice_all, "POST", "/v1/workspaces", json={"name": "made-over-http"})
    assert again.status_code == 200
    assert again.json()["workspace_id"] == first.json()["workspace_id"]
    assert again.json()["workspace_id"] == workspace_id("made-over-http")
    assert first.json()["owner"] == "alice"
    assert again.json()["description"] == "from the API"  # the first create wins
    for token in (world.alpha_admin, world.alice_all_read):
        refused = call(http, token, "POST", "/v1/workspaces", json={"name": "other"})
        assert refused.status_code == 403
    taken = call(http, world.bob_all, "POST", "/v1/workspaces", json={"name": "made-over-http"})
    assert taken.status_code == 409  # the name is taken; nothing else is told
    assert first.json()["workspace_id"] not in taken.text
    assert (
        call(http, world.alice_all, "POST", "/v1/workspaces", json={"name": ""}).status_code == 422
    )
    with _store(world.server) as store:
        assert store.get_workspace(workspace_id("other")) is None


def test_delete_tombstones_and_only_an_admin_restores(world: World, http: httpx.Client) -> None:
    made = call(http, world.bob_all, "POST", "/v1/workspaces", json={"name": "to-delete"})
    ws = made.json()["workspace_id"]
    url = f"/v1/workspaces/{ws}"
    wrong = call(http, world.bob_all, "DELETE", f"{url}?confirm=nope")
    assert wrong.status_code == 400
    assert call(http, world.bob_all, "DELETE", url).status_code == 422  # confirm is required
    deleted = call(http, world.bob_all, "DELETE", f"{url}?confirm=to-delete")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted_at"] is not None
    gone = call(http, world.bob_all, "GET", url)
    assert gone.status_code == 404
    assert scrubbed(gone, ws) == scrubbed(
        call(http, world.bob_all, "GET", f"/v1/workspaces/{MISSING}"), MISSING
    )
    names = [
        w["name"] for w in call(http, world.bob_all, "GET", "/v1/workspaces").json()["workspaces"]
    ]
    assert "to-delete" not in names
    # alice holds nothing there: restore is 404 to her, as for any workspace she cannot see.
    assert call(http, world.alice_all, "POST", f"{url}/restore").status_code == 404
    with _store(world.server) as store:
        store.put_acl(workspace_id("to-delete"), _reader_entry("alice"))
    assert call(http, world.alice_all, "POST", f"{url}/restore").status_code == 404
    restored = call(http, world.bob_all, "POST", f"{url}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["deleted_at"] is None
    assert restored.json()["created_at"] == made.json()["created_at"]
    assert call(http, world.bob_all, "GET", url).status_code == 200


def _reader_entry(agent: str) -> AclEntry:
    return AclEntry(agent, ("read",), "2026-01-01T00:00:00.000000Z", None)


def test_listing_shows_only_readable_workspaces(world: World, http: httpx.Client) -> None:
    def names(token: str) -> list[str]:
        answer = call(http, token, "GET", "/v1/workspaces")
        assert answer.status_code == 200, answer.text
        return [w["name"] for w in answer.json()["workspaces"]]

    assert names(world.alpha_admin) == ["alpha"]
    assert names(world.beta_admin) == ["beta"]
    assert "beta" not in names(world.alice_all)
    assert {"alpha", "gamma"} <= set(names(world.alice_all))
    assert names(world.carol_alpha) == ["alpha"]
    assert call(http, world.alice_all, "GET", "/v1/workspaces?after=%%%").status_code == 400
    assert call(http, world.alice_all, "GET", "/v1/workspaces?limit=0").status_code == 422


def test_a_thousand_workspaces_page_through_exactly_once(world: World, http: httpx.Client) -> None:
    created = "2026-01-01T00:00:00.000000Z"
    mine = {f"bulk-{i:04d}" for i in range(1000)}
    with _store(world.server) as store, store.unit_of_work():
        for i in range(1300):
            name = f"bulk-{i:04d}" if i < 1000 else f"bulk-{i - 1000:04d}-other"
            owner = "mass" if i < 1000 else "someone-else"
            store.create_workspace(
                WorkspaceInfo(workspace_id(name), name, "", owner, created, None)
            )
            if i >= 1000:  # a candidate for "mass" (an ACL entry) that it may not read
                store.put_acl(workspace_id(name), AclEntry("mass", ("write",), created, None))
    token = issue_token(world.server.store_path, None, "mass", "read", scope="all")
    seen: list[str] = []
    sizes: list[int] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 97}
        if after is not None:
            params["after"] = after
        page = call(http, token, "GET", "/v1/workspaces", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [w["name"] for w in body["workspaces"]]
        sizes.append(len(body["workspaces"]))
        after = body["next"]
        if after is None:
            break
    assert len(seen) == len(set(seen)) == 1000
    assert set(seen) == mine
    assert seen == sorted(seen)
    assert sizes == [97] * 10 + [30]  # full pages despite the interleaved others
    nobody = issue_token(world.server.store_path, None, "nobody", "read", scope="all")
    empty = call(http, nobody, "GET", "/v1/workspaces").json()
    assert (empty["workspaces"], empty["next"]) == ([], None)


def test_the_make_token_fixture_makes_working_tokens(
    world: World, http: httpx.Client, make_token: Any
) -> None:
    scoped = make_token(world.server.store_path, "delta", "zoe", "read")
    shown = call(http, scoped, "GET", f"/v1/workspaces/{workspace_id('delta')}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["owner"] == "zoe"
    unscoped = make_token(world.server.store_path, None, "zoe", "read,admin", scope="all")
    made = call(http, unscoped, "POST", "/v1/workspaces", json={"name": "delta-2"})
    assert made.status_code == 201, made.text
    assert call(http, scoped, "GET", f"/v1/workspaces/{workspace_id('delta-2')}").status_code == 404
