"""LmdbStore on its own: map growth, atomic units, reopening, read-only, URLs, damage, import."""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path

import lmdb
import pytest

from tests.unprivileged import run_unprivileged
from treeframe.errors import (
    ConfigError,
    StorageError,
    StoreCorrupt,
    StoreNotFound,
    VersionNotSupported,
)
from treeframe.frames.frame import Basis
from treeframe.frames.merkle_set import root_of_raw
from treeframe.storage.base import BulkImport
from treeframe.storage.catalog import ContentCatalog
from treeframe.storage.lmdb import SCHEMA_VERSION, LmdbStore
from treeframe.storage.registry import lmdb_url, open_store
from treeframe.storage.values import AclEntry, AuditDraft, Damaged
from treeframe.testing.conformance import store_state
from treeframe.testing.factories import (
    CREATED_AT,
    make_dir,
    make_file,
    make_frame,
    make_ws,
    put_frame,
    workspace_info,
)

WS = make_ws("ws-a")


def fresh(path: Path, **options: object) -> LmdbStore:
    store = LmdbStore(path, **options)  # type: ignore[arg-type]
    store.create_workspace(workspace_info(WS, "ws-a"))
    return store


def test_a_tiny_map_grows_as_records_arrive(tmp_path: Path) -> None:
    with fresh(tmp_path / "s", map_size=64 << 10) as store:
        records = [make_file(f"f{i}", str(i).encode()) for i in range(3000)]
        for start in range(0, 3000, 500):
            store.put_nodes(WS, records[start : start + 500])
        assert store._environment().map_size() > 64 << 10
        assert store.get_nodes(WS, [r.node_id for r in records]) == {r.node_id: r for r in records}
    with LmdbStore(tmp_path / "s", map_size=64 << 10) as again:  # reopens at the grown size
        assert again.workspace_counts(WS) == (3000, 0)


def test_a_unit_that_overflows_the_map_rolls_back_and_the_retry_fits(tmp_path: Path) -> None:
    with fresh(tmp_path / "s", map_size=256 << 10) as store:
        records = [make_file(f"g{i}", str(i).encode()) for i in range(20000)]

        def unit() -> None:
            with store.unit_of_work():
                store.put_agent(WS, "in-unit", b"x")
                store.put_nodes(WS, records)

        with pytest.raises(StorageError, match="run the operation again"):
            unit()
        assert store.get_agent(WS, "in-unit") is None
        assert store.workspace_counts(WS) == (0, 0)
        for _ in range(8):  # each failure doubles the map: a few rounds at most
            try:
                unit()
                break
            except StorageError:
                continue
        assert store.workspace_counts(WS) == (20000, 0)


def test_a_failed_unit_leaves_nothing_even_for_another_handle(tmp_path: Path) -> None:
    with fresh(tmp_path / "s") as store, LmdbStore(tmp_path / "s") as other:
        node = make_file()
        store.put_nodes(WS, [node])

        def failing() -> None:
            with store.unit_of_work():
                put_frame(store, WS, *make_frame(node), root_of_raw, CREATED_AT)
                store.append_audit(
                    WS, AuditDraft(CREATED_AT, "a", "frame.put", None, None, True, None, None)
                )
                assert other.get_heads_many(WS, [node.node_id]) == {}  # not yet visible
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError):
            failing()
        assert other.get_heads_many(WS, [node.node_id]) == {}
        assert other.audit_head(WS) is None
        assert put_frame(other, WS, *make_frame(node), root_of_raw, CREATED_AT).frame.seq == 1


def test_a_caught_failure_inside_a_unit_undoes_only_itself(tmp_path: Path) -> None:
    with fresh(tmp_path / "s") as store:
        with store.unit_of_work():
            store.put_agent(WS, "kept", b"1")
            with pytest.raises(StorageError):
                store.stage_paths(WS, "no-such-token", [("a", make_file().node_id)])
            store.put_agent(WS, "also-kept", b"2")
        assert [a for a, _ in store.list_agents(WS)] == ["also-kept", "kept"]


