"""The isolation matrix: tokens x workspaces x every workspace route, against one real server.

One ``treeframe serve`` subprocess (the real app, real bearer tokens made in
its SQLite store before it starts) serves two workspaces, A (owner alice) and
B (owner bob), each with its own scanned tree and a frame. The routes are
enumerated from the served ``/v1/openapi.json``, so a new workspace route is
in the matrix the day it is served; its path parameters are filled with real
IDs of the workspace asked about (a node, a frame, an agent with an ACL
entry, a token) and its body is one that succeeds for an authorized caller.

In B, every token this test holds (none of them valid for B) gets the very
answer a workspace that does not exist gets (404 ``workspace_not_found``, the
same bytes once the request ID and the workspace ID are blanked, the same
headers), or 401 for the invalid ones; and B's rows in the store are the same
before and after; the same holds with B tombstoned. In A, each token gets
exactly what its permissions allow, every accepted write carries the new
``X-Audit-Head`` and the chain verifies (API and ``treeframe audit verify``)
at the end. B's IDs (node, frame, root, token, agent) named inside A are
answered as made-up ones are, and listing or creating workspaces tells
nothing about B either.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import REPO, Server, issue_token, make_store, start_server, stop_server
from tests.api.routes_env import write_tree
from treeframe.clock import FixedClock
from treeframe.engine.access import LOCAL_OWNER, AccessService, parse_permissions, split_token
from treeframe.engine.runtime import Runtime
from treeframe.engine.workspaces import WorkspaceService
from treeframe.hashing.ids import workspace_id
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.tree.scan import scan_tree

A_NAME, B_NAME = "matrix-a", "matrix-b"
A, B, MISSING = workspace_id(A_NAME), workspace_id(B_NAME), workspace_id("matrix-never")

TREES = {
    A_NAME: {"README.md": "# A\n", "src/app.py": "print('a')\n", "src/lib/util.py": "A = 1\n"},
    B_NAME: {"README.md": "# B\n", "src/app.py": "print('b')\n", "docs/guide.md": "# B guide\n"},
}

CLI = (sys.executable, "-m", "treeframe")
READ, WRITE, SYNTH, ADMIN = "read", "write", "synthesize", "admin"


@dataclass(frozen=True)
class Target:
    """Real IDs of one workspace, to fill a route's path, query and body with."""

    ws: str
    name: str
    root: str
    node_id: str  # README.md
    frame_id: str  # a frame on README.md
    acl_agent: str  # an agent with an ACL entry here
    token_id: str  # a live token scoped here (not one the test calls with)
    root_record: dict[str, Any]  # the root's node/1 record, as a push sends it


@dataclass(frozen=True)
class Route:
    """What a route needs, whether a 2xx is an audited write, and a body that succeeds."""

    needs: frozenset[str]
    audited: bool = False
    body: Callable[[Target], Any] | None = None
    query: Callable[[Target], dict[str, str]] = field(default=lambda t: {})


def _put(t: Target) -> dict[str, Any]:
    return {"node_id": t.node_id, "frame": {"frame_type": "matrix", "content": "checked"}}


def _r(*needs: str, **kwargs: Any) -> Route:
    return Route(frozenset(needs), **kwargs)


