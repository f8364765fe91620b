"""Opening the store: only init creates one, read commands work read-only, any path works."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import SAMPLE, assert_one_line_error, make_tree, run_cli, store_state

READ_COMMANDS = [
    ("status",),
    ("get", "src/app.py"),
    ("ls", "src"),
    ("node", "src/app.py"),
    ("heads", "src/app.py"),
    ("verify",),
    ("stale", ".", "--recursive"),
    ("compose", "src/app.py", "--source", "node", "--source", "parent"),
    ("regenerate", ".", "--recursive", "--dry-run"),
    ("agent", "list"),
]


def _unprivileged() -> list[str]:
    """Root may write anywhere; in a fresh user namespace it keeps only the 'other' bits."""
    if os.geteuid() != 0:
        return []
    subprocess.run(["unshare", "--user", "true"], check=True, capture_output=True)
    return ["unshare", "--user"]


def _set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | 0o222 if writable else mode & ~0o222)


@pytest.fixture
def with_frames(workspace: Path) -> Path:
    put = run_cli(
        workspace, "put", "src/app.py", "--type", "summary", "--agent", "a1", "--content", "hi"
    )
    assert put.code == 0, put.stderr
    synth = run_cli(workspace, "synthesize", "src", "--type", "summary", "--agent", "a", "-r")
    assert synth.code == 0, synth.stderr
    return workspace


@pytest.mark.parametrize("leftover_wal", [False, True], ids=["clean", "wal-files-present"])
def test_read_commands_work_in_a_read_only_workspace(with_frames: Path, leftover_wal: bool):
    state = with_frames / ".treeframe"
    for suffix in ("-wal", "-shm"):
        (state / f"store.db{suffix}").unlink(missing_ok=True)
    if leftover_wal:
        # What a crashed or still-running writer leaves: -wal and -shm beside the store.
        (state / "store.db-wal").write_bytes(b"")
        (state / "store.db-shm").write_bytes(b"")
    expected = {args: run_cli(with_frames, *args, "--json").stdout for args in READ_COMMANDS}
    before = store_state(with_frames)
    prefix = _unprivileged()
    _set_writable(with_frames, False)
    try:
        for args in READ_COMMANDS:
            result = run_cli(with_frames, *args, "--json", prefix=prefix)
            assert result.code == 0, (args, result.stderr)
            if args[0] not in ("regenerate", "verify"):  # both report a duration
                assert result.stdout == expected[args], args
        refused = run_cli(
            with_frames,
            "put",
            "src/app.py",
            "--type",
            "t",
            "--agent",
            "a1",
            "--content",
            "x",
            prefix=prefix,
        )
    finally:
        _set_writable(with_frames, True)
    assert_one_line_error(refused, "storage_error")
    assert store_state(with_frames) == before


def test_init_in_a_path_with_url_characters(tmp_path: Path):
    root = tmp_path / "a b?c#d%41e"
    make_tree(root, SAMPLE)
    init = run_cli(root, "init", "--json")
    assert init.code == 0, init.stderr
    assert run_cli(root, "scan").code == 0
    status = run_cli(root, "status", "--json").json()
    assert status["root_dir"] == str(root)
    assert status["store"] == init.json()["store"]
    for escaped in ("%20", "%3F", "%23", "%2541"):
        assert escaped in status["store"]
    assert (root / ".treeframe" / "store.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [root.name]
    # The URL as printed names the same store.
    again = run_cli(root, "status", "--json", "--store", status["store"]).json()
    assert again["current"] == status["current"]


def test_init_where_state_dir_is_a_file(tmp_path: Path):
    (tmp_path / ".treeframe").write_text("not a directory")
    result = run_cli(tmp_path, "init")
    assert_one_line_error(result, "invalid_path")
    assert ".treeframe exists and is not a directory" in result.stderr
    assert (tmp_path / ".treeframe").read_text() == "not a directory"


@pytest.mark.parametrize("command", [("status",), ("verify",), ("scan",), ("agent", "list")])
def test_missing_store_is_an_error_and_is_not_recreated(workspace: Path, command):
    db = workspace / ".treeframe" / "store.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    result = run_cli(workspace, *command)
    assert_one_line_error(result, "store_not_found")
    # Only the workspace's own stat cache (from the fixture's scan) is left: no store file.
    assert sorted(os.listdir(db.parent)) == ["statcache.sqlite"]


def test_empty_store_file_is_refused(workspace: Path):
    """An empty file (a creation killed before its schema committed) is not found, and left as it is."""
    db = workspace / ".treeframe" / "store.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"")
    result = run_cli(workspace, "verify")
    assert_one_line_error(result, "store_not_found")
    assert "empty" in result.stderr
    assert db.read_bytes() == b""


def test_unknown_workspace_name_is_not_created(workspace: Path):
    before = store_state(workspace)
    result = run_cli(workspace, "status", "--workspace", "other")
    assert_one_line_error(result, "workspace_not_found")
    assert "init --workspace other" in result.stderr
    assert store_state(workspace) == before
