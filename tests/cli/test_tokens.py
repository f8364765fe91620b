"""treeframe token create/list/revoke and acl grant/revoke/list, through the real CLI and store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, run_cli, store_state
from treeframe.engine.access import AccessService, Bearer
from treeframe.engine.principal import Permission
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import Unauthorized, WorkspaceNotFound
from treeframe.hashing.ids import workspace_id
from treeframe.storage.registry import open_store, sqlite_url


def _authenticate(root: Path, token: str) -> Bearer:
    with open_store(sqlite_url(root / ".treeframe" / "store.db"), create=False) as store:
        return AccessService(WorkspaceService(store)).authenticate(token)


def _held(root: Path, ws_name: str, agent: str) -> frozenset[Permission]:
    with open_store(sqlite_url(root / ".treeframe" / "store.db"), create=False) as store:
        access = AccessService(WorkspaceService(store))
        return access.held(agent, WorkspaceService(store).find(ws_name))


def test_token_create_makes_the_workspace_and_a_working_token(workspace: Path) -> None:
    made = run_cli(
        workspace,
        "token",
        "create",
        "--workspace",
        "team",
        "--agent",
        "alice",
        "--perm",
        "read,write,admin",
        "--expires",
        "30d",
        "--json",
    )
    assert made.code == 0, made.stderr
    body = made.json()
    assert body["workspace_created"] is True
    assert body["workspace_id"] == workspace_id("team")
    assert body["permissions"] == ["admin", "read", "write"]
    assert body["expires_at"] > body["created_at"]
    bearer = _authenticate(workspace, body["token"])
    assert (bearer.agent_id, bearer.token_id, bearer.scope) == (
        "alice",
        body["token_id"],
        workspace_id("team"),
    )
    assert bearer.permissions == {Permission.READ, Permission.WRITE, Permission.ADMIN}
    listed = run_cli(workspace, "workspace", "list", "--json").json()["workspaces"]
    assert {w["name"]: w["owner"] for w in listed}["team"] == "alice"
    assert _held(workspace, "team", "alice") == frozenset(Permission)

    again = run_cli(
        workspace,
        "token",
        "create",
        "--workspace",
        "team",
        "--agent",
        "alice",
        "--perm",
        "read",
        "--json",
    )
    assert again.json()["workspace_created"] is False
    assert again.json()["token"] != body["token"]

    text = run_cli(
        workspace, "token", "create", "--all-workspaces", "--agent", "alice", "--perm", "admin"
    )
    assert text.code == 0, text.stderr
    token = text.stdout.strip()
    assert token.startswith("tft_")
    assert "shown this once" in text.stderr
    assert _authenticate(workspace, token).scope is None

    # "team" is alice's: a token for bob there works only once bob holds something.
    bobs = run_cli(
        workspace, "token", "create", "--workspace", "team", "--agent", "bob", "--perm", "read"
    )
    assert bobs.code == 0, bobs.stderr
    assert "holds none of these permissions" in bobs.stderr


def test_token_list_never_shows_a_secret_and_revoke_refuses_the_token(workspace: Path) -> None:
    made = run_cli(
        workspace,
        "token",
        "create",
        "--workspace",
        "team",
        "--agent",
        "bob",
        "--perm",
        "read",
        "--json",
    ).json()
    secret = made["token"][21:]
    for args in (
        ("token", "list"),
        ("token", "list", "--json"),
        ("token", "list", "--workspace", "team"),
    ):
        listed = run_cli(workspace, *args)
        assert listed.code == 0, listed.stderr
        assert made["token_id"] in listed.stdout
        assert secret not in listed.stdout + listed.stderr
    assert (
        run_cli(workspace, "token", "list", "--workspace", "default", "--json").json()["tokens"]
        == []
    )

    revoked = run_cli(workspace, "token", "revoke", made["token_id"], "--json")
    assert revoked.code == 0, revoked.stderr
    first = revoked.json()["revoked_at"]
    with pytest.raises(Unauthorized, match="revoked"):
        _authenticate(workspace, made["token"])
    assert (
        run_cli(workspace, "token", "revoke", made["token_id"], "--json").json()["revoked_at"]
        == first
    )
    assert_one_line_error(run_cli(workspace, "token", "revoke", "ffffffffffffffff"), "not_found")
    assert_one_line_error(run_cli(workspace, "token", "revoke", "nonsense"), "not_found")


def test_acl_grant_list_revoke(workspace: Path) -> None:
    granted = run_cli(
        workspace,
        "acl",
        "grant",
        "--workspace",
        "default",
        "--agent",
        "carol",
        "--perm",
        "read,synthesize",
        "--json",
    )
    assert granted.code == 0, granted.stderr
    assert granted.json()["permissions"] == ["read", "synthesize"]
    assert granted.json()["granted_by"] is None
    assert _held(workspace, "default", "carol") == {Permission.READ, Permission.SYNTHESIZE}
    # A registered role adds its permissions: a1 is a writer.
    run_cli(workspace, "acl", "grant", "--workspace", "default", "--agent", "a1", "--perm", "admin")
    assert _held(workspace, "default", "a1") == {
        Permission.READ,
        Permission.WRITE,
        Permission.ADMIN,
    }
    listed = run_cli(workspace, "acl", "list", "--workspace", "default", "--json").json()
    assert [e["agent_id"] for e in listed["entries"]] == ["a1", "carol"]
    regrant = run_cli(
        workspace, "acl", "grant", "--workspace", "default", "--agent", "carol", "--perm", "read"
    )
    assert regrant.code == 0
    assert _held(workspace, "default", "carol") == {Permission.READ}
    removed = run_cli(
        workspace, "acl", "revoke", "--workspace", "default", "--agent", "carol", "--json"
    )
    assert removed.code == 0, removed.stderr
    assert removed.json()["permissions"] == ["read"]
    assert _held(workspace, "default", "carol") == frozenset()
    assert_one_line_error(
        run_cli(workspace, "acl", "revoke", "--workspace", "default", "--agent", "carol"),
        "not_found",
    )
    text = run_cli(workspace, "acl", "list", "--workspace", "default")
    assert "a1" in text.stdout
    assert "carol" not in text.stdout


BAD_INPUT = [
    (
        ("token", "create", "--workspace", "new", "--agent", "x", "--perm", "read,root"),
        "invalid_request",
    ),
    (("token", "create", "--workspace", "new", "--agent", "x", "--perm", ""), "invalid_request"),
    (
        (
            "token",
            "create",
            "--workspace",
            "new",
            "--agent",
            "x",
            "--perm",
            "read",
            "--expires",
            "soon",
        ),
        "invalid_request",
    ),
    (
        (
            "token",
            "create",
            "--workspace",
            "new",
            "--agent",
            "x",
            "--perm",
            "read",
            "--expires",
            "0d",
        ),
        "invalid_request",
    ),
    (
        ("token", "create", "--workspace", "new", "--agent", "bad agent", "--perm", "read"),
        "invalid_frame",
    ),
    (("token", "create", "--agent", "x", "--perm", "read"), "invalid_request"),
    (
        (
            "token",
            "create",
            "--workspace",
            "new",
            "--all-workspaces",
            "--agent",
            "x",
            "--perm",
            "read",
        ),
        "invalid_request",
    ),
    (("token", "create", "--workspace", "", "--agent", "x", "--perm", "read"), "invalid_request"),
    (("token", "list", "--workspace", "nope"), "workspace_not_found"),
    (
        ("acl", "grant", "--workspace", "nope", "--agent", "x", "--perm", "read"),
        "workspace_not_found",
    ),
    (
        ("acl", "grant", "--workspace", "default", "--agent", "x", "--perm", "sudo"),
        "invalid_request",
    ),
    (
        ("acl", "grant", "--workspace", "default", "--agent", "-x-", "--perm", "read"),
        "invalid_frame",
    ),
    (("acl", "revoke", "--workspace", "nope", "--agent", "x"), "workspace_not_found"),
    (("acl", "list", "--workspace", "nope"), "workspace_not_found"),
]


def test_bad_input_is_one_line_and_leaves_the_store_untouched(workspace: Path) -> None:
    before = store_state(workspace)
    for args, code in BAD_INPUT:
        assert_one_line_error(run_cli(workspace, *args), code)
        assert store_state(workspace) == before, args


def test_a_tombstoned_workspace_gets_no_token(workspace: Path) -> None:
    assert run_cli(workspace, "workspace", "create", "gone").code == 0
    assert run_cli(workspace, "workspace", "delete", "gone", "--confirm", "gone").code == 0
    before = store_state(workspace)
    result = run_cli(
        workspace, "token", "create", "--workspace", "gone", "--agent", "x", "--perm", "read"
    )
    assert_one_line_error(result, "workspace_deleted")
    assert store_state(workspace) == before


def test_commands_run_on_a_store_outside_any_workspace(tmp_path: Path) -> None:
    from tests.api.conftest import make_store

    store = make_store(tmp_path / "server.db")
    url = sqlite_url(store)
    made = run_cli(
        tmp_path,
        "token",
        "create",
        "--store",
        url,
        "--workspace",
        "w",
        "--agent",
        "ops",
        "--perm",
        "admin",
        "--json",
    )
    assert made.code == 0, made.stderr
    listed = run_cli(tmp_path, "token", "list", "--store", url, "--json").json()
    assert listed["store"].startswith(url)
    assert [t["token_id"] for t in listed["tokens"]] == [made.json()["token_id"]]
    assert_one_line_error(run_cli(tmp_path, "token", "list"), "workspace_not_found")
    with open_store(url, create=False) as opened:
        with pytest.raises(WorkspaceNotFound):
            WorkspaceService(opened).find("nope")
        assert [t.agent_id for t in opened.list_tokens()] == ["ops"]
