"""The blob settings (TREEFRAME_BLOBS, TREEFRAME_COMPRESSION, TREEFRAME_BLOB_INLINE_MAX) in real CLI runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.cli.helpers import assert_one_line_error, run_cli
from treeframe.hashing.ids import content_hash

BIG = "x" * 3000 + "".join(f"line {i}\n" for i in range(2000))


def _rows(root: Path) -> dict[str, tuple[str, int]]:
    conn = sqlite3.connect(root / ".treeframe" / "store.db")
    try:
        return {
            h.hex(): (c, e)
            for h, c, e in conn.execute("SELECT hash, codec, external FROM contents")
        }
    finally:
        conn.close()


def test_every_command_honours_the_blob_settings(workspace: Path, tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    env = {
        "TREEFRAME_BLOBS": f"file://{blobs}",
        "TREEFRAME_COMPRESSION": "zstd",
        "TREEFRAME_BLOB_INLINE_MAX": "1024",
    }
    for content in ("small note", BIG):
        done = run_cli(
            workspace, "put", "README.md", "--type", "note", "--agent", "a1",
            "--content", content, env=env,
        )  # fmt: skip
        assert done.code == 0, done.stderr
    rows = _rows(workspace)
    assert rows[content_hash(b"small note")] == ("zstd", 0)
    assert rows[content_hash(BIG.encode())] == ("none", 1)
    [stored] = [p for p in blobs.rglob("*") if p.is_file()]
    assert stored.name == content_hash(BIG.encode())
    assert stored.read_bytes().startswith(b"TFBLOB\x01\x04zstd")
    # Read back with another default codec: every blob names its own.
    got = run_cli(
        workspace, "get", "README.md", "--json", env={**env, "TREEFRAME_COMPRESSION": "lz4"}
    )
    assert got.code == 0, got.stderr
    assert BIG in [frame.get("content") for frame in got.json()["frames"]]
    # Without the blob store the external content cannot be served: a clear error.
    alone = run_cli(workspace, "get", "README.md", "--json")
    assert alone.code != 0
    assert "external blob store" in alone.stderr
    checked = run_cli(workspace, "verify", env=env)
    assert checked.code == 0, checked.stdout + checked.stderr


def test_a_bad_blob_setting_is_a_one_line_config_error(workspace: Path) -> None:
    bad = run_cli(workspace, "status", env={"TREEFRAME_BLOBS": "ftp://nowhere"})
    assert_one_line_error(bad, "config_error")
    codec = run_cli(workspace, "status", env={"TREEFRAME_COMPRESSION": "xz"})
    assert_one_line_error(codec, "config_error")
