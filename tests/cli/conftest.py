"""Fixtures for CLI tests: a scanned sample workspace."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import SAMPLE, make_tree, run_cli
from treeframe.tree.statcache import StatEntry, decode_stat_dir, encode_stat_dir
from treeframe.tree.statcache_sqlite import CACHE_FILE, SqliteStatCache


@pytest.fixture(scope="session")
def workspace_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample workspace, built once per session (per xdist worker) by the real CLI.

    Six CLI subprocesses per test were most of the CLI suite's time; each test
    gets a copy of this directory instead (see ``workspace``), never the template.
    """
    root = tmp_path_factory.mktemp("workspace-template") / "ws"
    make_tree(root, SAMPLE)
    assert run_cli(root, "init", "--json").code == 0
    for agent, role in (
        ("a", "synthesis"),
        ("a1", "writer"),
        ("a2", "writer"),
        ("reader", "reader"),
    ):
        assert run_cli(root, "agent", "add", agent, "--role", role).code == 0
    scanned = run_cli(root, "scan", "--json")
    assert scanned.code == 0, scanned.stderr
    return root


def _restat(root: Path) -> None:
    """Point the copied stat cache at the copied files (new inodes, ctimes), hashes unchanged.

    The copies are byte-identical to the files the template's scan hashed, so
    the cache's claim "this stat has this content" stays true for them; only
    what ``copytree`` cannot keep (inode, ctime) is refreshed. Without this a
    rescan of the copy would re-read every file, unlike a rescan of a real
    scanned workspace.
    """
    with SqliteStatCache(root / ".treeframe" / CACHE_FILE) as cache:
        updated: list[tuple[str, bytes]] = []
        for directory, dirs, _ in os.walk(root):
            dirs[:] = [d for d in dirs if d != ".treeframe"]
            rel = Path(directory).relative_to(root).as_posix()
            key = "" if rel == "." else rel
            blob = decode_stat_dir(cache.get_dir(key))
            if blob is None:
                continue
            entries: list[tuple[str, StatEntry]] = []
            for name, (_, _, _, _, _, _, digest) in blob.entries.items():
                st = os.lstat(Path(directory, name))
                entries.append(
                    (
                        name,
                        (
                            st.st_size,
                            st.st_mtime_ns,
                            st.st_ctime_ns,
                            st.st_ino,
                            st.st_dev,
                            st.st_mode,
                            digest,
                        ),
                    )
                )
            updated.append((key, encode_stat_dir(blob.written_ns, blob.dir_id, entries)))
        cache.put_dirs(updated)


@pytest.fixture
def workspace(tmp_path: Path, workspace_template: Path) -> Path:
    """A private copy of the scanned sample workspace, as if it had been scanned in place."""
    root = tmp_path / "ws"
    shutil.copytree(workspace_template, root, symlinks=True)
    _restat(root)
    return root
