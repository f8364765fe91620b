from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import stat
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

import pytest

from tests.unprivileged import run_unprivileged
from treeframe.errors import ConcurrentUpdate, EntrySkipped, FileChangedDuringScan, ScanError
from treeframe.hashing.ids import content_hash
from treeframe.ids import NodeId, WorkspaceId
from treeframe.observability.progress import ProgressTracker
from treeframe.storage.base import StorageBackend
from treeframe.storage.memory import MemoryStore
from treeframe.storage.sqlite import SqliteStore
from treeframe.testing.factories import workspace_info
from treeframe.tree.filehash import HashJob, HashResult, hash_batch
from treeframe.tree.ignore import IgnoreRules
from treeframe.tree.scan import PHASES, ScanResult, Skipped, scan_tree
from treeframe.tree.statcache import MemoryStatCache, StatCache
from treeframe.tree.statcache_sqlite import SqliteStatCache

WS = WorkspaceId("ab" * 32)
OLD_NS = (int(time.time()) - 3600) * 1_000_000_000  # well outside the racy window


_CACHES: dict[int, Callable[[], StatCache]] = {}
"""The stat cache of each test's store, by ``id(store)``: how ``scan`` finds it."""


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageBackend]:
    """A store, paired with a stat cache of the same kind.

    The memory store scans with one MemoryStatCache kept for the test; the
    SQLite store with a cache file opened anew for every scan, as
    ``Workspace.scan`` does.
    """
    backend: StorageBackend
    if request.param == "memory":
        backend = MemoryStore()
        memory = MemoryStatCache()
        _CACHES[id(backend)] = lambda: memory
    else:
        backend = SqliteStore(tmp_path / "store.db")
        cache_file = tmp_path / "statcache.sqlite"
        _CACHES[id(backend)] = lambda: SqliteStatCache(cache_file)
    backend.create_workspace(workspace_info(WS, "test"))
    yield backend
    del _CACHES[id(backend)]
    backend.close()


def stat_cache(store: StorageBackend) -> StatCache | None:
    """The test's stat cache for ``store``; None (hash everything) for a store made ad hoc."""
    opener = _CACHES.get(id(store))
    return opener() if opener is not None else None


def write(root: Path, rel: str, data: bytes = b"x", *, old: bool = True) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if old:
        os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


def make_tree(root: Path) -> Path:
    write(root, "README.md", b"hello\n")
    write(root, "src/main.py", b"print('hi')\n")
    write(root, "src/util/helpers.py", b"def f(): pass\n")
    write(root, "docs/guide.txt", b"guide")
    write(root, "empty.txt", b"")
    (root / "emptydir").mkdir()
    run = write(root, "bin/run.sh", b"#!/bin/sh\n")
    run.chmod(0o755)
    os.symlink("src/main.py", root / "link")
    return root


def scan(root: Path, store: StorageBackend, **kwargs: object) -> ScanResult:
    cache = stat_cache(store)
    try:
        return scan_tree(root, store, WS, workers=1, stat_cache=cache, **kwargs)  # type: ignore[arg-type]
    finally:
        if cache is not None:
            cache.close()


def cached_blobs(store: StorageBackend, dirs: list[str]) -> dict[str, bytes | None]:
    """The stat-cache blob of each directory, from the test's cache for ``store``."""
    cache = stat_cache(store)
    assert cache is not None
    try:
        return {d: cache.get_dir(d) for d in dirs}
    finally:
        cache.close()


def paths(store: StorageBackend) -> dict[str, NodeId]:
    return dict(store.iter_all_paths(WS))


def history(store: StorageBackend) -> list[object]:
    return list(store.root_history(WS, 100))


def reasons(result: ScanResult) -> list[tuple[str, str]]:
    return [(entry.path, entry.reason) for entry in result.skipped]


def fresh_root(root: Path) -> NodeId:
    """The root of ``root`` scanned into a new store (what a clean tree hashes to)."""
    other = MemoryStore()
    other.create_workspace(workspace_info(WS, "fresh"))
    return scan(root, other).root


def visible_state(store: StorageBackend) -> dict[str, object]:
    """What a scan may never change unless it commits: root, path index, root history."""
    return {"root": store.current_root(WS), "paths": paths(store), "history": history(store)}


def full_state(store: StorageBackend, root: Path) -> dict[str, object]:
    """The visible state plus every node record and stat-cache blob of the tree's directories.

    The blobs are in the stat cache, not the store, but a strict scan that
    fails must leave them alone as well.
    """
    dirs = [""] + [
        str(p.relative_to(root))
        for p in sorted(root.rglob("*"))
        if p.is_dir() and not p.is_symlink()
    ]
    return {
        **visible_state(store),
        "nodes": sorted(n.node_id for n in store.iter_all_nodes(WS)),  # type: ignore[attr-defined]
        "stat": cached_blobs(store, dirs),
    }


# -- determinism ----------------------------------------------------------


def test_same_tree_at_different_locations_gives_same_root(tmp_path, store):
    first = scan_tree(make_tree(tmp_path / "one"), store, WS)
    other = MemoryStore()
    other.create_workspace(workspace_info(WS, "other"))
    second = scan_tree(make_tree(tmp_path / "elsewhere" / "two"), other, WS)
    assert first.root == second.root
    assert paths(store) == paths(other)


