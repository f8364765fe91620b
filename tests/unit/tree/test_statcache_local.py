"""The machine-local stat cache: beside the tree, never in the store, and never able to fail a scan."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import struct
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.unprivileged import run_unprivileged
from treeframe.ids import NodeId, WorkspaceId
from treeframe.storage.memory import MemoryStore
from treeframe.storage.registry import sqlite_url
from treeframe.storage.sqlite import SqliteStore
from treeframe.testing.factories import workspace_info
from treeframe.tree.filehash import HashJob, HashResult, hash_batch
from treeframe.tree.scan import ScanResult, scan_tree
from treeframe.tree.statcache import MemoryStatCache, StatCache, StatCacheError
from treeframe.tree.statcache_sqlite import CACHE_FILE, SqliteStatCache
from treeframe.workspace.layout import STATE_DIR
from treeframe.workspace.workspace import Workspace

WS = WorkspaceId("cd" * 32)
OLD_NS = (int(time.time()) - 3600) * 1_000_000_000  # outside the racy window


def build(root: Path, dirs: int = 3, files: int = 4) -> Path:
    """A small tree whose mtimes are safely old, so a second scan may trust the cache."""
    for d in range(dirs):
        for f in range(files):
            path = root / f"d{d}" / f"f{f}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"{d}/{f}\n".encode())
            os.utime(path, ns=(OLD_NS, OLD_NS))
    (root / STATE_DIR).mkdir(exist_ok=True)
    return root


def edit(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(OLD_NS, OLD_NS + 1_000_000))


class Counting:
    """The real hasher, recording which files it read (in-process scans only)."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def __call__(self, jobs: Sequence[HashJob]) -> list[HashResult]:
        self.read.extend(job[1] for job in jobs)
        return hash_batch(jobs)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    backend = SqliteStore(tmp_path / "store.db")
    backend.create_workspace(workspace_info(WS, "test"))
    yield backend
    backend.close()


def cache_path(root: Path) -> Path:
    return root / STATE_DIR / CACHE_FILE


def scan(
    root: Path,
    store: SqliteStore | MemoryStore,
    cache: StatCache | None = None,
    *,
    hasher: Counting | None = None,
) -> ScanResult:
    """Scan as ``Workspace.scan`` does: the tree's own cache file, opened for this scan."""
    own = cache if cache is not None else SqliteStatCache(cache_path(root), busy_timeout_ms=100)
    try:
        return scan_tree(root, store, WS, workers=1, stat_cache=own, hasher=hasher or hash_batch)
    finally:
        if cache is None:
            own.close()


def fresh_root(root: Path) -> NodeId:
    other = MemoryStore()
    other.create_workspace(workspace_info(WS, "fresh"))
    return scan_tree(root, other, WS, workers=1).root


def store_dump(store_file: Path) -> str:
    """Every row of every table of a SQLite store, as SQL text (blobs as X'hex')."""
    with sqlite3.connect(store_file) as conn:
        return "\n".join(conn.iterdump()).lower()


def cache_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM stat_dirs").fetchone()[0])


# -- the seam ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_cache_returns_the_last_blob_put_per_directory(tmp_path: Path, kind: str) -> None:
    cache: StatCache = (
        MemoryStatCache() if kind == "memory" else SqliteStatCache(tmp_path / CACHE_FILE)
    )
    assert cache.get_dir("src") is None
    cache.put_dirs([("src", b"one"), ("", b"root")])
    cache.put_dirs([("src", b"two")])
    assert (cache.get_dir("src"), cache.get_dir(""), cache.get_dir("doc")) == (
        b"two",
        b"root",
        None,
    )
    cache.close()
    if kind == "file":  # the entries outlive the connection
        with SqliteStatCache(tmp_path / CACHE_FILE) as again:
            assert again.get_dir("src") == b"two"


def test_file_cache_creates_nothing_until_used(tmp_path: Path) -> None:
    cache = SqliteStatCache(tmp_path / CACHE_FILE)
    cache.close()
    assert not (tmp_path / CACHE_FILE).exists()


def test_file_cache_that_cannot_be_opened_fails_once_then_answers_nothing(tmp_path: Path) -> None:
    cache = SqliteStatCache(tmp_path / "missing-dir" / CACHE_FILE)
    with pytest.raises(StatCacheError, match="cannot open it"):
        cache.get_dir("")
    assert cache.get_dir("") is None
    cache.put_dirs([("", b"x")])  # dropped silently: the trouble was reported once
    cache.close()


