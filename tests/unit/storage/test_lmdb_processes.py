"""LmdbStore across real processes: concurrent writers, head CAS, the bounded write lock, fork."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from treeframe.errors import StoreLocked
from treeframe.frames.merkle_set import root_of_raw
from treeframe.storage.lmdb import LmdbStore
from treeframe.testing.factories import CREATED_AT, make_file, make_frame, make_ws, put_frame
from treeframe.testing.factories import workspace_info as info_of

WS = make_ws("ws-a")
MAP = 4 << 20

PRELUDE = """
import sys, time
from pathlib import Path
from treeframe.errors import ConcurrentUpdate
from treeframe.frames.merkle_set import root_of_raw
from treeframe.storage.lmdb import LmdbStore
from treeframe.storage.values import AuditDraft
from treeframe.testing.factories import CREATED_AT, make_file, make_frame, make_ws, put_frame
WS = make_ws("ws-a")
directory, worker = sys.argv[1], int(sys.argv[2])
store = LmdbStore(directory, map_size=1 << 20, lock_timeout_ms=30000)
"""


def spawn(directory: Path, body: str, worker: int = 0) -> subprocess.Popen[str]:
    """A Python process running ``body`` after PRELUDE (the store opened as ``store``)."""
    code = PRELUDE + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(directory), str(worker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[3],
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    with LmdbStore(path, map_size=MAP) as store:
        store.create_workspace(info_of(WS, "ws-a"))
    return path


def test_concurrent_writers_in_several_processes_all_land(directory: Path) -> None:
    """Four processes append frames and audit entries at once; nothing is lost or doubled.

    The processes start with a 1 MiB map, so they also grow it under each other.
    """
    body = """
    nodes = [make_file(f"w{worker}-{i}", f"{worker}.{i}".encode()) for i in range(30)]
    store.put_nodes(WS, nodes)
    for node in nodes:
        put_frame(store, WS, *make_frame(node, node.name.encode() * 200), root_of_raw, CREATED_AT)
        store.append_audit(WS, AuditDraft(CREATED_AT, f"w{worker}", "frame.put", None, None, True, None, None))
    store.close()
    """
    workers = [spawn(directory, body, w) for w in range(4)]
    for process in workers:
        finish(process)
    with LmdbStore(directory, map_size=MAP) as store:
        frames = list(store.iter_all_frames(WS))
        assert [f.seq for f in frames] == list(range(1, 121))  # type: ignore[union-attr]
        assert store.workspace_counts(WS) == (120, 120)
        chain = list(store.iter_audit(WS))
        assert [e.seq for e in chain] == list(range(1, 121))
        assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(chain))
        for worker in range(4):
            node = make_file(f"w{worker}-7", f"{worker}.7".encode())
            assert len(store.node_frame_ids(WS, node.node_id)) == 1


def test_head_compare_and_set_across_processes_has_exactly_one_winner(directory: Path) -> None:
    node = make_file("n.txt", b"n")
    with LmdbStore(directory) as store:
        store.put_nodes(WS, [node])
        base = put_frame(store, WS, *make_frame(node, b"base"), root_of_raw, CREATED_AT).frame
    go = directory.parent / "go"
    body = f"""
    node = make_file("n.txt", b"n")
    frame, content = make_frame(node, f"candidate {{worker}}".encode())
    while not Path({str(go)!r}).exists():
        time.sleep(0.005)
    try:
        put_frame(store, WS, frame, content, root_of_raw, CREATED_AT, expected_head={base.frame_id!r})
        print("won", frame.frame_id)
    except ConcurrentUpdate as exc:
        print("lost", exc.actual)
    """
    workers = [spawn(directory, body, w) for w in range(5)]
    time.sleep(0.5)  # let them open the store and wait at the line
    go.touch()
    outcomes = [finish(p).split() for p in workers]
    winners = [fid for kind, fid in outcomes if kind == "won"]
    assert len(winners) == 1
    assert sorted(fid for kind, fid in outcomes if kind == "lost") == [winners[0]] * 4
    with LmdbStore(directory) as store:
        assert store.get_head(WS, node.node_id, "note") == winners[0]
        assert len(store.node_frame_ids(WS, node.node_id)) == 2


def test_a_writer_held_by_another_process_is_store_locked_after_the_timeout(
    directory: Path,
) -> None:
    release = directory.parent / "release"
    body = f"""
    with store.unit_of_work():
        store.put_agent(WS, "holder", b"held")
        print("holding", flush=True)
        while not Path({str(release)!r}).exists():
            time.sleep(0.01)
    store.close()
    """
    with LmdbStore(directory, lock_timeout_ms=300) as store:
        holder = spawn(directory, body)
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        with pytest.raises(StoreLocked, match="another process"):
            store.put_agent(WS, "waiter", b"w")
        waited = time.monotonic() - started
        assert 0.3 <= waited < 3
        assert store.get_agent(WS, "holder") is None  # readers are not blocked, see the last commit
        release.touch()
        finish(holder)
        store.put_agent(WS, "waiter", b"w")
        assert store.get_agent(WS, "holder") == b"held"
        assert store.get_agent(WS, "waiter") == b"w"


def test_opening_a_store_waits_for_the_writer_of_another_process_bounded(
    directory: Path,
) -> None:
    """A writable open takes the write lock once (to open the sub-databases): bounded too."""
    release = directory.parent / "release"
    body = f"""
    with store.unit_of_work():
        print("holding", flush=True)
        while not Path({str(release)!r}).exists():
            time.sleep(0.01)
    """
    holder = spawn(directory, body)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    try:
        with pytest.raises(StoreLocked):
            LmdbStore(directory, lock_timeout_ms=200)
        with LmdbStore(directory, read_only=True) as reader:  # a read-only open never waits
            assert reader.get_agent(WS, "holder") is None
    finally:
        release.touch()
        finish(holder)
    with LmdbStore(directory, lock_timeout_ms=200) as store:
        assert store.get_workspace(WS) is not None


def test_a_waiting_writer_gets_the_lock_when_it_is_released_in_time(directory: Path) -> None:
    body = """
    with store.unit_of_work():
        store.put_agent(WS, "holder", b"held")
        print("holding", flush=True)
        time.sleep(0.5)
    """
    holder = spawn(directory, body)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    with LmdbStore(directory, lock_timeout_ms=20000) as store:
        store.put_agent(WS, "waiter", b"w")  # waits for the holder's commit
        assert store.get_agent(WS, "holder") == b"held"
    finish(holder)


def test_another_process_growing_the_map_is_adopted(directory: Path) -> None:
    """A reader with a 4 MiB map keeps reading after another process grows it past that."""
    with LmdbStore(directory, map_size=MAP) as store:
        body = """
        store.put_nodes(WS, [make_file(f"g{i}", b"x" * 64 + str(i).encode()) for i in range(40000)])
        print(store._environment().map_size())
        """
        grown = int(finish(spawn(directory, body)))
        assert grown > MAP
        last = make_file("g39999", b"x" * 64 + b"39999")
        assert store.get_node(WS, last.node_id) == last
        store.put_agent(WS, "after", b"ok")  # a write adopts the new size too
        assert store.workspace_counts(WS) == (40000, 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_reopens_the_environment_and_the_parent_keeps_working(
    directory: Path,
) -> None:
    with LmdbStore(directory, map_size=MAP) as store:
        store.put_agent(WS, "parent", b"before")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: uses the parent's store object, then exits hard
            status = 1
            try:
                os.close(read_end)
                assert store._environment().pid == os.getpid()
                store.put_agent(WS, "child", b"from the child")
                os.write(write_end, store.get_agent(WS, "parent") or b"?")
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        seen = os.read(read_end, 100)
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert seen == b"before"
        assert store.get_agent(WS, "child") == b"from the child"
        store.put_agent(WS, "parent", b"after")
        assert store.get_agent(WS, "parent") == b"after"