def test_cold_scan_indexes_every_path(tmp_path, store):
    result = scan(make_tree(tmp_path / "t"), store)
    assert set(paths(store)) == {
        "",
        "README.md",
        "src",
        "src/main.py",
        "src/util",
        "src/util/helpers.py",
        "docs",
        "docs/guide.txt",
        "empty.txt",
        "emptydir",
        "bin",
        "bin/run.sh",
        "link",
    }
    assert (result.files, result.dirs, result.symlinks) == (6, 6, 1)
    assert result.changed
    assert result.entry.seq == 1
    assert store.current_root(WS) == result.entry


def test_records_carry_content_hash_size_and_exec_bit(tmp_path, store):
    scan(make_tree(tmp_path / "t"), store)
    index = paths(store)
    readme = store.get_node(WS, index["README.md"])
    assert readme is not None
    assert readme.content_hash == content_hash(b"hello\n")
    assert readme.size == 6
    assert not readme.executable
    run = store.get_node(WS, index["bin/run.sh"])
    assert run is not None
    assert run.executable
    root = store.get_node(WS, index[""])
    assert root is not None
    assert [name for name, _ in root.children] == sorted(
        ["README.md", "src", "docs", "empty.txt", "emptydir", "bin", "link"],
        key=lambda n: n.encode(),
    )
    assert all(record.compute_id() == record.node_id for record in [readme, run, root])


def test_one_file_change_changes_only_it_and_its_ancestors(tmp_path, store):
    root = make_tree(tmp_path / "t")
    scan(root, store)
    before = paths(store)
    write(root, "src/util/helpers.py", b"def g(): pass\n")
    result = scan(root, store)
    after = paths(store)
    assert set(after) == set(before)
    changed = {p for p in before if before[p] != after[p]}
    assert changed == {"", "src", "src/util", "src/util/helpers.py"}
    assert result.files_hashed == 1
    assert result.paths_staged == 4
    assert result.nodes_written == 4


# -- the stat cache -------------------------------------------------------