@pytest.mark.parametrize(
    "content",
    [b"this is not a database" * 100, b""],
    ids=["garbage", "empty-but-foreign-layout"],
)
def test_damaged_or_foreign_file_is_replaced_by_an_empty_cache(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / CACHE_FILE
    if content:
        path.write_bytes(content)
    else:  # a valid database of some other layout
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE other (x)")
    cache = SqliteStatCache(path)
    with pytest.raises(StatCacheError, match="rebuilt it"):
        cache.get_dir("")
    assert cache.get_dir("") is None
    cache.put_dirs([("", b"blob")])
    assert cache.get_dir("") == b"blob"
    cache.close()
    assert cache_rows(path) == 1


# -- the store holds no stat cache ------------------------------------------------


def test_workspace_scan_keeps_the_cache_in_dot_treeframe_and_none_in_the_store(
    tmp_path: Path,
) -> None:
    root = build(tmp_path / "tree")
    store_file = tmp_path / "elsewhere" / "store.db"
    store_file.parent.mkdir()
    with Workspace.init(root, cli={"store.url": sqlite_url(store_file)}) as ws:
        first = ws.scan(workers=1)
        again = ws.scan(workers=1)
    assert (again.root, again.files_hashed, again.files_reused) == (first.root, 0, 12)
    assert again.warnings == ()
    assert cache_rows(cache_path(root)) == 4  # d0..d2 and the root (its subdirectories)
    with sqlite3.connect(store_file) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "stat_dirs" in tables:
            assert conn.execute("SELECT count(*) FROM stat_dirs").fetchone()[0] == 0
    # No inode number of any scanned file is anywhere in the store, in any form.
    dump = store_dump(store_file)
    for path in root.rglob("*.txt"):
        ino = path.stat().st_ino
        assert struct.pack(">Q", ino).hex() not in dump
        assert struct.pack("<Q", ino).hex() not in dump


# -- the cache is used, and only saves reading ---------------------------------


def test_second_scan_of_an_unchanged_tree_reads_no_file(tmp_path: Path, store: SqliteStore) -> None:
    root = build(tmp_path / "tree")
    first = scan(root, store)
    counting = Counting()
    second = scan(root, store, hasher=counting)
    assert counting.read == []
    assert (second.root, second.changed, second.files_reused) == (first.root, False, 12)


def test_scan_without_a_cache_reads_every_file_every_time(
    tmp_path: Path, store: SqliteStore
) -> None:
    root = build(tmp_path / "tree")
    first = scan_tree(root, store, WS, workers=1)
    counting = Counting()
    second = scan_tree(root, store, WS, workers=1, hasher=counting)
    assert (len(counting.read), second.root, second.files_reused) == (12, first.root, 0)
    assert not cache_path(root).exists()


def test_deleting_the_cache_files_only_costs_rehashing(tmp_path: Path, store: SqliteStore) -> None:
    root = build(tmp_path / "tree")
    first = scan(root, store)
    removed = list((root / STATE_DIR).glob("statcache*"))
    assert removed
    for path in removed:
        path.unlink()
    counting = Counting()
    second = scan(root, store, hasher=counting)
    assert len(counting.read) == 12
    assert (second.root, second.changed, second.warnings) == (first.root, False, ())
    assert scan(root, store).files_hashed == 0  # and it was written again


def test_corrupt_cache_file_is_rebuilt_by_the_scan_with_the_same_root(
    tmp_path: Path, store: SqliteStore
) -> None:
    root = build(tmp_path / "tree")
    first = scan(root, store)
    cache_path(root).write_bytes(b"\x00garbage" * 512)
    second = scan(root, store)
    assert (second.root, second.files_hashed) == (first.root, 12)
    [warning] = second.warnings
    assert "damaged" in warning
    assert "rebuilt" in warning
    third = scan(root, store)
    assert (third.root, third.files_hashed, third.warnings) == (first.root, 0, ())


def test_garbage_blob_in_a_valid_file_is_a_miss(tmp_path: Path, store: SqliteStore) -> None:
    root = build(tmp_path / "tree")
    first = scan(root, store)
    with SqliteStatCache(cache_path(root)) as cache:
        cache.put_dirs([("d1", b"TFSC\x01 truncated")])
    counting = Counting()
    second = scan(root, store, hasher=counting)
    assert sorted(counting.read) == [f"d1/f{f}.txt" for f in range(4)]
    assert (second.root, second.warnings) == (first.root, ())


def test_cache_filled_against_one_store_still_writes_every_record_into_another(
    tmp_path: Path, store: SqliteStore
) -> None:
    """Switching stores reuses the hashes but never skips a record the new store lacks."""
    root = build(tmp_path / "tree")
    first = scan(root, store)
    other = SqliteStore(tmp_path / "other.db")
    other.create_workspace(workspace_info(WS, "other"))
    try:
        counting = Counting()
        second = scan(root, other, hasher=counting)
        assert counting.read == []  # every hash came from the cache
        assert (second.root, second.changed) == (first.root, True)
        indexed = dict(other.iter_all_paths(WS))
        assert len(indexed) == 1 + 3 + 12
        assert set(other.get_nodes(WS, list(indexed.values()))) == set(indexed.values())
    finally:
        other.close()


def test_copies_of_one_tree_in_two_directories_keep_their_own_caches(
    tmp_path: Path, store: SqliteStore
) -> None:
    """Two checkouts scanning into one store: each rescan of either reads nothing."""
    one = build(tmp_path / "one")
    two = tmp_path / "two"
    shutil.copytree(one, two)  # new inodes and ctimes: nothing of one's stats holds there
    shutil.rmtree(two / STATE_DIR)
    (two / STATE_DIR).mkdir()
    a = scan(one, store)
    b = scan(two, store)
    assert b.root == a.root
    assert b.files_hashed == 12
    for root in (one, two, one, two):
        counting = Counting()
        again = scan(root, store, hasher=counting)
        assert (counting.read, again.root) == ([], a.root)


# -- robustness: a cache in trouble never fails a scan -----------------------------


def test_cache_locked_by_another_process_is_skipped_with_one_warning(
    tmp_path: Path, store: SqliteStore
) -> None:
    root = build(tmp_path / "tree", dirs=6)
    first = scan(root, store)
    edit(root / "d2" / "f0.txt", b"changed\n")
    holder = sqlite3.connect(cache_path(root), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # neither reads nor writes get through
    try:
        before = store.current_root(WS)
        second = scan(root, store)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    [warning] = second.warnings
    assert "locked" in warning
    assert second.files_hashed == 24  # no entry could be read
    assert second.root == fresh_root(root) != first.root
    assert before is not None
    assert second.entry.seq == before.seq + 1


def test_cache_write_that_cannot_get_the_lock_is_skipped(
    tmp_path: Path, store: SqliteStore
) -> None:
    root = build(tmp_path / "tree")
    scan(root, store)
    edit(root / "d0" / "f1.txt", b"new bytes\n")
    holder = sqlite3.connect(cache_path(root), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # readers pass, writers wait
    try:
        counting = Counting()
        second = scan(root, store, hasher=counting)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert counting.read == ["d0/f1.txt"]  # the other entries were read
    [warning] = second.warnings
    assert "locked" in warning
    assert second.root == fresh_root(root)
    # The entry was not updated, so the next scan reads that file again, and records it.
    counting = Counting()
    third = scan(root, store, hasher=counting)
    assert (counting.read, third.root, third.warnings) == (["d0/f1.txt"], second.root, ())
    assert scan(root, store).files_hashed == 0


def test_read_only_cache_is_read_but_not_written(tmp_path: Path, store: SqliteStore) -> None:
    root = build(tmp_path / "tree")
    scan(root, store)
    edit(root / "d1" / "f2.txt", b"edited\n")
    state = root / STATE_DIR
    cache_path(root).chmod(0o444)
    state.chmod(0o555)

    def rescan() -> tuple[list[str], NodeId, tuple[str, ...]]:
        # A store of the child's own: SQLite connections do not cross fork().
        private = MemoryStore()
        private.create_workspace(workspace_info(WS, "child"))
        counting = Counting()
        result = scan(root, private, hasher=counting)
        return counting.read, result.root, result.warnings

    try:
        read, new_root, warnings = run_unprivileged(rescan)
    finally:
        state.chmod(0o755)
        cache_path(root).chmod(0o644)
    assert read == ["d1/f2.txt"]
    [warning] = warnings
    assert "cannot be written" in warning
    assert new_root == fresh_root(root)


def _scan_in_child(root: str, rounds: int) -> str:
    """Scan ``root`` into a private store ``rounds`` times through the tree's cache file."""
    private = MemoryStore()
    private.create_workspace(workspace_info(WS, "child"))
    roots = set()
    for _ in range(rounds):
        with SqliteStatCache(cache_path(Path(root))) as cache:  # the default busy timeout
            roots.add(scan(Path(root), private, cache).root)
    [only] = roots
    return only


def test_concurrent_scans_of_one_tree_do_not_corrupt_the_cache(tmp_path: Path) -> None:
    root = build(tmp_path / "tree", dirs=300, files=2)  # > STAT_BATCH directories: several writes
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        roots = pool.starmap(_scan_in_child, [(str(root), 3), (str(root), 3)])
    expected = fresh_root(root)
    assert roots == [expected, expected]
    with sqlite3.connect(cache_path(root)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    private = MemoryStore()
    private.create_workspace(workspace_info(WS, "after"))
    after = scan(root, private)
    assert (after.root, after.files_hashed, after.warnings) == (expected, 0, ())