# Every workspace route of API v1, keyed as the OpenAPI document spells it.
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/v1/workspaces/{ws}"): _r(READ),
    ("DELETE", "/v1/workspaces/{ws}"): _r(ADMIN, audited=True, query=lambda t: {"confirm": t.name}),
    ("POST", "/v1/workspaces/{ws}/restore"): _r(ADMIN, audited=True),
    ("GET", "/v1/workspaces/{ws}/acl"): _r(ADMIN),
    ("PUT", "/v1/workspaces/{ws}/acl/{agent_id}"): _r(
        ADMIN, audited=True, body=lambda t: {"permissions": ["read"]}
    ),
    ("DELETE", "/v1/workspaces/{ws}/acl/{agent_id}"): _r(ADMIN, audited=True),
    ("GET", "/v1/workspaces/{ws}/agents"): _r(READ),
    ("PUT", "/v1/workspaces/{ws}/agents/{agent_id}"): _r(
        ADMIN, audited=True, body=lambda t: {"role": "reader"}
    ),
    ("GET", "/v1/workspaces/{ws}/audit"): _r(ADMIN),
    ("GET", "/v1/workspaces/{ws}/audit/verify"): _r(ADMIN),
    ("POST", "/v1/workspaces/{ws}/compose"): _r(READ, body=lambda t: {"node": t.node_id}),
    ("GET", "/v1/workspaces/{ws}/diff"): _r(READ, query=lambda t: {"from": t.root, "to": "HEAD"}),
    ("GET", "/v1/workspaces/{ws}/export"): _r(READ, query=lambda t: {"root_hash": t.root}),
    ("POST", "/v1/workspaces/{ws}/frames"): _r(WRITE, audited=True, body=_put),
    ("POST", "/v1/workspaces/{ws}/frames/batch"): _r(
        WRITE, audited=True, body=lambda t: {"frames": [_put(t)]}
    ),
    ("GET", "/v1/workspaces/{ws}/frames/{frame_id}"): _r(READ),
    ("GET", "/v1/workspaces/{ws}/frames/{frame_id}/content"): _r(READ),
    ("GET", "/v1/workspaces/{ws}/frames/{frame_id}/explain"): _r(READ),
    ("POST", "/v1/workspaces/{ws}/nodes/batch"): _r(READ, body=lambda t: {"node_ids": [t.node_id]}),
    ("GET", "/v1/workspaces/{ws}/nodes/by-path"): _r(READ, query=lambda t: {"path": "README.md"}),
    ("GET", "/v1/workspaces/{ws}/nodes/{node_id}"): _r(READ),
    ("GET", "/v1/workspaces/{ws}/nodes/{node_id}/children"): _r(READ),
    ("GET", "/v1/workspaces/{ws}/nodes/{node_id}/heads"): _r(READ),
    ("GET", "/v1/workspaces/{ws}/nodes/{node_id}/proof/{frame_id}"): _r(READ),
    ("GET", "/v1/workspaces/{ws}/nodes/{node_id}/record"): _r(READ),
    ("POST", "/v1/workspaces/{ws}/push/negotiate"): _r(WRITE, body=lambda t: {"root": t.root}),
    # Each records batch is audited as tree.push too (docs/API.md, Audit).
    ("POST", "/v1/workspaces/{ws}/push/records"): _r(
        WRITE, audited=True, body=lambda t: {"records": [t.root_record]}
    ),
    ("POST", "/v1/workspaces/{ws}/push/commit"): _r(
        WRITE, audited=True, body=lambda t: {"root": t.root, "expected_root": t.root}
    ),
    # The server has no tree: without contents the file is reported failed, nothing is written.
    ("POST", "/v1/workspaces/{ws}/generate"): _r(
        WRITE, audited=True, body=lambda t: {"node": "README.md"}
    ),
    ("POST", "/v1/workspaces/{ws}/regenerate"): _r(
        SYNTH, audited=True, body=lambda t: {"node": "", "recursive": True}
    ),
    ("GET", "/v1/workspaces/{ws}/roots"): _r(READ),
    ("GET", "/v1/workspaces/{ws}/stale"): _r(READ),
    ("POST", "/v1/workspaces/{ws}/synthesize"): _r(
        WRITE, SYNTH, audited=True, body=lambda t: {"node": "", "frame_type": "matrix"}
    ),
    ("GET", "/v1/workspaces/{ws}/tokens"): _r(ADMIN),
    ("POST", "/v1/workspaces/{ws}/verify"): _r(READ, body=lambda t: {"max_duration_ms": 10000}),
    ("POST", "/v1/workspaces/{ws}/tokens"): _r(
        ADMIN, audited=True, body=lambda t: {"agent_id": "reader", "permissions": ["read"]}
    ),
    ("DELETE", "/v1/workspaces/{ws}/tokens/{token_id}"): _r(ADMIN, audited=True),
}

