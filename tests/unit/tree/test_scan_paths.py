"""``scan_tree(paths=...)``: rescanning only given paths and their ancestors gives exactly the full scan's state."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.tree.test_scan import (
    OLD_NS,
    WS,
    history,
    make_tree,
    paths,
    scan,
    store,
    write,
)
from treeframe.storage.base import StorageBackend
from treeframe.storage.memory import MemoryStore
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import focus_of, scan_tree

__all__ = ["store"]  # the fixture, shared with test_scan.py


def reference(root: Path) -> MemoryStore:
    """A store that full-scans ``root`` in step with the store under test (the oracle)."""
    ref = MemoryStore()
    ref.create_workspace(workspace_info(WS, "ref"))
    scan_tree(root, ref, WS, workers=1)
    return ref


def full_scan(root: Path, ref: MemoryStore) -> MemoryStore:
    scan_tree(root, ref, WS, workers=1)
    return ref


def state(store: StorageBackend) -> tuple[object, ...]:
    current = store.current_root(WS)
    return (
        current.root if current is not None else None,
        paths(store),
        sorted(store.iter_all_path_history(WS)),
    )


Edit = Callable[[Path], list[str]]


def modify(root: Path) -> list[str]:
    write(root, "src/util/helpers.py", b"def g(): pass\n", old=False)
    return ["src/util/helpers.py"]


def add_in_new_dirs(root: Path) -> list[str]:
    write(root, "new/deep/er/file.txt", b"new", old=False)
    return ["new"]


def delete_file(root: Path) -> list[str]:
    (root / "docs/guide.txt").unlink()
    return ["docs/guide.txt"]


def delete_dir(root: Path) -> list[str]:
    shutil.rmtree(root / "src/util")
    return ["src/util"]


def file_becomes_dir(root: Path) -> list[str]:
    (root / "empty.txt").unlink()
    write(root, "empty.txt/inside.txt", b"now a directory", old=False)
    return ["empty.txt"]


def symlink_retargeted(root: Path) -> list[str]:
    (root / "link").unlink()
    os.symlink("README.md", root / "link")
    return ["link"]


def rename(root: Path) -> list[str]:
    (root / "src/main.py").rename(root / "src/app.py")
    return ["src/main.py", "src/app.py"]


def nested_and_overlapping(root: Path) -> list[str]:
    write(root, "src/main.py", b"changed", old=False)
    write(root, "src/util/helpers.py", b"changed too", old=False)
    return ["src/util/helpers.py", "src", "src/main.py"]


def given_but_unchanged(root: Path) -> list[str]:
    return ["README.md", "src/util", "no/such/path"]


@pytest.mark.parametrize(
    "edit",
    [
        modify,
        add_in_new_dirs,
        delete_file,
        delete_dir,
        file_becomes_dir,
        symlink_retargeted,
        rename,
        nested_and_overlapping,
        given_but_unchanged,
    ],
)
def test_a_partial_scan_of_the_changed_paths_equals_a_full_scan(
    tmp_path: Path, store: StorageBackend, edit: Edit
):
    root = make_tree(tmp_path / "tree")
    scan(root, store)
    ref = reference(root)
    given_paths = edit(root)
    result = scan(root, store, paths=given_paths)
    assert state(store) == state(full_scan(root, ref))
    if edit is given_but_unchanged:
        assert result.changed is False


def test_a_partial_scan_costs_the_given_paths_not_the_tree(tmp_path: Path, store: StorageBackend):
    root = tmp_path / "tree"
    for d in range(30):
        for f in range(30):
            write(root, f"d{d:02}/sub/f{f:02}.txt", f"{d}/{f}".encode())
    scan(root, store)
    ref = reference(root)
    write(root, "d07/sub/f03.txt", b"edited", old=False)
    result = scan(root, store, paths=["d07/sub/f03.txt"])
    assert result.changed
    assert result.files == 1  # one file looked at, of 900
    assert result.files_hashed == 1
    assert result.dirs == 3  # the root, d07, d07/sub
    assert state(store) == state(full_scan(root, ref))


def test_changes_outside_the_given_paths_are_left_as_recorded(
    tmp_path: Path, store: StorageBackend
):
    root = make_tree(tmp_path / "tree")
    first = scan(root, store)
    write(root, "README.md", b"changed but not given", old=False)
    write(root, "docs/new.txt", b"new but not given", old=False)
    result = scan(root, store, paths=["src/main.py"])
    assert result.changed is False
    assert result.root == first.root
    # A full scan afterwards picks both up, and agrees with a fresh scan.
    assert scan(root, store).root == reference(root).current_root(WS).root  # type: ignore[union-attr]


def test_without_a_root_or_with_the_root_given_the_scan_is_full(
    tmp_path: Path, store: StorageBackend
):
    root = make_tree(tmp_path / "tree")
    first = scan(root, store, paths=["src/main.py"])  # no root yet: everything
    assert paths(store) == paths(reference(root))
    assert first.files == 6
    write(root, "README.md", b"x2", old=False)
    again = scan(root, store, paths=["", "src"])
    assert again.root == reference(root).current_root(WS).root  # type: ignore[union-attr]
    assert len(history(store)) == 2


def test_a_partial_scan_leaves_the_stat_cache_good_for_the_next_full_scan(
    tmp_path: Path, store: StorageBackend
):
    root = make_tree(tmp_path / "tree")
    scan(root, store)
    write(root, "src/main.py", b"edited", old=False)
    scan(root, store, paths=["src/main.py"])
    os.utime(root / "src/main.py", ns=(OLD_NS, OLD_NS))
    write(root, "docs/guide.txt", b"edited as well", old=False)
    full = scan(root, store)
    assert full.root == reference(root).current_root(WS).root  # type: ignore[union-attr]


def test_focus_trie_drops_paths_under_given_directories():
    assert focus_of(["a/b", "a/b/c", "a/d", "e"]) == {"a": {"b": None, "d": None}, "e": None}
    assert focus_of(["a", "a/b"]) == {"a": None}
    assert focus_of(["x", ""]) is None
    assert focus_of([]) == {}


NAMES = st.sampled_from(["a", "b", "c.txt", "d.txt"])
REL = st.lists(NAMES, min_size=1, max_size=3).map("/".join)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.dictionaries(REL, st.binary(max_size=8), min_size=1, max_size=8),
    edits=st.lists(
        st.tuples(st.sampled_from(["write", "delete"]), REL, st.binary(max_size=8)),
        min_size=1,
        max_size=5,
    ),
)
def test_random_edits_rescanned_by_path_equal_a_fresh_scan(tmp_path_factory, files, edits):
    root = tmp_path_factory.mktemp("random")

    def put(rel: str, data: bytes) -> bool:
        target = root / rel
        for parent in list(target.parents)[::-1]:
            if parent.is_file():
                return False  # a file where a directory would go: not this edit
        if target.is_dir():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return True

    for rel, data in files.items():
        put(rel, data)
    live = MemoryStore()
    live.create_workspace(workspace_info(WS, "live"))
    scan_tree(root, live, WS, workers=1)
    touched = []
    for action, rel, data in edits:
        target = root / rel
        if action == "write":
            if put(rel, data):
                touched.append(rel)
        elif target.is_dir():
            shutil.rmtree(target)
            touched.append(rel)
        elif target.exists():
            target.unlink()
            touched.append(rel)
    scan_tree(root, live, WS, workers=1, paths=touched)
    fresh = MemoryStore()
    fresh.create_workspace(workspace_info(WS, "fresh"))
    scan_tree(root, fresh, WS, workers=1)
    assert live.current_root(WS).root == fresh.current_root(WS).root  # type: ignore[union-attr]
    assert dict(live.iter_all_paths(WS)) == dict(fresh.iter_all_paths(WS))
