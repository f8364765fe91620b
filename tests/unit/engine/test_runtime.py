"""The runtime owns the engine's per-process state: locks, the hashing pool, plugins, the clock."""

from __future__ import annotations

import ast
import multiprocessing
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

import treeframe
from tests.unit.engine.conftest import write_tree
from treeframe.clock import SYSTEM_CLOCK
from treeframe.engine.runtime import Runtime, StripedLocks, default_runtime
from treeframe.errors import ScanError
from treeframe.hashing.ids import workspace_id
from treeframe.storage.memory import MemoryStore
from treeframe.testing.factories import workspace_info
from treeframe.tree.filehash import HashJob, HashResult, hash_batch
from treeframe.tree.scan import scan_tree

WS = workspace_id("runtime")


def test_two_runtimes_share_no_locks() -> None:
    one, two = Runtime(), Runtime()
    node = "ab" * 32
    assert one.locks.for_directory(WS, node) is one.locks.for_directory(WS, node)
    assert one.locks.for_directory(WS, node) is not two.locks.for_directory(WS, node)
    held = one.locks.for_directory(WS, node)
    with held:
        # Another runtime's synthesis of the same directory is not blocked...
        assert two.locks.for_directory(WS, node).acquire(blocking=False)
        two.locks.for_directory(WS, node).release()
        # ...while a second thread of the same runtime is.
        result: list[bool] = []
        thread = threading.Thread(
            target=lambda: result.append(one.locks.for_directory(WS, node).acquire(blocking=False))
        )
        thread.start()
        thread.join()
        assert result == [False]


def test_locks_are_striped_and_bounded() -> None:
    locks = StripedLocks(4)
    got = {id(locks.for_directory(WS, f"{i:064x}")) for i in range(100)}
    assert len(got) <= 4


def test_the_default_runtime_is_one_per_process() -> None:
    assert default_runtime() is default_runtime()
    assert default_runtime().clock is SYSTEM_CLOCK
    assert Runtime() is not default_runtime()


def _workers() -> set[int]:
    return {p.pid for p in multiprocessing.active_children() if p.pid is not None}


def _scan(root: Path, store: MemoryStore, runtime: Runtime) -> None:
    scan_tree(
        root, store, WS, workers=2, pool_threshold=0, batch_files=5, hash_pool=runtime.hash_pool
    )


def test_a_runtime_s_pool_is_reused_across_scans_and_closed_by_close(tmp_path: Path) -> None:
    store = MemoryStore()
    store.create_workspace(workspace_info(WS, "runtime"))
    root = tmp_path / "ws"
    write_tree(root, {f"f{i}.txt": f"{i}\n" for i in range(40)})
    before = _workers()
    runtime = Runtime()
    _scan(root, store, runtime)
    assert runtime.hash_pool.started
    first = _workers() - before
    assert first, "the scan started no workers"
    write_tree(root, {f"g{i}.txt": f"new {i}\n" for i in range(40)})
    _scan(root, store, runtime)
    assert _workers() - before == first  # the same processes hashed the second scan
    runtime.close()
    assert not runtime.hash_pool.started
    assert not (_workers() & first)
    # A scan without a runtime's pool starts and stops its own.
    write_tree(root, {f"h{i}.txt": f"more {i}\n" for i in range(40)})
    scan_tree(root, store, WS, workers=2, pool_threshold=0, batch_files=5)
    assert _workers() - before == set()


def _dying_hasher(jobs: Sequence[HashJob]) -> list[HashResult]:
    if multiprocessing.parent_process() is not None:
        os._exit(3)  # a worker that dies mid-batch (killed, out of memory)
    return hash_batch(jobs)


def test_a_broken_pool_fails_the_scan_and_the_next_scan_starts_a_new_one(tmp_path: Path) -> None:
    store = MemoryStore()
    store.create_workspace(workspace_info(WS, "runtime"))
    root = tmp_path / "ws"
    write_tree(root, {f"f{i}.txt": f"{i}\n" for i in range(40)})
    with Runtime() as runtime:
        with pytest.raises(ScanError, match="worker process died"):
            scan_tree(
                root,
                store,
                WS,
                workers=2,
                pool_threshold=0,
                batch_files=5,
                hasher=_dying_hasher,
                hash_pool=runtime.hash_pool,
            )
        assert not runtime.hash_pool.started
        assert store.current_root(WS) is None
        _scan(root, store, runtime)
        assert store.current_root(WS) is not None
    assert not runtime.hash_pool.started


STATEFUL = {"Lock", "RLock", "Semaphore", "Condition", "ProcessPoolExecutor", "ThreadPoolExecutor"}
CACHES = {"cache", "lru_cache", "cached_property"}


def _module_state(path: Path) -> list[str]:
    """Module-level locks, pools, caches and ``global`` rebinding in one module."""
    found: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # Module-level statements, and class bodies (class attributes are module state too).
    shared = [n for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign)]
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        shared += [n for n in cls.body if isinstance(n, ast.Assign | ast.AnnAssign)]
    for node in shared:
        for call in ast.walk(node):
            if isinstance(call, ast.Call):
                name = getattr(call.func, "attr", getattr(call.func, "id", ""))
                if name in STATEFUL:
                    found.append(f"{path.name}:{call.lineno} {name}()")
    for inner in ast.walk(tree):
        if isinstance(inner, ast.Global):
            found.append(f"{path.name}:{inner.lineno} global")
        if isinstance(inner, ast.FunctionDef):
            for deco in inner.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                name = getattr(target, "attr", getattr(target, "id", ""))
                if name in CACHES:
                    found.append(f"{path.name}:{inner.lineno} @{name}")
    return found


def test_no_module_level_state_in_engine_or_tree() -> None:
    package = Path(treeframe.__file__).parent
    runtime = package / "engine" / "runtime.py"  # holds the one process default
    found = [
        hit
        for folder in ("engine", "tree")
        for path in sorted((package / folder).rglob("*.py"))
        if path != runtime
        for hit in _module_state(path)
    ]
    assert found == []
    assert [hit.split()[1] for hit in _module_state(runtime)] == ["Lock()"]