class CountingHasher:
    """Wraps the real hasher (in-process only) and records which files it read."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def __call__(self, jobs: Sequence[HashJob]) -> list[HashResult]:
        self.read.extend(job[1] for job in jobs)
        return hash_batch(jobs)


def test_rescan_of_unchanged_tree_reads_nothing_and_commits_nothing(tmp_path, store):
    root = make_tree(tmp_path / "t")
    first = scan(root, store)
    before = paths(store)
    hasher = CountingHasher()
    second = scan(root, store, hasher=hasher)
    assert second.root == first.root
    assert not second.changed
    assert second.entry == first.entry
    assert hasher.read == []
    assert (second.files_hashed, second.files_reused) == (0, 6)
    assert (second.nodes_written, second.paths_staged) == (0, 0)
    assert len(history(store)) == 1
    assert paths(store) == before


def test_rescan_opens_no_file_of_an_unchanged_tree(tmp_path, store, monkeypatch):
    root = make_tree(tmp_path / "t")
    scan(root, store)
    opened: list[str] = []
    real_open = os.open

    def recording_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    result = scan(root, store)
    monkeypatch.undo()
    assert not [p for p in opened if p.startswith(str(root))]
    assert result.files_hashed == 0


def test_rescan_of_unchanged_tree_reads_only_the_root_record(tmp_path, store, monkeypatch):
    # The stat-cache blobs name each old directory and list its subdirectories,
    # so an unchanged rescan descends without reading old directory records.
    root = make_tree(tmp_path / "t")
    write(root, "src/util/deep/er/leaf.txt", b"leaf")
    first = scan(root, store)
    read: list[NodeId] = []
    real = store.get_nodes

    def counting(ws: WorkspaceId, node_ids: Sequence[NodeId]):  # type: ignore[no-untyped-def]
        read.extend(node_ids)
        return real(ws, node_ids)

    monkeypatch.setattr(store, "get_nodes", counting)
    second = scan(root, store)
    assert second.root == first.root
    assert read == [first.root]
    # One changed file deep down: its ancestors' records are read, nothing else.
    write(root, "src/util/deep/er/leaf.txt", b"LEAF")
    read.clear()
    third = scan(root, store)
    assert third.root == fresh_root(root)
    # The old root, the four old ancestors, and the replaced file's old record
    # (looked up in case it was a directory whose paths must leave the index).
    assert len(read) == len(set(read)) == 6
    current = {
        paths(store)[p] for p in ("", "src", "src/util", "src/util/deep", "src/util/deep/er")
    }
    assert current.isdisjoint(read)


_MUTATIONS: list[tuple[str, Callable[[Path], None]]] = [
    ("edit-deep", lambda r: write(r, "a/b/c/f.txt", b"changed")),
    ("add-file", lambda r: write(r, "a/b/new.txt", b"new")),
    ("remove-file", lambda r: (r / "a/b/c/g.txt").unlink()),
    ("dir-to-file", lambda r: (shutil.rmtree(r / "a/x"), write(r, "a/x", b"now a file"))),
    ("file-to-dir", lambda r: ((r / "a/y").unlink(), write(r, "a/y/inside.txt", b"in"))),
    (
        "retarget-link",
        lambda r: ((r / "a/b/link").unlink(), os.symlink("elsewhere", r / "a/b/link")),
    ),
    ("link-to-dir", lambda r: ((r / "a/b/link").unlink(), write(r, "a/b/link/z.txt", b"z"))),
    ("add-empty-dir", lambda r: (r / "a/b/c/empty").mkdir()),
    ("remove-subtree", lambda r: shutil.rmtree(r / "a/b/c")),
    ("nothing", lambda r: None),
]


def test_rescans_through_the_stat_cache_match_a_fresh_scan_after_each_change(tmp_path, store):
    root = tmp_path / "t"
    for rel in ("a/b/c/f.txt", "a/b/c/g.txt", "a/b/h.txt", "a/x/deep/i.txt", "a/y", "top.txt"):
        write(root, rel, rel.encode())
    os.symlink("h.txt", root / "a/b/link")
    scan(root, store)
    for name, mutate in _MUTATIONS:
        mutate(root)
        result = scan(root, store)
        assert result.root == fresh_root(root), name
        assert paths(store)[""] == result.root, name


def test_chmod_is_a_stat_change_so_the_file_is_read_again(tmp_path, store):
    root = make_tree(tmp_path / "t")
    first = scan(root, store)
    secret = root / "docs" / "guide.txt"
    secret.chmod(0)

    def rescan() -> tuple[ScanResult, list[str], dict[str, NodeId]]:
        hasher = CountingHasher()
        return scan(root, store, hasher=hasher), hasher.read, paths(store)

    try:
        result, read, after = run_unprivileged(rescan)
    finally:
        secret.chmod(0o644)
    assert read == ["docs/guide.txt"]
    assert result.skipped == (
        Skipped("docs/guide.txt", "unreadable_file", "cannot read: permission denied"),
    )
    assert "docs/guide.txt" not in after
    assert result.root != first.root


def test_racy_file_is_rehashed_until_its_mtime_is_safely_old(tmp_path, store):
    root = tmp_path / "t"
    write(root, "fresh.txt", b"new", old=False)
    scan(root, store)
    hasher = CountingHasher()
    second = scan(root, store, hasher=hasher)
    assert hasher.read == ["fresh.txt"]
    assert second.files_hashed == 1


def test_same_size_change_with_restored_mtime_is_detected(tmp_path, store):
    root = tmp_path / "t"
    path = write(root, "a.txt", b"aaaa", old=False)
    before = path.stat()
    first = scan(root, store)
    path.write_bytes(b"bbbb")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    second = scan(root, store)
    assert second.root != first.root
    record = store.get_node(WS, paths(store)["a.txt"])
    assert record is not None
    assert record.content_hash == content_hash(b"bbbb")


def test_scan_after_stat_cache_mismatch_still_builds_the_right_tree(tmp_path, store):
    root = make_tree(tmp_path / "t")
    scan(root, store)
    # A cache blob that does not parse is no entry at all.
    cache = stat_cache(store)
    assert cache is not None
    cache.put_dirs([("src", b"garbage")])
    cache.close()
    write(root, "src/new.py", b"x = 1\n")
    result = scan(root, store)
    fresh = MemoryStore()
    fresh.create_workspace(workspace_info(WS, "fresh"))
    assert result.root == scan(root, fresh).root


# -- file kinds -----------------------------------------------------------


def test_executable_bit_change_changes_node_id(tmp_path, store):
    root = tmp_path / "t"
    path = write(root, "tool", b"#!/bin/sh\n")
    first = scan(root, store)
    old_id = paths(store)["tool"]
    path.chmod(0o744)
    second = scan(root, store)
    assert second.root != first.root
    record = store.get_node(WS, paths(store)["tool"])
    assert record is not None
    assert record.executable
    assert record.node_id != old_id
    assert record.content_hash == content_hash(b"#!/bin/sh\n")


def test_symlinks_are_recorded_and_never_followed(tmp_path, store):
    root = tmp_path / "t"
    write(root, "real/inside.txt", b"i")
    os.symlink("real", root / "to_dir")
    os.symlink("real/inside.txt", root / "to_file")
    os.symlink("nowhere/at/all", root / "dangling")
    os.symlink(str(tmp_path), root / "outside")
    result = scan(root, store)
    index = paths(store)
    assert result.symlinks == 4
    assert result.files == 1
    assert not any(p.startswith(("to_dir/", "outside/")) for p in index)
    targets = {}
    for name in ["to_dir", "to_file", "dangling", "outside"]:
        record = store.get_node(WS, index[name])
        assert record is not None
        assert record.kind == "symlink"
        targets[name] = record.target
    assert targets == {
        "to_dir": "real",
        "to_file": "real/inside.txt",
        "dangling": "nowhere/at/all",
        "outside": str(tmp_path),
    }


def test_symlink_target_change_changes_node_id(tmp_path, store):
    root = tmp_path / "t"
    root.mkdir()
    os.symlink("a", root / "l")
    first = scan(root, store)
    (root / "l").unlink()
    os.symlink("b", root / "l")
    assert scan(root, store).root != first.root


def test_fifo_is_skipped_with_a_warning(tmp_path, store):
    root = tmp_path / "t"
    write(root, "sub/file.txt")
    os.mkfifo(root / "sub" / "pipe")
    result = scan(root, store)
    assert "sub/pipe" not in paths(store)
    assert result.skipped == (
        Skipped(
            "sub/pipe",
            "special_file",
            "fifo: only regular files, directories and symlinks are scanned",
        ),
    )
    assert result.warnings == ()
    (root / "sub" / "pipe").unlink()
    assert result.root == fresh_root(root)


def test_socket_is_skipped_and_an_ignored_one_is_not_reported(tmp_path, store):
    root = tmp_path / "t"
    write(root, "a.txt")
    write(root, ".treeframeignore", b"*.ignored\n")
    for name in ("s.sock", "s.ignored"):
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(root / name))
        listener.close()
    result = scan(root, store)
    assert reasons(result) == [("s.sock", "special_file")]
    assert result.skipped[0].message.startswith("socket: ")


def test_non_directory_root_is_a_scan_error(tmp_path, store):
    path = write(tmp_path, "file")
    with pytest.raises(ScanError, match="not a directory"):
        scan(path, store)


# -- ignore rules, end to end ---------------------------------------------


def test_gitignore_semantics_end_to_end(tmp_path, store):
    root = tmp_path / "t"
    write(root, ".gitignore", b"*.log\nbuild/\n/top.txt\n!keep.log\n")
    write(root, "a.log")
    write(root, "keep.log")
    write(root, "top.txt")
    write(root, "sub/top.txt")
    write(root, "build/out.o")
    write(root, "sub/build/out.o")
    write(root, "sub/build.txt")
    write(root, "sub/.gitignore", b"!debug.log\n/local\n")
    write(root, "sub/debug.log")
    write(root, "sub/other.log")
    write(root, "sub/local")
    write(root, "sub/deeper/local")
    write(root, "doc/.treeframeignore", b"*.tmp\n")
    write(root, "doc/.gitignore", b"!x.tmp\n")
    write(root, "doc/x.tmp")
    write(root, "doc/page.md")
    write(root, ".git/HEAD")
    write(root, "sub/.git/config")
    write(root, ".treeframe/store.db")
    write(root, "sub/.treeframe/store.db")
    write(root, ".gitmodules")
    scan(root, store)
    files = {p for p in paths(store) if p and store.get_node(WS, paths(store)[p]).kind == "file"}  # type: ignore[union-attr]
    assert files == {
        ".gitignore",
        ".gitmodules",
        "keep.log",
        "sub/top.txt",
        "sub/build.txt",
        "sub/.gitignore",
        "sub/debug.log",
        "sub/deeper/local",
        "doc/.treeframeignore",
        "doc/.gitignore",
        "doc/page.md",
    }


def test_ignored_directory_is_not_descended(tmp_path, store):
    root = tmp_path / "t"
    write(root, ".treeframeignore", b"vendor/\n")
    write(root, "ok.txt")
    vendor = root / "vendor"
    vendor.mkdir()
    (vendor / os.fsdecode(b"bad\xffname")).write_bytes(b"x")
    result = scan(root, store)
    assert "vendor" not in paths(store)
    assert result.files == 2


def test_changing_ignore_rules_changes_the_tree(tmp_path, store):
    root = tmp_path / "t"
    write(root, "a.txt")
    write(root, "b.tmp")
    scan(root, store)
    assert "b.tmp" in paths(store)
    write(root, ".gitignore", b"*.tmp\n")
    scan(root, store)
    assert "b.tmp" not in paths(store)
    assert ".gitignore" in paths(store)


def test_rescan_under_unchanged_rules_checks_only_new_names(tmp_path, store, monkeypatch):
    root = tmp_path / "t"
    write(root, ".gitignore", b"*.tmp\nbuild/\n")
    for rel in ("a.txt", "b.tmp", "sub/c.txt", "sub/d.tmp", "build/out.o"):
        write(root, rel)
    os.symlink("a.txt", root / "sub" / "link")
    first = scan(root, store)
    checked: list[str] = []
    real = IgnoreRules.is_ignored

    def counting(self: IgnoreRules, path: str, *, is_dir: bool) -> bool:
        checked.append(path)
        return real(self, path, is_dir=is_dir)

    monkeypatch.setattr(IgnoreRules, "is_ignored", counting)
    second = scan(root, store)
    assert second.root == first.root
    # Kept names are listed in their directory's blob; only the ignored ones are judged again.
    assert sorted(checked) == ["b.tmp", "build", "sub/d.tmp"]
    checked.clear()
    write(root, "sub/new.tmp")
    scan(root, store)
    assert sorted(checked) == ["b.tmp", "build", "sub/d.tmp", "sub/new.tmp"]
    assert "sub/new.tmp" not in paths(store)


def test_changed_parent_rules_apply_to_names_the_blob_lists(tmp_path, store):
    # A child directory's rules include its parents' ignore files: a new root
    # pattern must drop a file the child's blob still lists.
    root = tmp_path / "t"
    write(root, ".gitignore", b"*.tmp\n")
    write(root, "sub/.gitignore", b"*.bak\n")
    write(root, "sub/keep.txt")
    write(root, "sub/drop.log")
    scan(root, store)
    scan(root, store)
    assert "sub/drop.log" in paths(store)
    write(root, ".gitignore", b"*.tmp\n*.log\n")
    result = scan(root, store)
    assert "sub/drop.log" not in paths(store)
    assert result.root == fresh_root(root)


# -- names ----------------------------------------------------------------


def test_non_utf8_names_are_skipped_one_entry_each(tmp_path, store):
    root = make_tree(tmp_path / "t")
    clean = fresh_root(root)
    (root / "src" / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"latin-1 name")
    bad_dir = root / os.fsdecode(b"dir\xff")
    write(bad_dir, "inner.txt")
    write(bad_dir, os.fsdecode(b"also\xfe"))
    result = scan(root, store)
    assert result.skipped == (
        Skipped("dir\\xff", "non_utf8_name", "name is not valid UTF-8"),
        Skipped("src/caf\\xe9.txt", "non_utf8_name", "name is not valid UTF-8"),
    )
    assert result.root == clean  # a skipped entry is simply not in the tree
    assert result.changed
    assert not any(p.startswith("dir") for p in paths(store))
    assert (result.files, result.dirs) == (6, 6)


def test_non_utf8_name_listed_in_treeframeignore_is_silently_left_out(tmp_path, store):
    root = tmp_path / "t"
    write(root, "good.txt")
    (root / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"x")
    (root / os.fsdecode(b"dir\xff")).mkdir()
    os.mkfifo(root / os.fsdecode(b"pipe\xff"))
    write(root, ".treeframeignore", b"caf\xe9.txt\ndir\xff/\npipe*\n")
    result = scan(root, store)
    assert set(paths(store)) == {"", "good.txt", ".treeframeignore"}
    assert result.files == 2
    assert result.skipped == ()
    assert result.warnings == ()


def test_nfd_and_nfc_names_give_the_same_root(tmp_path, store):
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    one = write(tmp_path / "one", f"{nfc}/{nfc}.txt", b"same").parent.parent
    two = write(tmp_path / "two", f"{nfd}/{nfd}.txt", b"same").parent.parent
    first = scan(one, store)
    other = MemoryStore()
    other.create_workspace(workspace_info(WS, "other"))
    assert scan(two, other).root == first.root
    assert f"{nfc}/{nfc}.txt" in paths(other)


def test_names_colliding_after_nfc_are_all_skipped(tmp_path, store):
    root = tmp_path / "t"
    nfc = unicodedata.normalize("NFC", "é.txt")
    nfd = unicodedata.normalize("NFD", "é.txt")
    write(root, "keep.txt")
    write(root, nfc, b"1")
    write(root, nfd, b"2")
    write(root, f"sub/{nfd}/x", b"a directory this time")
    write(root, f"sub/{nfc}", b"and a file")
    result = scan(root, store)
    message = "2 entries are named 'é.txt' after Unicode NFC normalization; all of them are skipped"
    assert result.skipped == (  # in raw byte order: "e\u0301" < "sub/" < "\u00e9"
        Skipped(nfd, "nfc_collision", message),
        Skipped(f"sub/{nfd}", "nfc_collision", message),
        Skipped(f"sub/{nfc}", "nfc_collision", message),
        Skipped(nfc, "nfc_collision", message),
    )
    assert set(paths(store)) == {"", "keep.txt", "sub"}
    assert result.files == 1
    # Deterministic: the same tree gives the same root and the same skips again.
    other = MemoryStore()
    other.create_workspace(workspace_info(WS, "other"))
    again = scan(root, other)
    assert (again.root, again.skipped) == (result.root, result.skipped)


def test_ascii_name_colliding_with_a_singleton_decomposition_is_skipped(tmp_path, store):
    root = tmp_path / "t"
    write(root, "K", b"ascii")
    write(root, "\u212a", b"kelvin sign")  # NFC: "K"
    write(root, "other", b"o")
    result = scan(root, store)
    assert reasons(result) == [("K", "nfc_collision"), ("\u212a", "nfc_collision")]
    assert set(paths(store)) == {"", "other"}


def test_collision_with_an_ignored_spelling_is_no_collision(tmp_path, store):
    root = tmp_path / "t"
    nfc = unicodedata.normalize("NFC", "é")
    nfd = unicodedata.normalize("NFD", "é")
    write(root, f"{nfd}/inside.txt")
    write(root, nfc, b"a file")
    write(root, ".gitignore", f"{nfc}/\n".encode())  # ignores the directory spelling only
    result = scan(root, store)
    assert result.skipped == ()
    assert nfc in paths(store)
    assert store.get_node(WS, paths(store)[nfc]).kind == "file"  # type: ignore[union-attr]


def _unassigned() -> str:
    """A code point the running Unicode database does not assign (general category Cn)."""
    return next(
        chr(point) for point in range(0x0378, 0x10FFFF) if unicodedata.category(chr(point)) == "Cn"
    )


def test_name_with_an_unassigned_code_point_is_skipped(tmp_path, store):
    root = tmp_path / "t"
    odd = _unassigned()
    write(root, "fine.txt")
    write(root, f"x{odd}.txt")
    write(root, f"d{odd}/inner.txt")
    result = scan(root, store)
    message = (
        f"name holds U+{ord(odd):04X}, unassigned in Unicode {unicodedata.unidata_version} "
        "(NFC of it is not stable)"
    )
    assert result.skipped == (
        Skipped(f"d{odd}", "unassigned_code_point", message),
        Skipped(f"x{odd}.txt", "unassigned_code_point", message),
    )
    assert set(paths(store)) == {"", "fine.txt"}


def test_ignored_name_with_an_unassigned_code_point_is_not_reported(tmp_path, store):
    root = tmp_path / "t"
    odd = _unassigned()
    write(root, f"x{odd}.tmp")
    write(root, ".gitignore", b"*.tmp\n")
    assert scan(root, store).skipped == ()


def test_non_utf8_symlink_target_is_skipped(tmp_path, store):
    root = tmp_path / "t"
    write(root, "a.txt")
    os.symlink(os.fsdecode(b"caf\xe9\n"), root / "link")
    os.symlink("a.txt", root / "good")
    result = scan(root, store)
    assert result.skipped == (
        Skipped(
            "link", "non_utf8_symlink_target", "symlink target is not valid UTF-8: caf\\xe9\\x0a"
        ),
    )
    assert set(paths(store)) == {"", "a.txt", "good"}
    assert result.symlinks == 1


def test_skipped_paths_escape_control_characters_and_backslashes(tmp_path, store):
    root = tmp_path / "t"
    root.mkdir()
    os.mkfifo(root / "new\nline")
    os.mkfifo(root / "back\\slash\xff")
    result = scan(root, store)
    assert [entry.path for entry in result.skipped] == ["back\\\\slash\xff", "new\\x0aline"]


def test_skips_are_reported_in_path_order_whatever_the_hashing_order(tmp_path, store):
    root = _wide_tree(tmp_path / "t", 300)
    for leaf in ("d0/e0", "d3/e2", "d6/e1"):
        os.mkfifo(root / leaf / "fifo")
        (root / leaf / os.fsdecode(b"\xff")).write_bytes(b"x")
    result = scan_tree(root, store, WS, workers=2, pool_threshold=0, batch_files=8)
    expected = [
        (f"{leaf}/{name}", reason)
        for leaf in ("d0/e0", "d3/e2", "d6/e1")
        for name, reason in (("fifo", "special_file"), ("\\xff", "non_utf8_name"))
    ]
    assert reasons(result) == expected


# -- unreadable entries (run without root's permission override) ----------


def test_unreadable_file_is_skipped_and_the_rest_is_scanned(tmp_path, store):
    root = tmp_path / "t"
    write(root, "ok.txt", b"fine")
    secret = write(root, "sub/secret.txt", b"s")
    write(root, "sub/other.txt", b"o")
    secret.chmod(0)
    try:
        result, after = run_unprivileged(lambda: (scan(root, store), paths(store)))
    finally:
        secret.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert result.skipped == (
        Skipped("sub/secret.txt", "unreadable_file", "cannot read: permission denied"),
    )
    assert set(after) == {"", "ok.txt", "sub", "sub/other.txt"}
    assert result.files == 2
    secret.unlink()
    assert result.root == fresh_root(root)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (0, "cannot read directory locked: permission denied"),
        (stat.S_IRUSR, "cannot examine the entries of directory locked: permission denied"),
        (stat.S_IXUSR, "cannot read directory locked: permission denied"),
    ],
    ids=["no-access", "readable-not-searchable", "searchable-not-readable"],
)
def test_unreadable_directory_is_skipped_as_one_entry(tmp_path, store, mode, message):
    root = tmp_path / "t"
    write(root, "ok.txt")
    write(root, "locked/inner.txt")
    write(root, "locked/deeper/more.txt")
    locked = root / "locked"
    locked.chmod(mode)
    try:
        result, after = run_unprivileged(lambda: (scan(root, store), paths(store)))
    finally:
        locked.chmod(0o755)
    assert result.skipped == (Skipped("locked", "unreadable_directory", message),)
    assert set(after) == {"", "ok.txt"}
    assert result.dirs == 1


def test_directory_whose_ignore_file_is_unreadable_is_skipped(tmp_path, store):
    root = tmp_path / "t"
    write(root, "ok.txt")
    write(root, "sub/.env", b"secret")
    rules = write(root, "sub/.gitignore", b".env\n")
    rules.chmod(0)
    try:
        result, after = run_unprivileged(lambda: (scan(root, store), paths(store)))
    finally:
        rules.chmod(0o644)
    assert reasons(result) == [("sub", "unreadable_directory")]
    assert "sub/.gitignore" in result.skipped[0].message
    assert set(after) == {"", "ok.txt"}


def test_unreadable_scan_root_is_a_scan_error(tmp_path, store):
    root = tmp_path / "t"
    write(root, "a.txt")
    root.chmod(0)
    try:
        with pytest.raises(ScanError, match=r"cannot read directory \.: permission denied"):
            run_unprivileged(lambda: scan(root, store))
    finally:
        root.chmod(0o755)


# -- strict scans ---------------------------------------------------------


def _strict_cases(root: Path) -> dict[str, tuple[Path, str]]:
    """One entry of each kind a scan skips that needs no privileges to create."""
    odd = _unassigned()
    nfd = unicodedata.normalize("NFD", "é")
    return {
        "non_utf8_name": (root / "src" / os.fsdecode(b"caf\xe9"), "file"),
        "nfc_collision": (root / "src" / nfd, "file"),
        "unassigned_code_point": (root / f"x{odd}", "file"),
        "special_file": (root / "docs" / "pipe", "fifo"),
        "non_utf8_symlink_target": (root / "link2", "badlink"),
    }


@pytest.mark.parametrize(
    "reason",
    [
        "non_utf8_name",
        "nfc_collision",
        "unassigned_code_point",
        "special_file",
        "non_utf8_symlink_target",
    ],
)
def test_strict_scan_fails_on_a_skip_and_writes_nothing(tmp_path, store, reason):
    root = make_tree(tmp_path / "t")
    scan(root, store)
    write(root, "README.md", b"changed, so a normal scan would write records\n")
    write(root, "src/é", b"nfc spelling")
    target, kind = _strict_cases(root)[reason]
    if kind == "file":
        target.write_bytes(b"x")
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        os.symlink(os.fsdecode(b"\xff"), target)
    before = full_state(store, root)
    with pytest.raises(EntrySkipped) as caught:
        scan(root, store, strict=True)
    assert caught.value.reason == reason
    assert caught.value.code == "entry_skipped"
    assert f"({reason})" in caught.value.message
    assert full_state(store, root) == before
    # Without --strict the same tree scans, skipping the entries.
    assert reason in {entry.reason for entry in scan(root, store).skipped}


def test_strict_scan_of_an_unreadable_file_writes_nothing(tmp_path, store):
    root = make_tree(tmp_path / "t")
    scan(root, store)
    write(root, "src/new.py", b"new = True\n")
    secret = root / "docs" / "guide.txt"
    secret.chmod(0)
    before = full_state(store, root)

    def strict() -> tuple[str, str]:
        with pytest.raises(EntrySkipped) as caught:
            scan(root, store, strict=True)
        return caught.value.reason, caught.value.path

    try:
        assert run_unprivileged(strict) == ("unreadable_file", "docs/guide.txt")
    finally:
        secret.chmod(0o644)
    assert full_state(store, root) == before


def test_strict_failure_after_records_were_flushed_moves_no_pointer(tmp_path, store):
    root = _wide_tree(tmp_path / "t", 2500)  # more than NODE_BATCH records before the skip
    first = scan(root, store)
    for i in range(0, 2500, 7):
        write(root, f"d{i % 7}/e{i % 3}/f{i:05d}.txt", f"edited {i}\n".encode())
    os.mkfifo(root / "zz-last-fifo")  # the root directory is finalized last
    before = visible_state(store)
    with pytest.raises(EntrySkipped, match="zz-last-fifo"):
        scan(root, store, strict=True)
    assert visible_state(store) == before
    assert store.current_root(WS) == first.entry


# -- the empty-tree warning -----------------------------------------------


def test_everything_ignored_gives_an_empty_tree_and_a_warning(tmp_path, store):
    root = tmp_path / "t"
    write(root, ".gitignore", b"/*\n")
    write(root, "a.txt")
    write(root, "src/b.py")
    write(root, ".git/HEAD")
    result = scan(root, store)
    assert set(paths(store)) == {""}
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(
        "the scanned tree is empty although the directory holds 3 entries"
    )


def test_empty_directory_and_builtin_ignores_alone_give_no_warning(tmp_path, store):
    root = tmp_path / "t"
    write(root, ".git/HEAD")
    write(root, ".treeframe/store.db")
    assert scan(root, store).warnings == ()
    shutil.rmtree(root / ".git")
    shutil.rmtree(root / ".treeframe")
    assert scan(root, store).warnings == ()


# -- removals -------------------------------------------------------------


def test_deleted_file_and_directory_leave_the_path_index(tmp_path, store):
    root = make_tree(tmp_path / "t")
    scan(root, store)
    (root / "README.md").unlink()
    (root / "src" / "util" / "helpers.py").unlink()
    (root / "src" / "util").rmdir()
    (root / "src" / "main.py").unlink()
    (root / "src").rmdir()
    scan(root, store)
    index = paths(store)
    assert not any(p == "README.md" or p == "src" or p.startswith("src/") for p in index)
    assert "link" in index  # now dangling; still recorded
    fresh = MemoryStore()
    fresh.create_workspace(workspace_info(WS, "fresh"))
    scan(root, fresh)
    assert index == paths(fresh)


def test_directory_replaced_by_file_drops_its_subtree(tmp_path, store):
    root = tmp_path / "t"
    write(root, "thing/a/b.txt")
    write(root, "thing/c.txt")
    scan(root, store)
    (root / "thing" / "a" / "b.txt").unlink()
    (root / "thing" / "a").rmdir()
    (root / "thing" / "c.txt").unlink()
    (root / "thing").rmdir()
    write(root, "thing", b"now a file")
    scan(root, store)
    assert set(paths(store)) == {"", "thing"}


def test_file_replaced_by_directory_indexes_the_new_subtree(tmp_path, store):
    root = tmp_path / "t"
    write(root, "thing", b"a file")
    scan(root, store)
    (root / "thing").unlink()
    write(root, "thing/inner.txt")
    scan(root, store)
    assert set(paths(store)) == {"", "thing", "thing/inner.txt"}


# -- parallel hashing -----------------------------------------------------


def worker_only_hasher(test_pid: int, jobs: Sequence[HashJob]) -> list[HashResult]:
    """Refuses to run in the test process, proving the pool did the hashing."""
    if os.getpid() == test_pid:
        raise RuntimeError("hashed in-process")
    return hash_batch(jobs)


def _wide_tree(root: Path, count: int) -> Path:
    for i in range(count):
        write(root, f"d{i % 7}/e{i % 3}/f{i:05d}.txt", f"content {i}\n".encode())
    return root


def test_worker_count_does_not_change_the_root(tmp_path, store):
    root = _wide_tree(tmp_path / "t", 2100)
    serial = scan_tree(root, store, WS, workers=1)
    other = MemoryStore()
    other.create_workspace(workspace_info(WS, "other"))
    pooled = scan_tree(
        root,
        other,
        WS,
        workers=2,
        pool_threshold=100,
        batch_files=16,
        hasher=functools.partial(worker_only_hasher, os.getpid()),
    )
    assert pooled.root == serial.root
    assert pooled.files_hashed == serial.files_hashed == 2100
    assert paths(other) == paths(store)


def test_pool_takes_every_batch_once_past_the_threshold(tmp_path, store):
    root = _wide_tree(tmp_path / "t", 2100)
    result = scan_tree(
        root,
        store,
        WS,
        workers=2,
        pool_threshold=150,  # x10 when only forkserver/spawn is safe: still < 2100
        hasher=functools.partial(worker_only_hasher, os.getpid()),
    )
    assert result.files_hashed == 2100


def changing_hasher(victim: str, action: str, jobs: Sequence[HashJob]) -> list[HashResult]:
    """Changes one file between the walk's lstat and its hashing, then hashes for real."""
    for job in jobs:
        if job[1] == victim:
            if action == "grow":
                with open(job[0], "ab") as handle:
                    handle.write(b"more")
            else:
                os.unlink(job[0])
    return hash_batch(jobs)


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "pool"])
@pytest.mark.parametrize("action", ["grow", "vanish"])
def test_file_changing_during_scan_fails_and_root_stays(tmp_path, store, workers, action):
    root = _wide_tree(tmp_path / "t", 300)
    first = scan(root, store)
    before = paths(store)
    write(root, "d1/e1/f00001.txt", b"edited\n")
    hasher = functools.partial(changing_hasher, "d1/e1/f00001.txt", action)
    with pytest.raises(FileChangedDuringScan, match=r"file changed during scan: d1/e1/f00001.txt"):
        scan_tree(root, store, WS, workers=workers, pool_threshold=0, hasher=hasher)
    assert store.current_root(WS) == first.entry
    assert len(history(store)) == 1
    assert paths(store) == before