def test_reopen_after_close_keeps_everything_and_a_closed_handle_refuses(tmp_path: Path) -> None:
    path = tmp_path / "s"
    store = fresh(path)
    node = make_file()
    store.put_nodes(WS, [node])
    stored = put_frame(store, WS, *make_frame(node), root_of_raw, CREATED_AT).frame
    before = store_state(store, WS)
    second = LmdbStore(path)  # a second handle in the same process shares the environment
    store.close()
    assert second.get_frame(WS, stored.frame_id) == stored
    second.close()
    with pytest.raises(StorageError, match="closed"):
        store.get_node(WS, node.node_id)
    with LmdbStore(path, create=False) as again:
        assert store_state(again, WS) == before
        assert again.schema_status().current == SCHEMA_VERSION


def test_read_only_open_reads_and_refuses_writes(tmp_path: Path) -> None:
    with fresh(tmp_path / "s") as store:
        store.put_agent(WS, "a", b"1")
    with LmdbStore(tmp_path / "s", read_only=True) as reader:
        assert reader.get_agent(WS, "a") == b"1"
        with pytest.raises(StorageError, match="read-only"):
            reader.put_agent(WS, "b", b"2")
        with pytest.raises(StorageError, match="read-only"), reader.unit_of_work():
            pass


def test_read_only_open_works_in_a_read_only_directory(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with fresh(path) as store:
        store.put_agent(WS, "a", b"1")
    for name in os.listdir(path):
        os.chmod(path / name, 0o444)
    os.chmod(path, 0o555)

    def read() -> bytes | None:
        with LmdbStore(path, read_only=True) as reader:
            return reader.get_agent(WS, "a")

    try:
        assert run_unprivileged(read) == b"1"
    finally:
        os.chmod(path, 0o755)


def test_lmdb_urls_round_trip_and_options_are_strict(tmp_path: Path) -> None:
    directory = tmp_path / "a b?#%"
    url = lmdb_url(directory)
    assert "#" not in url
    assert "?" not in url
    with open_store(url + "?map_size_mb=2&lock_timeout_ms=100") as store:
        assert isinstance(store, LmdbStore)
        assert store.url == url
        assert store._environment().map_size() == 2 << 20
        store.create_workspace(workspace_info(WS, "ws-a"))
    with open_store(url + "?sync=off", create=False) as again:
        assert again.get_workspace(WS) == workspace_info(WS, "ws-a")
        assert isinstance(again, LmdbStore)
        assert again._environment().sync is False
    for bad in [
        "?map_size_mb=0",
        "?map_size_mb=-1",
        "?map_size_mb=lots",
        "?lock_timeout_ms=1.5",
        "?busy_timeout_ms=10",
        "?map_size_mb=2&extra=1",
        "?sync=maybe",
    ]:
        with pytest.raises(ConfigError):
            open_store(url + bad)
    for bad_url in ["lmdb://relative/dir", "lmdb:///", "lmdb://"]:
        with pytest.raises(ConfigError, match="absolute path"):
            open_store(bad_url)
    with pytest.raises(ConfigError, match="lmdb"):
        open_store("nosuch:///x")


def test_missing_stores_are_not_created_unless_asked(tmp_path: Path) -> None:
    for read_only in (False, True):
        with pytest.raises(StoreNotFound):
            LmdbStore(tmp_path / "missing", create=False, read_only=read_only)
    assert not (tmp_path / "missing").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreNotFound):
        open_store(lmdb_url(tmp_path / "empty"), create=False)
    assert os.listdir(tmp_path / "empty") == []


def test_damaged_or_foreign_paths_are_store_corrupt(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"SQLite format 3\x00")
    with pytest.raises(StoreCorrupt, match="not an LMDB store directory"):
        LmdbStore(tmp_path / "file")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "data.mdb").write_bytes(os.urandom(3 * 4096))
    with pytest.raises(StoreCorrupt):
        LmdbStore(garbage)
    foreign = tmp_path / "foreign"
    with lmdb.open(str(foreign)) as env, env.begin(write=True) as txn:
        txn.put(b"someone", b"else")
    with pytest.raises(StoreCorrupt, match="not a treeframe store"):
        LmdbStore(foreign)
    with lmdb.open(str(foreign)) as env, env.begin() as txn:
        assert txn.get(b"someone") == b"else"  # left as it was


def test_an_empty_environment_is_refused_without_create(tmp_path: Path) -> None:
    with lmdb.open(str(tmp_path / "bare")):
        pass
    with pytest.raises(StoreCorrupt, match="empty"):
        LmdbStore(tmp_path / "bare", create=False)


