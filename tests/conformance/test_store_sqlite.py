"""SQLite-only behaviour: WAL, persistence, many writers, locking and damaged files."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import CREATED_AT, make_file, make_frame, make_ws
from treeframe.errors import (
    BackendUnavailable,
    ConcurrentUpdate,
    StorageError,
    StoreCorrupt,
    StoreLocked,
    StoreNotFound,
    VersionNotSupported,
)
from treeframe.frames.frame import Frame
from treeframe.frames.merkle_set import root_of, root_of_raw
from treeframe.ids import FrameId
from treeframe.storage.base import Damaged
from treeframe.storage.registry import open_store
from treeframe.storage.sqlite import SCHEMA_VERSION, SqliteStore
from treeframe.testing.factories import put_frame, workspace_info
from treeframe.tree.records import NodeRecord

WS = make_ws("ws-a")
SHARED_NODES = [make_file(f"shared/{i}.txt", str(i).encode()) for i in range(3)]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "store.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(db_path) as opened:
        opened.create_workspace(workspace_info(WS, "ws-a"))
        opened.put_nodes(WS, SHARED_NODES)
        yield opened


def append(store: SqliteStore, node: NodeRecord, content: bytes, frame_type: str = "note") -> Frame:
    frame, data = make_frame(node, content, frame_type=frame_type)
    return put_frame(store, WS, frame, data, root_of_raw, CREATED_AT).frame


def raw_connection(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_new_store_uses_wal_journal(store: SqliteStore, db_path: Path) -> None:
    conn = raw_connection(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_store_creates_parent_directory(store: SqliteStore, db_path: Path) -> None:
    assert db_path.is_file()


def test_data_persists_across_close_and_reopen(store: SqliteStore, db_path: Path) -> None:
    stored = append(store, SHARED_NODES[0], b"kept")
    store.close()
    with open_store(f"sqlite://{db_path}") as reopened:
        assert reopened.url == f"sqlite://{db_path}"
        assert reopened.get_workspace(WS) == workspace_info(WS, "ws-a")
        assert reopened.get_node(WS, SHARED_NODES[0].node_id) == SHARED_NODES[0]
        assert reopened.get_frame(WS, stored.frame_id) == stored
        assert (
            reopened.blobs.get_many(WS, [stored.content_hash]).get(stored.content_hash) == b"kept"
        )
        assert reopened.get_head(WS, SHARED_NODES[0].node_id, "note") == stored.frame_id
        nxt, data = make_frame(SHARED_NODES[0], b"after reopen")
        assert put_frame(reopened, WS, nxt, data, root_of_raw, CREATED_AT).frame.seq == 2


def test_closed_store_raises_storage_error(store: SqliteStore) -> None:
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.get_node(WS, SHARED_NODES[0].node_id)


def _append_worker(path: str, worker: int, count: int, barrier: Any, results: Any) -> None:
    """Runs in a child process: append ``count`` frames round-robin over the shared nodes."""
    acknowledged: list[str] = []
    try:
        batch = [
            make_frame(
                SHARED_NODES[i % len(SHARED_NODES)],
                f"worker {worker} frame {i}".encode(),
                frame_type=f"type{i % 2}",
            )
            for i in range(count)
        ]
        with SqliteStore(path, busy_timeout_ms=60_000) as child:
            child.get_node(WS, SHARED_NODES[0].node_id)  # connected and warm
            barrier.wait(timeout=60)  # then every worker starts writing at once
            for frame, data in batch:
                stored = put_frame(child, WS, frame, data, root_of_raw, CREATED_AT).frame
                acknowledged.append(stored.frame_id)
    except BaseException as exc:
        results.put(f"worker {worker} failed: {exc!r}")
        raise
    results.put(acknowledged)


def assert_store_consistent(store: SqliteStore, acknowledged: list[str]) -> None:
    frames = [f for f in store.iter_all_frames(WS) if isinstance(f, Frame)]
    assert sorted(f.frame_id for f in frames) == sorted(acknowledged)
    assert [f.seq for f in frames] == list(range(1, len(acknowledged) + 1))
    for node in SHARED_NODES:
        ids = store.node_frame_ids(WS, node.node_id)
        state = store.get_frame_set(WS, node.node_id)
        assert state is not None
        assert (state.root, state.count) == (root_of(ids), len(ids))
        for frame_type, head in store.get_heads_many(WS, [node.node_id])[node.node_id].items():
            target = store.get_frame(WS, head)
            assert target is not None
            assert (target.node_id, target.frame_type) == (node.node_id, frame_type)
            latest = next(store.iter_node_frames(WS, node.node_id, frame_type=frame_type))
            assert latest.frame_id == head


def test_concurrent_processes_append_without_loss(store: SqliteStore, db_path: Path) -> None:
    workers, per_worker = 4, 25
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_append_worker, args=(str(db_path), w, per_worker, barrier, results))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=120) for _ in processes]
    assert all(isinstance(report, list) for report in reports), reports
    acknowledged = [frame_id for report in reports for frame_id in report]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(acknowledged) == workers * per_worker
    assert_store_consistent(store, acknowledged)


def _cas_worker(path: str, worker: int, expected: str, barrier: Any, results: Any) -> None:
    """Runs in a child process: one compare-and-set append racing the other workers."""
    frame, data = make_frame(SHARED_NODES[0], f"cas candidate {worker}".encode())
    try:
        with SqliteStore(path, busy_timeout_ms=60_000) as child:
            child.get_node(WS, SHARED_NODES[0].node_id)  # connected and warm
            barrier.wait(timeout=60)
            try:
                stored = put_frame(
                    child, WS, frame, data, root_of_raw, CREATED_AT, expected_head=FrameId(expected)
                )
            except ConcurrentUpdate as exc:
                results.put(("lost", frame.frame_id, exc.actual))
            else:
                results.put(("won", stored.frame.frame_id, ""))
    except BaseException as exc:
        results.put(("failed", f"worker {worker}: {exc!r}", ""))
        raise


def test_concurrent_processes_cas_append_exactly_one_wins(
    store: SqliteStore, db_path: Path
) -> None:
    base = append(store, SHARED_NODES[0], b"base")
    workers = 4
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_cas_worker, args=(str(db_path), w, base.frame_id, barrier, results))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert sorted(outcome for outcome, _, _ in reports) == ["lost"] * (workers - 1) + ["won"]
    (winner,) = [frame_id for outcome, frame_id, _ in reports if outcome == "won"]
    assert {actual for outcome, _, actual in reports if outcome == "lost"} == {winner}
    for outcome, frame_id, _ in reports:
        assert (store.get_frame(WS, frame_id) is None) == (outcome == "lost")
    assert store.get_head(WS, SHARED_NODES[0].node_id, "note") == winner
    frames = [f for f in store.iter_all_frames(WS) if isinstance(f, Frame)]
    assert [(f.frame_id, f.seq) for f in frames] == [(base.frame_id, 1), (winner, 2)]
    state = store.get_frame_set(WS, SHARED_NODES[0].node_id)
    assert state is not None
    assert (state.root, state.count) == (root_of([base.frame_id, winner]), 2)


def test_schema_has_the_agent_engine_tables(store: SqliteStore, db_path: Path) -> None:
    conn = raw_connection(db_path)
    try:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE name IN"
            " ('agents', 'path_history', 'basis_refs')"
        ).fetchall()
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    finally:
        conn.close()
    assert sorted(name for name, _ in rows) == ["agents", "basis_refs", "path_history"]
    assert all("WITHOUT ROWID" in sql for _, sql in rows)
    assert version == (str(SCHEMA_VERSION),)


def test_concurrent_threads_share_one_store(store: SqliteStore) -> None:
    acknowledged: list[FrameId] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        try:
            for i in range(25):
                node = SHARED_NODES[i % len(SHARED_NODES)]
                frame = append(store, node, f"thread {worker} frame {i}".encode(), f"type{i % 2}")
                with lock:
                    acknowledged.append(frame.frame_id)
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_store_consistent(store, list(acknowledged))


def test_write_while_locked_raises_store_locked_and_changes_nothing(db_path: Path) -> None:
    with SqliteStore(db_path, busy_timeout_ms=100) as store:
        store.create_workspace(workspace_info(WS, "ws-a"))
        store.put_nodes(WS, SHARED_NODES)
        holder = raw_connection(db_path)
        try:
            holder.execute("BEGIN IMMEDIATE")
            frame, data = make_frame(SHARED_NODES[0], b"blocked")
            with pytest.raises(StoreLocked, match=r"is locked by another writer \(waited 100 ms\)"):
                put_frame(store, WS, frame, data, root_of_raw, CREATED_AT)
            # Readers are not blocked by a writer in WAL mode.
            assert store.get_node(WS, SHARED_NODES[0].node_id) == SHARED_NODES[0]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert store.get_frame(WS, frame.frame_id) is None
        assert store.get_frame_set(WS, SHARED_NODES[0].node_id) is None
        assert put_frame(store, WS, frame, data, root_of_raw, CREATED_AT).frame.seq == 1


def test_full_disk_raises_backend_unavailable_and_changes_nothing(store: SqliteStore) -> None:
    conn = store._conn()  # the store's own connection: the page cap is per connection
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: a full disk
    frame, data = make_frame(SHARED_NODES[0], os.urandom(1 << 19).hex().encode())
    with pytest.raises(BackendUnavailable, match="is out of reach: database or disk is full"):
        put_frame(store, WS, frame, data, root_of_raw, CREATED_AT)
    assert store.get_frame(WS, frame.frame_id) is None
    assert store.blobs.get_many(WS, [frame.content_hash]).get(frame.content_hash) is None
    conn.execute(f"PRAGMA max_page_count = {1 << 30}")  # space freed: the same write succeeds
    assert put_frame(store, WS, frame, data, root_of_raw, CREATED_AT).frame.seq == 1


def test_store_path_that_cannot_be_opened_raises_backend_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.mkdir()  # exists, so it is not "not found", but SQLite cannot open it
    with pytest.raises(BackendUnavailable, match="unable to open database file") as info:
        SqliteStore(path)
    assert str(path) in str(info.value)


def test_random_bytes_file_raises_store_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreCorrupt) as info:
        SqliteStore(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_foreign_sqlite_database_raises_store_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    conn = raw_connection(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.close()
    with pytest.raises(StoreCorrupt, match="not a treeframe store") as info:
        SqliteStore(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("read_only", [False, True])
def test_newer_schema_version_raises_version_not_supported(
    store: SqliteStore, db_path: Path, read_only: bool
) -> None:
    store.close()
    conn = raw_connection(db_path)
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(VersionNotSupported, match="schema version 999, newer") as info:
        SqliteStore(db_path, read_only=read_only)
    assert info.value.code == "version_not_supported"
    assert info.value.supported[-1] == str(SCHEMA_VERSION)
    assert _columns(db_path)[0] == "999"


def test_schema_version_too_old_to_upgrade_raises_version_not_supported(
    store: SqliteStore, db_path: Path
) -> None:
    store.close()
    conn = raw_connection(db_path)
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(VersionNotSupported, match="schema version 2, older"):
        SqliteStore(db_path)
    assert _columns(db_path)[0] == "2"


@pytest.mark.parametrize("value", ["none", "four"])
def test_missing_or_garbled_schema_version_raises_store_corrupt(
    store: SqliteStore, db_path: Path, value: str
) -> None:
    store.close()
    conn = raw_connection(db_path)
    if value == "none":
        conn.execute("DELETE FROM meta WHERE key = 'schema_version'")
    else:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    conn.close()
    with pytest.raises(StoreCorrupt, match=f"schema version {value}"):
        SqliteStore(db_path)


def test_damaged_node_row_is_yielded_as_damaged(store: SqliteStore, db_path: Path) -> None:
    victim = SHARED_NODES[1]
    conn = raw_connection(db_path)
    conn.execute(
        "UPDATE nodes SET record = ? WHERE node = ?", (b"{not json", bytes.fromhex(victim.node_id))
    )
    conn.close()
    items = list(store.iter_all_nodes(WS))
    damaged = [i for i in items if isinstance(i, Damaged)]
    assert [(d.table, d.key) for d in damaged] == [("nodes", victim.node_id)]
    assert len(items) == len(SHARED_NODES)
    with pytest.raises(StoreCorrupt):
        store.get_node(WS, victim.node_id)


def test_damaged_frame_rows_are_yielded_as_damaged(store: SqliteStore, db_path: Path) -> None:
    broken, moved, intact = (append(store, SHARED_NODES[0], bytes([i])) for i in range(3))
    conn = raw_connection(db_path)
    conn.execute(
        "UPDATE frames SET record = ? WHERE frame = ?", (b"[]", bytes.fromhex(broken.frame_id))
    )
    conn.execute(
        "UPDATE frames SET node = ? WHERE frame = ?",
        (bytes.fromhex(SHARED_NODES[2].node_id), bytes.fromhex(moved.frame_id)),
    )
    conn.close()
    items = list(store.iter_all_frames(WS))
    assert [(d.table, d.key) for d in items if isinstance(d, Damaged)] == [
        ("frames", broken.frame_id),
        ("frames", moved.frame_id),
    ]
    assert [f for f in items if isinstance(f, Frame)] == [intact]


def _as_version_3(db_path: Path) -> None:
    """Rewrite a store into the version-3 layout: no put_seq, per-node indexes by seq, no metadata.

    (Nor tokens and ACL, which version 7 adds, nor the codec and external columns of version 9.)
    """
    conn = raw_connection(db_path)
    try:
        for statement in (
            "DROP TABLE tokens",
            "DROP TABLE acl",
            "DROP INDEX agents_by_agent",
            "DROP INDEX workspaces_by_owner",
            "DROP INDEX frames_by_node_put",
            "DROP INDEX frames_by_node_type_put",
            "DROP INDEX frames_by_node_agent_put",
            "ALTER TABLE frames DROP COLUMN put_seq",
            "CREATE INDEX frames_by_node ON frames (ws, node, seq)",
            "CREATE INDEX frames_by_node_type ON frames (ws, node, type, seq)",
            "CREATE INDEX frames_by_node_agent ON frames (ws, node, agent, seq)",
            "DROP TABLE schema_migrations",
            "DROP INDEX workspaces_by_name",
            "CREATE TABLE stat_dirs (ws INTEGER NOT NULL, dir TEXT NOT NULL,"
            " entries BLOB NOT NULL, PRIMARY KEY (ws, dir)) WITHOUT ROWID",
            "ALTER TABLE workspaces DROP COLUMN description",
            "ALTER TABLE workspaces DROP COLUMN owner",
            "ALTER TABLE workspaces DROP COLUMN created_at",
            "ALTER TABLE workspaces DROP COLUMN deleted_at",
            "ALTER TABLE contents DROP COLUMN codec",
            "ALTER TABLE contents DROP COLUMN external",
            "UPDATE meta SET value = '3' WHERE key = 'schema_version'",
        ):
            conn.execute(statement)
    finally:
        conn.close()


def _version_3_store(db_path: Path) -> list[FrameId]:
    """A version-3 store with three frames on one node; their IDs, newest first."""
    with SqliteStore(db_path) as store:
        store.create_workspace(workspace_info(WS, "ws-a"))
        store.put_nodes(WS, SHARED_NODES)
        ids = [append(store, SHARED_NODES[0], body).frame_id for body in (b"1", b"2", b"3")]
    _as_version_3(db_path)
    return ids[::-1]


def _columns(db_path: Path) -> tuple[str, set[str]]:
    conn = raw_connection(db_path)
    try:
        (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(frames)")}
    finally:
        conn.close()
    return version, columns


def test_version_3_store_is_upgraded_on_open(tmp_path: Path) -> None:
    db_path = tmp_path / "v3.db"
    newest_first = _version_3_store(db_path)
    assert _columns(db_path) == ("3", _columns(db_path)[1] - {"put_seq"})
    with SqliteStore(db_path) as store:
        node = SHARED_NODES[0].node_id
        assert [f.frame_id for f in store.iter_node_frames(WS, node)] == newest_first
        assert [f.put_seq for f in store.iter_node_frames(WS, node)] == [3, 2, 1]
        oldest, body = make_frame(SHARED_NODES[0], b"1")
        again = put_frame(store, WS, oldest, body, root_of_raw, CREATED_AT)
        assert again.created is False
        assert again.frame.put_seq == 4
        assert next(store.iter_node_frames(WS, node)).frame_id == oldest.frame_id
    assert _columns(db_path)[0] == str(SCHEMA_VERSION)
    assert "put_seq" in _columns(db_path)[1]


def test_read_only_version_3_store_is_read_as_it_is(tmp_path: Path) -> None:
    """Without write access (root drops it in a user namespace) nothing is upgraded."""
    if os.geteuid() == 0 and subprocess.run(["unshare", "--user", "true"], check=False).returncode:
        pytest.fail("running as root and 'unshare --user' cannot drop privileges")
    prefix = ["unshare", "--user"] if os.geteuid() == 0 else []
    db_path = tmp_path / "v3.db"
    newest_first = _version_3_store(db_path)
    db_path.chmod(0o444)
    script = (
        "import sys\n"
        "from treeframe.storage.sqlite import SqliteStore\n"
        "with SqliteStore(sys.argv[1]) as store:\n"
        f"    frames = list(store.iter_node_frames({WS!r}, {SHARED_NODES[0].node_id!r}))\n"
        "    print(' '.join(f'{f.frame_id}:{f.put_seq}' for f in frames))\n"
    )
    result = subprocess.run(
        [*prefix, sys.executable, "-c", script, str(db_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    expected = [f"{fid}:{seq}" for fid, seq in zip(newest_first, (3, 2, 1), strict=True)]
    assert result.stdout.split() == expected
    db_path.chmod(0o644)
    assert _columns(db_path)[0] == "3"


def test_snapshot_keeps_its_state_while_another_process_appends(
    store: SqliteStore, db_path: Path
) -> None:
    """300 frames (more than a page of iter_all_frames) appended by a child mid-iteration."""
    for i in range(300):
        append(store, SHARED_NODES[i % 3], f"before {i}".encode(), frame_type=f"t{i % 2}")
    frames_before = list(store.iter_all_frames(WS))
    heads_before = sorted(store.iter_all_heads(WS))
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(1), context.Queue()
    child = context.Process(target=_append_worker, args=(str(db_path), 9, 300, barrier, results))
    with store.snapshot() as view:
        seen = []
        for frame in view.iter_all_frames(WS):
            seen.append(frame)
            if len(seen) == 10:  # the first page is read; the child writes before the next
                child.start()
                report = results.get(timeout=120)
                child.join(timeout=60)
        assert isinstance(report, list)
        assert len(report) == 300, report
        assert seen == frames_before
        assert sorted(view.iter_all_heads(WS)) == heads_before
        assert [f.seq for f in view.iter_all_frames(WS)] == list(range(1, 301))
    assert child.exitcode == 0
    assert len(list(store.iter_all_frames(WS))) == 600


def test_a_store_from_before_tokens_reads_as_empty_and_gains_them_on_upgrade(
    tmp_path: Path,
) -> None:
    from treeframe.storage.values import AclEntry
    from treeframe.testing.conformance import token_record

    db_path = tmp_path / "v3.db"
    _version_3_store(db_path)
    with SqliteStore(db_path, read_only=True) as old:
        assert old.get_token("0123456789abcdef") is None
        assert old.list_tokens() == []
        assert old.list_acl(WS) == []
        assert old.get_acl(WS, "agent-a") is None
        assert old.list_workspaces_of_agent("agent-a") == []
        with pytest.raises(StorageError):
            old.put_token(token_record(scope=WS))
    with SqliteStore(db_path) as upgraded:
        assert upgraded.schema_status().current == SCHEMA_VERSION
        upgraded.put_token(token_record(scope=WS))
        upgraded.put_acl(WS, AclEntry("agent-b", ("read",), CREATED_AT, None))
        assert upgraded.get_token("0123456789abcdef") == token_record(scope=WS)
        assert [w.name for w in upgraded.list_workspaces_of_agent("agent-b")] == ["ws-a"]


def _memory_pragmas(store: SqliteStore) -> tuple[int, int]:
    conn = store._conn()
    return conn.execute("PRAGMA cache_size").fetchone()[0], conn.execute(
        "PRAGMA mmap_size"
    ).fetchone()[0]


@pytest.mark.parametrize("end", ["commit", "abort"])
def test_a_scan_runs_with_a_small_cache_and_no_map_then_both_come_back(
    store: SqliteStore, end: str
) -> None:
    # A scan's memory must not grow with the tree: no mapped pages, 8 MiB of cache.
    normal = _memory_pragmas(store)
    assert normal == (-32768, 268435456)
    token = store.begin_scan(WS)
    assert _memory_pragmas(store) == (-8192, 0)
    other = store.begin_scan(WS)
    store.abort_scan(WS, other)
    assert _memory_pragmas(store) == (-8192, 0)  # the first scan is still open
    store.abort_scan(WS, "unknown")  # an unknown token changes nothing either
    assert _memory_pragmas(store) == (-8192, 0)
    root = SHARED_NODES[0]
    if end == "commit":
        store.commit_scan(WS, token, root.node_id, None, CREATED_AT)
    else:
        store.abort_scan(WS, token)
    assert _memory_pragmas(store) == normal


def test_an_empty_file_is_a_store_not_found_that_create_completes(tmp_path: Path) -> None:
    """What a creation killed before its schema committed leaves: nothing to lose, nothing to refuse."""
    path = tmp_path / "interrupted.db"
    path.write_bytes(b"")
    with pytest.raises(StoreNotFound, match="empty"):
        SqliteStore(path, create=False)
    with SqliteStore(path, create=True) as store:
        store.create_workspace(workspace_info(WS, "ws-a"))
    with SqliteStore(path, create=False) as reopened:
        assert reopened.get_workspace(WS) is not None