def fifo_swapping_hasher(victim: str, jobs: Sequence[HashJob]) -> list[HashResult]:
    """Replaces one file by a FIFO between the walk's lstat and its hashing."""
    for job in jobs:
        if job[1] == victim:
            os.unlink(job[0])
            os.mkfifo(job[0])
    return hash_batch(jobs)


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "pool"])
def test_file_swapped_for_a_fifo_fails_as_changed_without_hanging(tmp_path, store, workers):
    root = _wide_tree(tmp_path / "t", 300)
    first = scan(root, store)
    victim = "d2/e2/f00002.txt"
    write(root, victim, b"edited\n")
    hasher = functools.partial(fifo_swapping_hasher, victim)
    writers: list[int] = []

    def unblock(signum: int, frame: FrameType | None) -> None:
        # A hasher stuck opening the FIFO: open its other end so the test ends.
        writers.append(os.open(root / victim, os.O_WRONLY | os.O_NONBLOCK))

    previous = signal.signal(signal.SIGALRM, unblock)
    signal.alarm(10)
    try:
        with pytest.raises(FileChangedDuringScan, match=r"d2/e2/f00002\.txt"):
            scan_tree(root, store, WS, workers=workers, pool_threshold=0, hasher=hasher)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        for fd in writers:
            os.close(fd)
    assert writers == [], "the hasher blocked opening a FIFO"
    assert store.current_root(WS) == first.entry
    # The next scan sees the FIFO in the walk and skips it.
    assert reasons(scan(root, store)) == [(victim, "special_file")]


