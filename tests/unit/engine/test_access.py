"""engine/access.py on a real SQLite store: token format, authentication, held permissions, listing."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from treeframe.clock import FixedClock
from treeframe.config.settings import Settings
from treeframe.engine.access import (
    ALL_PERMISSIONS,
    LOCAL_OWNER,
    AccessService,
    Bearer,
    format_token,
    parse_duration,
    parse_permissions,
    split_token,
)
from treeframe.engine.agents import AgentRecord
from treeframe.engine.principal import Permission, Principal
from treeframe.engine.runtime import Runtime
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import (
    AccessDenied,
    Conflict,
    InvalidRequest,
    NotFound,
    Unauthorized,
    WorkspaceDeleted,
    WorkspaceNotFound,
)
from treeframe.hashing.ids import workspace_id
from treeframe.storage.sqlite import SqliteStore
from treeframe.storage.values import AclEntry

R, W, S, A = Permission.READ, Permission.WRITE, Permission.SYNTHESIZE, Permission.ADMIN
START = "2026-01-01T00:00:00.000000Z"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "store.db") as opened:
        yield opened


def service(
    store: SqliteStore, step: timedelta = timedelta(0), **settings: object
) -> AccessService:
    clock = FixedClock(START, step)
    return AccessService(
        WorkspaceService(store, Settings.model_validate(settings), runtime=Runtime(clock=clock))
    )


def bearer(
    agent: str, perms: frozenset[Permission] = ALL_PERMISSIONS, scope: str | None = None
) -> Bearer:
    return Bearer(agent, "0" * 16, None if scope is None else workspace_id(scope), perms)  # type: ignore[arg-type]


def test_token_strings_split_back_and_carry_256_random_bits(store: SqliteStore) -> None:
    access = service(store)
    access.create_workspace("w", actor=LOCAL_OWNER, owner="alice")
    issued = access.create_token(
        actor=LOCAL_OWNER, agent_id="alice", permissions={R}, scope=workspace_id("w")
    )
    parts = split_token(issued.token)
    assert parts is not None
    token_id, secret = parts
    assert token_id == issued.record.token_id
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert issued.record.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(store.get_token(token_id))
    assert format_token(token_id, secret) == issued.token
    other = access.create_token(actor=LOCAL_OWNER, agent_id="alice", permissions={R}, scope=None)
    assert other.token != issued.token
    assert other.record.token_id != token_id
    for bad in (
        issued.token[:-1],
        issued.token + "A",
        "tfx" + issued.token[3:],
        issued.token[:4] + token_id.upper() + issued.token[20:],
        issued.token[:20] + "-" + issued.token[21:],
        issued.token[:-1] + "=",
        "",
    ):
        assert split_token(bad) is None, bad


def test_authenticate_refuses_forged_expired_and_revoked_tokens(store: SqliteStore) -> None:
    access = service(store, step=timedelta(hours=1))  # every clock read is an hour later
    access.create_workspace("w", actor=LOCAL_OWNER, owner="alice")
    ws = workspace_id("w")
    good = access.create_token(
        actor=LOCAL_OWNER,
        agent_id="alice",
        permissions={R, A},
        scope=ws,
        expires_in=timedelta(hours=2),
    )
    found = access.authenticate(good.token)
    assert found == Bearer("alice", good.record.token_id, ws, frozenset({R, A}))
    token_id, secret = split_token(good.token) or ("", "")
    forged = [
        format_token(token_id, ("B" if secret[0] == "A" else "A") + secret[1:]),
        format_token("f" * 16, secret),
        "garbage",
    ]
    for token in forged:
        with pytest.raises(Unauthorized) as refused:
            access.authenticate(token)
        assert refused.value.message == "invalid bearer token"
    with pytest.raises(Unauthorized, match="expired"):
        access.authenticate(good.token)  # the clock has moved past expires_at by now

    fresh = access.create_token(actor=LOCAL_OWNER, agent_id="alice", permissions={R}, scope=ws)
    access.revoke_token(fresh.record.token_id, actor=LOCAL_OWNER)
    with pytest.raises(Unauthorized, match="revoked"):
        access.authenticate(fresh.token)


def test_held_is_owner_everything_else_acl_plus_role(store: SqliteStore) -> None:
    access = service(store, agents={"ci": {"role": "writer"}})
    info, _ = access.create_workspace("w", actor=LOCAL_OWNER, owner="alice")
    ws = info.workspace_id
    assert access.held("alice", info) == ALL_PERMISSIONS
    assert access.held("bob", info) == frozenset()
    access.grant(ws, "bob", {S}, actor=LOCAL_OWNER)
    assert access.held("bob", info) == {S}
    access.workspaces.open(ws).register_agent(
        AgentRecord("bob", "reader"), principal=Principal.owner(ws)
    )
    assert access.held("bob", info) == {R, S}
    assert access.held("ci", info) == {R, W}  # configured agents are registered everywhere
    # The principal is the token's ceiling intersected with what is held.
    assert access.principal(bearer("bob", frozenset({R, W})), info).permissions == {R}
    assert access.principal(bearer("alice", frozenset({W}), scope="w"), info).permissions == {W}


def test_principal_out_of_reach_is_worded_as_a_missing_workspace(store: SqliteStore) -> None:
    access = service(store)
    info, _ = access.create_workspace("w", actor=LOCAL_OWNER, owner="alice")
    access.create_workspace("other", actor=LOCAL_OWNER, owner="alice")
    access.grant(info.workspace_id, "bob", {W}, actor=LOCAL_OWNER)
    cases = [
        bearer("carol"),  # holds nothing
        bearer("alice", scope="other"),  # outside the token's scope
        bearer("bob", frozenset({R})),  # holds write, the token allows only read
    ]
    for who in cases:
        with pytest.raises(WorkspaceNotFound) as missing:
            access.principal(who, info)
        assert missing.value.message == f"no workspace {info.workspace_id}"


def test_visible_pages_fill_up_despite_filtered_candidates(store: SqliteStore) -> None:
    access = service(store)
    for i in range(30):
        info, _ = access.create_workspace(f"w{i:02d}", actor=LOCAL_OWNER, owner="owner")
        # Even ones readable by bob; odd ones are candidates (ACL) he may not read.
        access.grant(info.workspace_id, "bob", {R} if i % 2 == 0 else {W}, actor=LOCAL_OWNER)
    access.create_workspace("zz-mine", actor=LOCAL_OWNER, owner="bob")
    seen: list[str] = []
    after = None
    while page := access.visible(bearer("bob"), after=after, limit=4):
        assert len(page) == 4 or len(seen) + len(page) == 16
        seen += [i.name for i in page]
        after = page[-1].name
    assert seen == [f"w{i:02d}" for i in range(0, 30, 2)] + ["zz-mine"]
    assert [i.name for i in access.visible(bearer("bob", scope="w02"))] == ["w02"]
    assert access.visible(bearer("bob", scope="w01")) == []
    assert access.visible(bearer("bob", scope="w02"), after="w02") == []
    assert access.visible(bearer("bob", frozenset({W}))) == []  # the ceiling has no read
    store.set_workspace_deleted(workspace_id("w00"), START)
    assert "w00" not in [i.name for i in access.visible(bearer("bob"), limit=100)]
    with pytest.raises(InvalidRequest):
        access.visible(bearer("bob"), limit=0)


def test_a_configured_agent_sees_every_workspace(store: SqliteStore) -> None:
    access = service(store, agents={"ci": {"role": "reader"}})
    for name in ("a", "b", "c"):
        access.create_workspace(name, actor=LOCAL_OWNER, owner="someone")
    assert [i.name for i in access.visible(bearer("ci"), limit=2)] == ["a", "b"]
    assert [i.name for i in access.visible(bearer("ci"), after="b")] == ["c"]


def test_create_workspace_rules_for_bearers(store: SqliteStore) -> None:
    access = service(store)
    info, created = access.create_workspace("w", actor=bearer("alice"))
    assert (created, info.owner) == (True, "alice")
    assert access.create_workspace("w", actor=bearer("alice")) == (info, False)
    for refused in (bearer("alice", scope="w"), bearer("alice", frozenset({R, W}))):
        with pytest.raises(AccessDenied):
            access.create_workspace("new", actor=refused)
    with pytest.raises(Conflict) as taken:
        access.create_workspace("w", actor=bearer("mallory"))
    assert info.workspace_id not in taken.value.message
    access.grant(info.workspace_id, "bob", {R}, actor=LOCAL_OWNER)
    assert access.create_workspace("w", actor=bearer("bob")) == (info, False)
    store.set_workspace_deleted(info.workspace_id, START)
    with pytest.raises(Conflict):
        access.create_workspace("w", actor=bearer("bob"))  # not an admin: learns nothing
    with pytest.raises(WorkspaceDeleted):
        access.create_workspace("w", actor=bearer("alice"))
    assert store.get_workspace(workspace_id("new")) is None


def test_admin_principals_manage_only_their_own_workspace(store: SqliteStore) -> None:
    access = service(store)
    mine, _ = access.create_workspace("mine", actor=LOCAL_OWNER, owner="alice")
    theirs, _ = access.create_workspace("theirs", actor=LOCAL_OWNER, owner="bob")
    admin = Principal("alice", mine.workspace_id, ALL_PERMISSIONS)
    reader = Principal("carol", mine.workspace_id, frozenset({R}))
    their_token = access.create_token(
        actor=LOCAL_OWNER, agent_id="bob", permissions={R}, scope=theirs.workspace_id
    )
    with pytest.raises(AccessDenied):
        access.create_token(actor=admin, agent_id="x", permissions={R}, scope=theirs.workspace_id)
    with pytest.raises(AccessDenied):
        access.create_token(actor=reader, agent_id="x", permissions={R}, scope=mine.workspace_id)
    with pytest.raises(NotFound):
        access.revoke_token(their_token.record.token_id, actor=admin)
    assert store.get_token(their_token.record.token_id).revoked_at is None  # type: ignore[union-attr]
    with pytest.raises(AccessDenied):
        access.list_tokens(actor=admin, scope=theirs.workspace_id)
    with pytest.raises(AccessDenied):
        access.grant(theirs.workspace_id, "alice", {A}, actor=admin)
    with pytest.raises(AccessDenied):
        access.grant(mine.workspace_id, "carol", {A}, actor=reader)
    with pytest.raises(AccessDenied):
        access.list_acl(mine.workspace_id, actor=reader)
    assert store.list_acl(theirs.workspace_id) == []
    made = access.create_token(
        actor=admin, agent_id="dave", permissions={R}, scope=mine.workspace_id
    )
    assert made.record.created_by == "alice"
    assert [t.token_id for t in access.list_tokens(actor=admin, scope=mine.workspace_id)] == [
        made.record.token_id
    ]
    entry = access.grant(mine.workspace_id, "dave", {R}, actor=admin)
    assert entry == AclEntry("dave", ("read",), START, "alice")
    assert access.revoke(mine.workspace_id, "dave", actor=admin) == entry
    with pytest.raises(NotFound):
        access.revoke(mine.workspace_id, "dave", actor=admin)


def test_local_owner_writes_are_checked_too(store: SqliteStore) -> None:
    access = service(store)
    with pytest.raises(WorkspaceNotFound):
        access.create_token(
            actor=LOCAL_OWNER, agent_id="x", permissions={R}, scope=workspace_id("nope")
        )
    with pytest.raises(WorkspaceNotFound):
        access.grant(workspace_id("nope"), "x", {R}, actor=LOCAL_OWNER)
    access.create_workspace("w", actor=LOCAL_OWNER, owner="x")
    with pytest.raises(InvalidRequest):
        access.create_token(actor=LOCAL_OWNER, agent_id="x", permissions=set(), scope=None)
    with pytest.raises(InvalidRequest):
        access.create_token(
            actor=LOCAL_OWNER, agent_id="x", permissions={R}, scope=None, expires_in=timedelta(0)
        )
    with pytest.raises(InvalidRequest):
        access.grant(workspace_id("w"), "x", set(), actor=LOCAL_OWNER)
    assert store.list_tokens() == []
    assert store.list_acl(workspace_id("w")) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("read", {R}), ("read,write", {R, W}), (" admin , read ", {A, R}), (["synthesize"], {S})],
)
def test_parse_permissions(text: str | list[str], expected: set[Permission]) -> None:
    assert parse_permissions(text) == expected


@pytest.mark.parametrize("text", ["", ",", "root", "read,Read", "READ"])
def test_parse_permissions_refuses_unknown_or_none(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_permissions(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "0d", "-1d", "1y", "1.5h", "30 d", "9999999d"])
def test_parse_duration_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_duration(text)