# Tombstoning the workspace ends every other route's answers: run it last, then restore.
LAST = [("DELETE", "/v1/workspaces/{ws}"), ("POST", "/v1/workspaces/{ws}/restore")]

HOLDS = {  # what each valid token's principal holds in A
    "a_admin": {READ, WRITE, SYNTH, ADMIN},
    "a_reader": {READ},
    "all_carol": {READ, WRITE},  # ACL entry in A only; ceiling: everything
}
INVALID = ["revoked", "expired", "none", "garbage", "forged"]


@dataclass
class World:
    server: Server
    tokens: dict[str, str | None]
    targets: dict[str, Target]  # by workspace ID, MISSING included (with B's IDs)
    routes: list[tuple[str, str]]  # from the served OpenAPI document, in run order
    b_owner: str  # bob's own token for B: setup only, never in the matrix


def _scan(store_path: Path, tmp: Path, name: str) -> None:
    root = tmp / f"tree-{name}"
    write_tree(root, TREES[name])
    with open_store(sqlite_url(store_path), create=False) as store:
        scan_tree(root, store, workspace_id(name), workers=1)


def _token_id(token: str) -> str:
    parts = split_token(token)
    assert parts is not None
    return parts[0]


def _target(
    http: httpx.Client, token: str, ws: str, name: str, acl_agent: str, spare: str
) -> Target:
    """Look up the workspace's IDs through the API and put the frame the routes refer to."""
    headers = {"Authorization": f"Bearer {token}"}
    node = http.get(
        f"/v1/workspaces/{ws}/nodes/by-path", params={"path": "README.md"}, headers=headers
    )
    assert node.status_code == 200, node.text
    body = {"node_id": "README.md", "frame": {"frame_type": "note", "content": f"note of {name}"}}
    put = http.post(f"/v1/workspaces/{ws}/frames", json=body, headers=headers)
    assert put.status_code == 201, put.text
    root = http.get(f"/v1/workspaces/{ws}", headers=headers).json()["root"]
    record = http.get(f"/v1/workspaces/{ws}/nodes/{root}/record", headers=headers)
    assert record.status_code == 200, record.text
    record_json = {
        k: v
        for k, v in record.json().items()
        if k not in ("api_version", "schema_version") and v is not None
    }
    return Target(
        ws,
        name,
        root,
        node.json()["node_id"],
        put.json()["frame_id"],
        acl_agent,
        spare,
        record_json,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    path = make_store(tmp / "store.db")
    tokens: dict[str, str | None] = {
        "a_admin": issue_token(path, A_NAME, "alice"),
        "a_reader": issue_token(path, A_NAME, "rita", READ),
        "all_carol": issue_token(path, None, "carol", scope="all"),
    }
    a_setup = issue_token(path, A_NAME, "alice")
    a_spare = _token_id(issue_token(path, A_NAME, "alice", READ))
    b_setup = issue_token(path, B_NAME, "bob")  # bob's own: setup only, never in the matrix
    b_spare = _token_id(issue_token(path, B_NAME, "bob", READ))
    revoked = issue_token(path, B_NAME, "bob")  # B's owner, every permission: but revoked
    with open_store(sqlite_url(path), create=False) as store:
        access = AccessService(WorkspaceService(store))
        access.grant(A, "rita", parse_permissions(READ), actor=LOCAL_OWNER)
        access.grant(A, "carol", parse_permissions("read,write"), actor=LOCAL_OWNER)
        access.grant(A, "dave", parse_permissions(READ), actor=LOCAL_OWNER)
        access.grant(B, "dave", parse_permissions(READ), actor=LOCAL_OWNER)
        # The scoped tokens' agents hold rights in B too: only the scope keeps them out.
        access.grant(
            B, "alice", parse_permissions("read,write,synthesize,admin"), actor=LOCAL_OWNER
        )
        access.grant(B, "rita", parse_permissions(READ), actor=LOCAL_OWNER)
        access.grant(B, "zara", parse_permissions(READ), actor=LOCAL_OWNER)  # in B only
        access.revoke_token(_token_id(revoked), actor=LOCAL_OWNER)
        past = WorkspaceService(
            store, runtime=Runtime(clock=FixedClock("2020-01-01T00:00:00.000000Z"))
        )
        expired = AccessService(past).create_token(
            actor=LOCAL_OWNER,
            agent_id="bob",
            permissions=parse_permissions("read,write,synthesize,admin"),
            scope=B,
            expires_in=timedelta(days=1),
        )
    tokens["revoked"] = revoked
    tokens["expired"] = expired.token
    tokens["none"] = None
    tokens["garbage"] = "garbage"
    admin = tokens["a_admin"]
    assert admin is not None
    tokens["forged"] = admin[:-4] + ("AAAA" if not admin.endswith("AAAA") else "BBBB")
    for name in (A_NAME, B_NAME):
        _scan(path, tmp, name)

    running = start_server(tmp, path, app=None)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            a = _target(http, a_setup, A, A_NAME, "dave", a_spare)
            b = _target(http, b_setup, B, B_NAME, "dave", b_spare)
            document = http.get("/v1/openapi.json").json()
        served = [
            (method.upper(), template)
            for template, operations in document["paths"].items()
            if template.startswith("/v1/workspaces/{ws}")
            for method in operations
        ]
        routes = [r for r in served if r not in LAST] + [r for r in LAST if r in served]
        targets = {A: a, B: b, MISSING: replace(b, ws=MISSING)}
        yield World(running, tokens, targets, routes, b_setup)
    finally:
        stop_server(running)


def _url(template: str, target: Target) -> str:
    """The template with real IDs of ``target``; an unknown parameter fails loudly."""
    values = {
        "ws": target.ws,
        "node_id": target.node_id,
        "frame_id": target.frame_id,
        "agent_id": target.acl_agent,
        "token_id": target.token_id,
    }
    return template.format(**values)


def _call(
    world: World, http: httpx.Client, who: str, route: tuple[str, str], ws: str | Target
) -> httpx.Response:
    method, template = route
    target = ws if isinstance(ws, Target) else world.targets[ws]
    spec = ROUTES.get(route, _r(ADMIN))  # an unclassified route still gets the B checks
    token = world.tokens[who]
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = spec.body(target) if spec.body is not None else None
    kwargs: dict[str, Any] = {"params": spec.query(target), "headers": headers}
    if body is not None:
        kwargs["json"] = body
    elif method in ("POST", "PUT"):
        kwargs["json"] = {}
    return http.request(method, _url(template, target), **kwargs)


def _blanked(response: httpx.Response, ws: str) -> tuple[bytes, dict[str, str]]:
    """The body bytes with the request ID and the workspace ID blanked, and the other headers."""
    request_id = response.headers["x-request-id"]
    raw = response.content.replace(request_id.encode(), b"<request-id>").replace(
        ws.encode(), b"<ws>"
    )
    headers = {
        k: v.replace(ws, "<ws>")
        for k, v in response.headers.items()
        if k not in ("x-request-id", "date")
    }
    return raw, headers


def _rows_of_b(store_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the store that belongs to B, table by table, read from the SQLite file."""
    db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    try:
        (internal,) = db.execute(
            "SELECT id FROM workspaces WHERE wsid = ?", (bytes.fromhex(B),)
        ).fetchone()
        rows: dict[str, list[tuple[Any, ...]]] = {
            "workspaces": db.execute(
                "SELECT * FROM workspaces WHERE id = ?", (internal,)
            ).fetchall(),
            "tokens": db.execute(
                "SELECT * FROM tokens WHERE scope = ? ORDER BY token_id", (bytes.fromhex(B),)
            ).fetchall(),
        }
        tables = [
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            columns = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
            if "ws" in columns:
                rows[table] = db.execute(
                    f"SELECT * FROM {table} WHERE ws = ? ORDER BY {', '.join(columns)}", (internal,)
                ).fetchall()
    finally:
        db.close()
    return rows


def test_the_matrix_covers_every_served_workspace_route(world: World) -> None:
    # A route served but not classified here would get the B checks only: classify it.
    assert sorted(world.routes) == sorted(ROUTES), set(world.routes) ^ set(ROUTES)
    assert len(world.routes) >= 30


def test_no_token_reaches_or_learns_about_b(world: World) -> None:
    before = _rows_of_b(world.server.store_path)
    for table in ("nodes", "paths", "frames", "heads", "acl", "tokens", "audit_log"):
        assert before[table], table  # B has something to lose in each
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        for who in world.tokens:
            for route in world.routes:
                hidden = _call(world, http, who, route, B)
                missing = _call(world, http, who, route, MISSING)
                where = f"{who} {route}: {hidden.text}"
                expected = 401 if who in INVALID else 404
                assert hidden.status_code == missing.status_code == expected, where
                code = "unauthorized" if who in INVALID else "workspace_not_found"
                assert hidden.json()["error"]["code"] == code, where
                assert _blanked(hidden, B) == _blanked(missing, MISSING), where
                assert "x-audit-head" not in hidden.headers, where
    assert _rows_of_b(world.server.store_path) == before


def test_invalid_tokens_get_the_same_401_in_a_b_and_nowhere(world: World) -> None:
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        for route in world.routes:
            for who in INVALID:
                refused = _call(world, http, who, route, A)
                where = f"{who} {route}: {refused.text}"
                assert refused.status_code == 401, where
                assert refused.headers["www-authenticate"] == "Bearer", where
                assert refused.json()["error"]["code"] == "unauthorized", where
                missing = _call(world, http, who, route, MISSING)
                assert _blanked(refused, A) == _blanked(missing, MISSING), where
            # A forger learns not even which part was wrong (right token ID, wrong secret).
            garbage = _call(world, http, "garbage", route, A)
            forged = _call(world, http, "forged", route, A)
            assert _blanked(garbage, A) == _blanked(forged, A), route
            assert b"invalid bearer token" in forged.content


def test_each_token_gets_exactly_its_permissions_in_a(world: World) -> None:
    heads: list[str] = []
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        for who in ("a_reader", "all_carol", "a_admin"):  # the admin last: it tombstones A
            for route in world.routes:
                answer = _call(world, http, who, route, A)
                where = f"{who} {route}: {answer.status_code} {answer.text}"
                spec = ROUTES[route]
                if spec.needs <= HOLDS[who]:
                    assert 200 <= answer.status_code < 300, where
                    if spec.audited:
                        assert "x-audit-head" in answer.headers, where
                        heads.append(answer.headers["x-audit-head"])
                    else:  # a read (a push's negotiate and records too) appends nothing
                        assert "x-audit-head" not in answer.headers, where
                else:
                    assert answer.status_code == 403, where
                    assert answer.json()["error"]["code"] == "access_denied", where
        admin = {"Authorization": f"Bearer {world.tokens['a_admin']}"}
        assert http.get(f"/v1/workspaces/{A}", headers=admin).json()["deleted_at"] is None
        verified = http.get(
            f"/v1/workspaces/{A}/audit/verify", params={"head": heads[-1]}, headers=admin
        )
        assert verified.status_code == 200, verified.text
        assert verified.json()["ok"] is True, verified.text
        assert verified.json()["problem"] is None
    seqs = [int(head.split(":")[0]) for head in heads]
    assert seqs == sorted(set(seqs))  # each write moved the head
    # The local commands look for a project (a ``.treeframe/`` directory) even with --store.
    project = world.server.store_path.parent / "cli"
    (project / ".treeframe").mkdir(parents=True, exist_ok=True)
    store = sqlite_url(world.server.store_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    env["PYTHONPATH"] = str(REPO)
    for name in (A_NAME, B_NAME):
        result = subprocess.run(
            [*CLI, "audit", "verify", "--json", "--store", store, "--workspace", name],
            capture_output=True,
            cwd=project,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["ok"] is True


def test_ids_of_b_are_unknown_inside_a(world: World) -> None:
    # A's admin naming B's node, frame, root, token or ACL'd agent in A's routes gets what
    # made-up IDs get: B's IDs mean nothing in A, and nothing in B moves.
    a, b = world.targets[A], world.targets[B]
    with_b = replace(b, ws=A, name=A_NAME, acl_agent="zara", root_record=a.root_record)
    made_up = replace(
        with_b,
        root="1" * 64,
        node_id="2" * 64,
        frame_id="3" * 64,
        acl_agent="yuri",  # as long as "zara": bodies keep their length
        token_id="0123456789abcdef",
    )
    swaps = [(getattr(with_b, f), getattr(made_up, f)) for f in ("root", "node_id", "frame_id")]
    swaps += [("zara", "yuri"), (with_b.token_id, made_up.token_id)]
    refused = set()
    before = _rows_of_b(world.server.store_path)
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        for route in world.routes:
            if route in LAST:
                continue  # they name no ID, and would tombstone A
            crossed = _call(world, http, "a_admin", route, with_b)
            control = _call(world, http, "a_admin", route, made_up)
            where = f"{route}: {crossed.status_code} {crossed.text}"
            assert crossed.status_code == control.status_code, where
            spec = ROUTES[route]
            # Answers without times or fresh IDs in them (refusals, reads) must match.
            if crossed.status_code >= 400 or not (spec.audited or ADMIN in spec.needs):
                if crossed.status_code >= 400:
                    refused.add(route)
                raw, headers = _blanked(crossed, A)
                for seen, fresh in swaps:
                    raw = raw.replace(seen.encode(), fresh.encode())
                    headers = {k: v.replace(seen, fresh) for k, v in headers.items()}
                audit = "x-audit-head"  # a refused write appends one entry each: heads differ
                headers.pop(audit, None)
                expected_raw, expected_headers = _blanked(control, A)
                expected_headers.pop(audit, None)
                assert (raw, headers) == (expected_raw, expected_headers), where
    naming = {r for r in world.routes if "{node_id}" in r[1] or "{frame_id}" in r[1]}
    naming |= {r for r in ROUTES if ROUTES[r].body is _put or r[1].endswith(("/batch", "/compose"))}
    naming |= {("POST", "/v1/workspaces/{ws}/push/commit"), ("GET", "/v1/workspaces/{ws}/export")}
    naming |= {("DELETE", "/v1/workspaces/{ws}/tokens/{token_id}")}
    assert naming <= refused, naming - refused  # each refused B's ID as a made-up one
    assert _rows_of_b(world.server.store_path) == before


def test_listing_and_creating_tell_nothing_about_b(world: World) -> None:
    before = _rows_of_b(world.server.store_path)
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        for who in HOLDS:
            headers = {"Authorization": f"Bearer {world.tokens[who]}"}
            listed = http.get("/v1/workspaces", headers=headers)
            assert listed.status_code == 200, listed.text
            assert [w["workspace_id"] for w in listed.json()["workspaces"]] == [A], who
            if who == "all_carol":  # may create: B's name is taken, and that is all it hears
                taken = http.post("/v1/workspaces", json={"name": B_NAME}, headers=headers)
                assert taken.status_code == 409, taken.text
                error = taken.json()["error"]
                assert error["code"] == "conflict"
                assert set(error) == {"error_type", "code", "message", "request_id"}
                assert B not in taken.text
                assert "bob" not in taken.text
                continue
            # A scoped token may not create: B's name and a free one are refused alike.
            answers = [
                http.post("/v1/workspaces", json={"name": name}, headers=headers)
                for name in (B_NAME, "matrix-free")
            ]
            assert [a.status_code for a in answers] == [403, 403], answers[0].text
            blanked = [_blanked(a, A)[0] for a in answers]
            assert blanked[0] == blanked[1]
    assert _rows_of_b(world.server.store_path) == before


def test_a_malformed_workspace_id_is_the_same_400_on_every_route(world: World) -> None:
    # Malformed is told apart from missing by its form alone, and alike on every route.
    malformed = replace(world.targets[B], ws="B" * 64)  # upper case: not a workspace ID
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        for route in world.routes:
            answer = _call(world, http, "a_admin", route, malformed)
            assert answer.status_code == 400, f"{route}: {answer.text}"
            assert answer.json()["error"]["code"] == "invalid_id", f"{route}: {answer.text}"


def test_a_tombstoned_b_is_as_unknown_as_a_live_one(world: World) -> None:
    owner = {"Authorization": f"Bearer {world.b_owner}"}
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        deleted = http.delete(f"/v1/workspaces/{B}", params={"confirm": B_NAME}, headers=owner)
        assert deleted.status_code == 200, deleted.text
        try:
            before = _rows_of_b(world.server.store_path)
            assert before["workspaces"][0][-1] is not None  # deleted_at
            for who in world.tokens:
                for route in world.routes:
                    hidden = _call(world, http, who, route, B)
                    missing = _call(world, http, who, route, MISSING)
                    where = f"{who} {route}: {hidden.text}"
                    assert hidden.status_code == (401 if who in INVALID else 404), where
                    assert _blanked(hidden, B) == _blanked(missing, MISSING), where
            assert _rows_of_b(world.server.store_path) == before
        finally:
            restored = http.post(f"/v1/workspaces/{B}/restore", headers=owner)
            assert restored.status_code == 200, restored.text


def _job(http: httpx.Client, token: str, ws: str) -> str:
    """The ID of a dry-run regeneration of ``ws`` started as a job (Prefer: respond-async)."""
    started = http.post(
        f"/v1/workspaces/{ws}/regenerate",
        json={"node": "", "recursive": True, "dry_run": True},
        headers={"Authorization": f"Bearer {token}", "Prefer": "respond-async"},
    )
    assert started.status_code == 202, started.text
    job_id: str = started.json()["job_id"]
    return job_id


def test_a_job_is_seen_only_by_tokens_that_may_read_its_workspace(world: World) -> None:
    admin = world.tokens["a_admin"]
    assert admin is not None
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        in_a, in_b = _job(http, admin, A), _job(http, world.b_owner, B)
        unknown = in_b[:8] + "f" * 24  # this instance's prefix: only existence could differ
        for who in world.tokens:
            token = world.tokens[who]
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            mine = http.get(f"/v1/jobs/{in_a}", headers=headers)
            hidden = http.get(f"/v1/jobs/{in_b}", headers=headers)
            missing = http.get(f"/v1/jobs/{unknown}", headers=headers)
            where = f"{who}: {hidden.text}"
            if who in INVALID:
                assert mine.status_code == hidden.status_code == missing.status_code == 401
                continue
            assert mine.status_code == 200, f"{who}: {mine.text}"  # every valid token reads A
            assert mine.json()["workspace"] == A
            assert hidden.status_code == missing.status_code == 404, where
            assert hidden.json()["error"]["code"] == "job_not_found", where
            assert _blanked(hidden, in_b) == _blanked(missing, unknown), where
            # Nor can they start one in B: the workspace is unknown to them before any job.
            refused = http.post(
                f"/v1/workspaces/{B}/regenerate",
                json={"node": "", "dry_run": True},
                headers={**headers, "Prefer": "respond-async"},
            )
            assert refused.status_code == 404, where
            assert refused.json()["error"]["code"] == "workspace_not_found", where
