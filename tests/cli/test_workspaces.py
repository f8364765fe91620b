"""treeframe workspace list/create/delete/restore, through the real CLI and store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import (
    assert_one_line_error,
    assert_one_refused_entry,
    audit_entries,
    run_cli,
    store_state,
)


def test_create_list_delete_restore(workspace: Path):
    made = run_cli(workspace, "workspace", "create", "team", "--description", "shared", "--json")
    assert made.code == 0, made.stderr
    assert made.json()["created"] is True
    again = run_cli(workspace, "workspace", "create", "team", "--description", "other", "--json")
    assert again.json() == {**made.json(), "created": False}
    listed = run_cli(workspace, "workspace", "list", "--json").json()
    assert [w["name"] for w in listed["workspaces"]] == ["default", "team"]
    assert listed["workspaces"][1]["description"] == "shared"

    deleted = run_cli(workspace, "workspace", "delete", "team", "--confirm", "team", "--json")
    assert deleted.code == 0, deleted.stderr
    assert deleted.json()["deleted_at"] is not None
    names = [
        w["name"] for w in run_cli(workspace, "workspace", "list", "--json").json()["workspaces"]
    ]
    assert names == ["default"]
    text = run_cli(workspace, "workspace", "list", "--all").stdout
    assert "team" in text
    assert "deleted" in text
    # The tombstoned workspace is refused by every command, and its name cannot be re-made.
    assert_one_line_error(
        run_cli(workspace, "status", "--workspace", "team"), "workspace_not_found"
    )
    assert_one_line_error(run_cli(workspace, "workspace", "create", "team"), "workspace_deleted")

    restored = run_cli(workspace, "workspace", "restore", "team", "--json")
    assert restored.code == 0, restored.stderr
    assert restored.json()["deleted_at"] is None
    assert restored.json()["created_at"] == made.json()["workspace"]["created_at"]
    assert run_cli(workspace, "status", "--workspace", "team").code == 0


def test_a_deleted_workspace_keeps_its_frames(workspace: Path):
    put = run_cli(
        workspace, "put", "README.md", "--type", "note", "--agent", "a1", "--content", "x", "--json"
    )
    assert put.code == 0, put.stderr
    fid = put.json()["frame_id"]
    assert run_cli(workspace, "workspace", "delete", "default", "--confirm", "default").code == 0
    assert_one_line_error(run_cli(workspace, "frame", fid), "workspace_not_found")
    assert run_cli(workspace, "workspace", "restore", "default").code == 0
    assert run_cli(workspace, "frame", fid, "--json").json()["frame_id"] == fid


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("delete", "default", "--confirm", "wrong"), "invalid_request"),
        (("delete", "nobody", "--confirm", "nobody"), "workspace_not_found"),
        (("restore", "nobody"), "workspace_not_found"),
        (("create", "bad\tname"), "invalid_request"),
        (("create", " "), "invalid_request"),
    ],
)
def test_bad_requests_fail_in_one_line_and_change_nothing(workspace: Path, args, code):
    before = store_state(workspace, audit=False)
    logged = audit_entries(workspace)
    assert_one_line_error(run_cli(workspace, "workspace", *args), code)
    assert store_state(workspace, audit=False) == before
    if args[0] == "delete" and code == "invalid_request":
        # The one refused by the write itself (the workspace exists): audited there.
        assert_one_refused_entry(workspace, logged, code)
    else:
        assert audit_entries(workspace) == logged  # refused before any write


def test_store_level_commands_work_outside_a_workspace_with_store(workspace: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    url = run_cli(workspace, "status", "--json").json()["store"]
    listed = run_cli(elsewhere, "workspace", "list", "--store", url, "--json")
    assert listed.code == 0, listed.stderr
    assert [w["name"] for w in listed.json()["workspaces"]] == ["default"]
    assert_one_line_error(run_cli(elsewhere, "workspace", "list"), "workspace_not_found")
    missing = f"sqlite://{tmp_path / 'none.db'}"
    assert_one_line_error(
        run_cli(elsewhere, "workspace", "list", "--store", missing), "store_not_found"
    )