def test_schema_versions_go_through_the_migration_runner(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with fresh(path) as store:
        status = store.schema_status()
        assert (status.current, status.latest, status.pending) == (1, 1, ())
        assert store.migrate_schema() == ()
    # A creation cut short after version 0: the next open finishes it.
    half = tmp_path / "half"
    with lmdb.open(str(half), max_dbs=4) as env:
        meta = env.open_db(b"meta")
        with env.begin(write=True) as txn:
            txn.put(b"format", b"treeframe-lmdb", db=meta)
            txn.put(b"schema_version", b"0", db=meta)
    with LmdbStore(half, migrate=False) as pending_store:
        assert pending_store.schema_status().pending == ((1, "layout"),)
        assert pending_store.migrate_schema() == ((1, "layout"),)
    with LmdbStore(half) as done:
        done.create_workspace(workspace_info(WS, "ws-a"))
        assert done.schema_status().current == 1
    with lmdb.open(str(path), max_dbs=64) as env:
        meta = env.open_db(b"meta")
        with env.begin(write=True) as txn:
            txn.put(b"schema_version", b"99", db=meta)
    with pytest.raises(VersionNotSupported, match="newer"):
        LmdbStore(path)


def test_paths_longer_than_a_key_round_trip(tmp_path: Path) -> None:
    deep = "/".join(["d" * 60] * 12) + "/leaf.txt"  # ~740 bytes: over LMDB's 511-byte keys
    also = deep[:-8] + "twin.txt"  # shares the cut prefix, differs at the end
    a, b = make_file(deep, b"1"), make_file(also, b"2")
    a2 = make_file(deep, b"changed")
    root1, root2 = make_dir("", [a, b]), make_dir("", [a2, b])
    with fresh(tmp_path / "s") as store:
        store.put_nodes(WS, [a, b, a2, root1, root2])
        for root, node in ((root1, a), (root2, a2)):
            token = store.begin_scan(WS)
            store.stage_paths(
                WS, token, [("", root.node_id), (deep, node.node_id), (also, b.node_id)]
            )
            current = store.current_root(WS)
            store.commit_scan(
                WS, token, root.node_id, current.root if current else None, CREATED_AT
            )
        assert store.lookup_paths(WS, [deep, also]) == {deep: a2.node_id, also: b.node_id}
        assert dict(store.iter_all_paths(WS)) == {
            "": root2.node_id,
            deep: a2.node_id,
            also: b.node_id,
        }
        assert store.path_history(WS, deep, 5) == [(2, a.node_id)]
        assert (deep, 2, a.node_id) in list(store.iter_all_path_history(WS))


def test_bulk_import_copies_a_workspace_exactly_and_idempotently(tmp_path: Path) -> None:
    with fresh(tmp_path / "src") as source, LmdbStore(tmp_path / "dst") as target:
        assert isinstance(target, BulkImport)
        assert isinstance(target, ContentCatalog)
        file, root = make_file("a", b"a"), make_dir("", [make_file("a", b"a")])
        source.put_nodes(WS, [file, root])
        token = source.begin_scan(WS)
        source.stage_paths(WS, token, [("", root.node_id), ("a", file.node_id)])
        source.commit_scan(WS, token, root.node_id, None, CREATED_AT)
        x = put_frame(source, WS, *make_frame(file, b"x"), root_of_raw, CREATED_AT).frame
        put_frame(source, WS, *make_frame(file, b"y"), root_of_raw, CREATED_AT)
        put_frame(source, WS, *make_frame(file, b"x"), root_of_raw, CREATED_AT)  # a re-put
        put_frame(
            source,
            WS,
            *make_frame(root, b"s", basis=Basis.frame(x.frame_id)),
            root_of_raw,
            CREATED_AT,
        )
        source.put_agent(WS, "agent-a", b"{}")
        source.put_acl(WS, AclEntry("agent-b", ("read",), CREATED_AT, None))
        source.append_audit(
            WS, AuditDraft(CREATED_AT, "agent-a", "frame.put", None, None, True, None, None)
        )

        def copy() -> None:
            info = source.get_workspace(WS)
            assert info is not None
            target.import_workspace(info, 1 + max(f.put_seq for f in source.iter_all_frames(WS)))  # type: ignore[union-attr]
            target.put_nodes(WS, list(source.iter_all_nodes(WS)))  # type: ignore[misc]
            for digest in source.catalog_iter(WS):
                for d, (codec, stored) in source.catalog_get(WS, [digest]).items():
                    target.catalog_insert(WS, d, codec, stored)
            target.import_frames(WS, list(source.iter_all_frames(WS)))  # type: ignore[arg-type]
            target.import_frame_sets(WS, list(source.iter_all_frame_sets(WS)))
            target.import_heads(WS, list(source.iter_all_heads(WS)))
            target.import_roots(WS, source.root_history(WS, 100))
            target.import_paths(WS, list(source.iter_all_paths(WS)))
            target.import_path_history(WS, list(source.iter_all_path_history(WS)))
            refs = [
                (ref, seq, fid)
                for ref in {r for r, _ in source.iter_all_basis_refs(WS)}
                for seq, fid in source.frames_built_on(WS, ref, 100)
            ]
            target.import_basis_refs(WS, refs)
            target.import_audit(WS, list(source.iter_audit(WS)))
            for agent, record in source.list_agents(WS):
                target.put_agent(WS, agent, record)
            for entry in source.list_acl(WS):
                target.put_acl(WS, entry)

        copy()
        copy()  # idempotent: a resumed copy changes nothing
        assert store_state(target, WS) == store_state(source, WS)
        assert list(target.iter_audit(WS)) == list(source.iter_audit(WS))
        assert target.list_acl(WS) == source.list_acl(WS)
        assert target.current_root(WS) == source.current_root(WS)
        node_order = [f.frame_id for f in source.iter_node_frames(WS, file.node_id)]
        assert [f.frame_id for f in target.iter_node_frames(WS, file.node_id)] == node_order
        nxt = put_frame(target, WS, *make_frame(file, b"z"), root_of_raw, CREATED_AT).frame
        assert nxt.seq == 5  # the copied sequence continues (4 puts so far)


def test_damaged_rows_are_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "s"
    node = make_file()
    with fresh(path) as store:
        store.put_nodes(WS, [node])
        frame = put_frame(store, WS, *make_frame(node), root_of_raw, CREATED_AT).frame
        ws_key = store._ws(WS)
    with lmdb.open(str(path), max_dbs=64) as env:
        nodes, frames = env.open_db(b"nodes"), env.open_db(b"frames")
        with env.begin(write=True) as txn:
            txn.put(ws_key + bytes.fromhex(node.node_id), b"{not json", db=nodes)
            value = txn.get(ws_key + bytes.fromhex(frame.frame_id), db=frames)
            txn.put(ws_key + bytes.fromhex(frame.frame_id), value[:8] + b"[]", db=frames)
    with LmdbStore(path) as store:
        (bad_node,) = store.iter_all_nodes(WS)
        assert isinstance(bad_node, Damaged)
        assert bad_node.key == node.node_id
        (bad_frame,) = store.iter_all_frames(WS)
        assert isinstance(bad_frame, Damaged)
        assert bad_frame.key == frame.frame_id


def test_threads_keep_reading_while_writers_grow_the_map(tmp_path: Path) -> None:
    """The resize gate: growth waits for open reads, reads wait for growth; nothing breaks."""
    with fresh(tmp_path / "s", map_size=64 << 10, sync=False) as store:
        first = make_file("first", b"first")
        store.put_nodes(WS, [first])
        stop = threading.Event()
        errors: list[BaseException] = []
        reads = [0]

        def read() -> None:
            try:
                while not stop.is_set():
                    assert store.get_node(WS, first.node_id) == first
                    assert len(list(itertools.islice(store.iter_all_nodes(WS), 300))) >= 1
                    reads[0] += 1
                    # Yield the GIL between reads like a server's readers do: two
                    # threads spinning in pure Python starve a writer whose every
                    # LMDB call drops and re-takes the GIL (a convoy measured at
                    # 30-45 s per 200-record batch; see docs/BACKENDS.md, LMDB).
                    time.sleep(0.0005)
            except BaseException as exc:  # examined below
                errors.append(exc)

        def write(worker: int) -> None:
            try:
                for batch in range(10):
                    store.put_nodes(
                        WS, [make_file(f"w{worker}-{batch}-{i}", b"x" * 100) for i in range(200)]
                    )
            except BaseException as exc:  # examined below
                errors.append(exc)

        readers = [threading.Thread(target=read) for _ in range(2)]
        writers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
        for thread in readers + writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=120)
        stop.set()
        for thread in readers:
            thread.join(timeout=60)
        assert errors == []
        assert reads[0] > 0
        assert store.workspace_counts(WS) == (6001, 0)
        assert store._environment().map_size() > 64 << 10