# -- progress -------------------------------------------------------------


def test_progress_reports_final_counts(tmp_path, store):
    calls: list[tuple[str, int, int | None]] = []
    root = make_tree(tmp_path / "t")
    scan(root, store, progress=lambda *args: calls.append(args))
    size = sum(len(p.read_bytes()) for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    assert calls[-3:] == [("files", 6, 6), ("hashed", 6, 6), ("bytes", size, size)]
    assert {phase for phase, _, _ in calls} == set(PHASES)


def test_progress_of_a_rescan_ends_every_phase_at_its_total(tmp_path, store):
    root = make_tree(tmp_path / "t")
    first = scan(root, store)
    tracker = ProgressTracker()
    again = scan(root, store, progress=tracker)
    final = {p.phase: (p.done, p.total) for p in tracker.phases()}
    assert list(final) == list(PHASES)
    assert final["files"] == (first.files, first.files)
    assert final["hashed"] == (again.files_hashed, again.files_hashed)
    assert final["bytes"] == (again.bytes_hashed, again.bytes_hashed)


def test_scan_losing_a_race_to_another_scan_changes_nothing(tmp_path, store):
    root = make_tree(tmp_path / "t")
    scan(root, store)
    write(root, "new.txt", b"needs hashing")
    other = write(tmp_path / "other", "x.txt").parent
    winner: list[ScanResult] = []

    def racing_hasher(jobs: Sequence[HashJob]) -> list[HashResult]:
        if not winner:
            winner.append(scan(other, store))  # commits while the outer scan runs
        return hash_batch(jobs)

    with pytest.raises(ConcurrentUpdate):
        scan(root, store, hasher=racing_hasher)
    assert store.current_root(WS) == winner[0].entry
    assert set(paths(store)) == {"", "x.txt"}
    assert len(history(store)) == 2
