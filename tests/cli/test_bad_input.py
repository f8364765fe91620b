"""Bad input: one clear line on stderr, a non-zero exit, no traceback, store unchanged."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from tests.cli.helpers import (
    assert_one_line_error,
    assert_one_refused_entry,
    audit_entries,
    run_cli,
    store_state,
)

UNKNOWN_ID = "ab" * 32
BAD_TYPE = ("put", "src/app.py", "--type", "bad type", "--agent", "a", "--content", "x")
BAD_BASIS = (
    *("put", "src/app.py", "--type", "t", "--agent", "a", "--content", "x"),
    *("--basis-frame", UNKNOWN_ID),
)
# Refused by the engine's write method, so audited as a refused write; every
# other case is refused before any write is attempted and leaves no entry.
REFUSED_WRITES = {BAD_TYPE, BAD_BASIS}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("node", "does/not/exist"), "node_not_found"),
        (("node", "../outside"), "invalid_path"),
        (("node", "/etc/passwd"), "invalid_path"),
        (("node", UNKNOWN_ID), "node_not_found"),
        (("ls", "missing-dir"), "node_not_found"),
        (("get", "src/app.py", "--max", "0"), "invalid_view_policy"),
        (("get", "src/app.py", "--max", "100000"), "invalid_view_policy"),
        (("get", "src/app.py", "--order", "random"), "invalid_view_policy"),
        (("compose", "src/app.py", "--order", "random"), "invalid_view_policy"),
        (("compose", "src/app.py", "--max", "0"), "invalid_view_policy"),
        (("proof", "src/app.py", "not-a-frame-id"), "invalid_id"),
        (("proof", "src/app.py", "AB" * 32), "invalid_id"),
        (("proof", "src/app.py", UNKNOWN_ID), "frame_not_found"),
        (("put", "src/app.py", "--type", "", "--agent", "a", "--content", "x"), "invalid_frame"),
        (("put", "src/app.py", "--type", "  ", "--agent", "a", "--content", "x"), "invalid_frame"),
        (("put", "src/app.py", "--type", "t", "--agent", "", "--content", "x"), "invalid_frame"),
        (("put", "src/app.py", "--agent", "a", "--content", "x"), "invalid_frame"),
        (("put", "src/app.py", "--type", "t", "--content", "x"), "invalid_frame"),
        (BAD_TYPE, "invalid_frame"),
        (("put", "src/app.py", "--type", "t", "--agent", "a"), "invalid_request"),
        (
            (
                "put",
                "src/app.py",
                "--type",
                "t",
                "--agent",
                "a",
                "--content",
                "x",
                "--meta",
                "novalue",
            ),
            "invalid_request",
        ),
        (
            ("put", "src/app.py", "--type", "t", "--agent", "a", "--file", "/nonexistent/f"),
            "invalid_request",
        ),
        (("put", "missing.txt", "--type", "t", "--agent", "a", "--content", "x"), "node_not_found"),
        (BAD_BASIS, "invalid_frame"),
        (("status", "--store", "nosuchscheme://x"), "config_error"),
        (("status", "--store", "sqlite://relative.db"), "config_error"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v,
)
def test_bad_input_is_one_line_and_changes_nothing(workspace, args, code):
    before = store_state(workspace, audit=False)
    logged = audit_entries(workspace)
    result = run_cli(workspace, *args)
    assert_one_line_error(result, code)
    assert result.code == 1
    assert store_state(workspace, audit=False) == before
    if args in REFUSED_WRITES:
        assert_one_refused_entry(workspace, logged, code)
    else:
        assert audit_entries(workspace) == logged


def test_bad_input_with_json_flag_gives_json_error(workspace):
    result = run_cli(workspace, "node", "nope", "--json")
    assert result.code == 1
    assert '"code": "node_not_found"' in result.stderr
    assert result.stdout == ""


def test_usage_error_is_one_line(workspace):
    result = run_cli(workspace, "get")
    assert result.code == 2
    assert_one_line_error(result, "usage_error")


def test_binary_content_declared_as_text_is_refused(workspace, tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\xff\xfe\x00binary")
    before = store_state(workspace, audit=False)
    logged = audit_entries(workspace)
    result = run_cli(
        workspace, "put", "README.md", "--type", "t", "--agent", "a", "--file", str(blob)
    )
    assert_one_line_error(result, "invalid_frame")
    assert store_state(workspace, audit=False) == before
    assert_one_refused_entry(workspace, logged, "invalid_frame")
    ok = run_cli(
        workspace,
        "put",
        "README.md",
        "--type",
        "t",
        "--agent",
        "a",
        "--file",
        str(blob),
        "--content-type",
        "application/octet-stream",
    )
    assert ok.code == 0, ok.stderr


def test_corrupt_store_is_reported(workspace):
    db = workspace / ".treeframe" / "store.db"
    for suffix in ("-wal", "-shm"):
        (workspace / ".treeframe" / f"store.db{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 200)
    result = run_cli(workspace, "status")
    assert_one_line_error(result, "store_corrupt")


def test_locked_store_is_reported_and_unchanged(workspace):
    db = workspace / ".treeframe" / "store.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"locked"
        url = f"sqlite://{db}?busy_timeout_ms=200"
        result = run_cli(
            workspace,
            "put",
            "README.md",
            "--type",
            "t",
            "--agent",
            "a",
            "--content",
            "x",
            "--store",
            url,
        )
        assert_one_line_error(result, "store_locked")
    finally:
        holder.communicate(b"")
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    finally:
        conn.close()
    assert rows
    assert store_state(workspace)["frames"] == []
