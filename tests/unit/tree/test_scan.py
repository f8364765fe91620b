from __future__ import annotations

import functools
import os
import stat
import time
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from treeframe.errors import ConcurrentUpdate, FileChangedDuringScan, InvalidPath, ScanError
from treeframe.hashing.ids import content_hash
from treeframe.ids import NodeId, WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.memory import MemoryStore
from treeframe.storage.sqlite import SqliteStore
from treeframe.tree.filehash import Hashed, HashJob, hash_batch
from treeframe.tree.scan import ScanResult, scan_tree

WS = WorkspaceId("ab" * 32)
OLD_NS = (int(time.time()) - 3600) * 1_000_000_000  # well outside the racy window


def _sqlite_store(tmp_path: Path) -> StorageBackend:
    return SqliteStore(tmp_path / "store.db")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageBackend]:
    backend: StorageBackend = (
        MemoryStore() if request.param == "memory" else _sqlite_store(tmp_path)
    )
    backend.ensure_workspace(WS, "test")
    yield backend
    backend.close()


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
    return scan_tree(root, store, WS, workers=1, **kwargs)  # type: ignore[arg-type]


def paths(store: StorageBackend) -> dict[str, NodeId]:
    return dict(store.iter_all_paths(WS))


def history(store: StorageBackend) -> list[object]:
    return list(store.root_history(WS, 100))


# -- determinism ----------------------------------------------------------


def test_same_tree_at_different_locations_gives_same_root(tmp_path, store):
    first = scan_tree(make_tree(tmp_path / "one"), store, WS)
    other = MemoryStore()
    other.ensure_workspace(WS, "other")
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

    def __call__(self, jobs: Sequence[HashJob]) -> list[Hashed]:
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


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_chmod_is_a_stat_change_so_the_file_is_read_again(tmp_path, store):
    root = make_tree(tmp_path / "t")
    first = scan(root, store)
    secret = root / "docs" / "guide.txt"
    secret.chmod(0)
    try:
        with pytest.raises(ScanError, match=r"docs/guide\.txt"):
            scan(root, store)
    finally:
        secret.chmod(0o644)
    assert store.current_root(WS) == first.entry


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
    # A cache blob that names another directory is not trusted for NodeIDs.
    store.put_stat_dirs(WS, [("src", b"garbage")])
    write(root, "src/new.py", b"x = 1\n")
    result = scan(root, store)
    fresh = MemoryStore()
    fresh.ensure_workspace(WS, "fresh")
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
    assert result.warnings == ("skipped fifo: sub/pipe",)


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


# -- names ----------------------------------------------------------------


def test_non_utf8_name_is_invalid_and_leaves_the_store_unchanged(tmp_path, store):
    root = make_tree(tmp_path / "t")
    first = scan(root, store)
    before = paths(store)
    (root / "src" / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"latin-1 name")
    with pytest.raises(InvalidPath, match="not valid UTF-8") as caught:
        scan(root, store)
    assert "src/caf" in str(caught.value)
    assert store.current_root(WS) == first.entry
    assert len(history(store)) == 1
    assert paths(store) == before


def test_non_utf8_name_listed_in_treeframeignore_is_skipped(tmp_path, store):
    root = tmp_path / "t"
    write(root, "good.txt")
    (root / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"x")
    (root / os.fsdecode(b"dir\xff")).mkdir()
    write(root, ".treeframeignore", b"caf\xe9.txt\ndir\xff/\n")
    result = scan(root, store)
    assert set(paths(store)) == {"", "good.txt", ".treeframeignore"}
    assert result.files == 2


def test_nfd_and_nfc_names_give_the_same_root(tmp_path, store):
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    one = write(tmp_path / "one", f"{nfc}/{nfc}.txt", b"same").parent.parent
    two = write(tmp_path / "two", f"{nfd}/{nfd}.txt", b"same").parent.parent
    first = scan(one, store)
    other = MemoryStore()
    other.ensure_workspace(WS, "other")
    assert scan(two, other).root == first.root
    assert f"{nfc}/{nfc}.txt" in paths(other)


def test_names_colliding_after_nfc_are_invalid(tmp_path, store):
    root = tmp_path / "t"
    write(root, unicodedata.normalize("NFC", "é.txt"), b"1")
    write(root, unicodedata.normalize("NFD", "é.txt"), b"2")
    with pytest.raises(InvalidPath, match="NFC"):
        scan(root, store)
    assert store.current_root(WS) is None


def test_non_utf8_symlink_target_is_invalid(tmp_path, store):
    root = tmp_path / "t"
    root.mkdir()
    os.symlink(os.fsdecode(b"\xff"), root / "link")
    with pytest.raises(InvalidPath, match="symlink target"):
        scan(root, store)


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
    fresh.ensure_workspace(WS, "fresh")
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


def worker_only_hasher(test_pid: int, jobs: Sequence[HashJob]) -> list[Hashed]:
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
    other.ensure_workspace(WS, "other")
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


def changing_hasher(victim: str, action: str, jobs: Sequence[HashJob]) -> list[Hashed]:
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


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_a_scan_error(tmp_path, store):
    root = tmp_path / "t"
    path = write(root, "secret.txt", b"s")
    path.chmod(0)
    try:
        with pytest.raises(ScanError, match=r"secret\.txt"):
            scan(root, store)
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert store.current_root(WS) is None


# -- progress -------------------------------------------------------------


def test_progress_reports_final_counts(tmp_path, store):
    calls: list[tuple[int, int, int]] = []
    root = make_tree(tmp_path / "t")
    scan(root, store, progress=lambda *args: calls.append(args))
    assert calls
    assert calls[-1] == (
        6,
        6,
        sum(len(p.read_bytes()) for p in root.rglob("*") if p.is_file() and not p.is_symlink()),
    )


def test_scan_losing_a_race_to_another_scan_changes_nothing(tmp_path, store):
    root = make_tree(tmp_path / "t")
    scan(root, store)
    write(root, "new.txt", b"needs hashing")
    other = write(tmp_path / "other", "x.txt").parent
    winner: list[ScanResult] = []

    def racing_hasher(jobs: Sequence[HashJob]) -> list[Hashed]:
        if not winner:
            winner.append(scan(other, store))  # commits while the outer scan runs
        return hash_batch(jobs)

    with pytest.raises(ConcurrentUpdate):
        scan(root, store, hasher=racing_hasher)
    assert store.current_root(WS) == winner[0].entry
    assert set(paths(store)) == {"", "x.txt"}
    assert len(history(store)) == 2
