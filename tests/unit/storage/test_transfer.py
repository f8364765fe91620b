"""copy_store: lossless round trips, idempotent reruns, resumption after a crash, verification."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest

from tests.unit.storage.realistic import GONE, MAIN, build
from treeframe.errors import ConfigError, IntegrityError, StoreCorrupt, WorkspaceNotFound
from treeframe.frames.frame import Frame
from treeframe.frames.merkle_set import root_of_raw
from treeframe.storage.base import StorageBackend
from treeframe.storage.dump import dump_lines, summarize
from treeframe.storage.memory import MemoryStore
from treeframe.storage.registry import open_store
from treeframe.storage.transfer import COPY_KINDS, copy_store, verify_copy
from treeframe.storage.urls import sqlite_url
from treeframe.testing.factories import CREATED_AT, make_file, make_frame, put_frame

INDEXES = {"basis_ref", "path_history"}  # imported as they are: "written" counts what was sent


def _sqlite(path: Path) -> StorageBackend:
    return open_store(sqlite_url(str(path)))


@pytest.fixture
def source(tmp_path: Path) -> MemoryStore:
    store = MemoryStore()
    build(store, tmp_path)
    return store


def _pointers_name_stored_rows(store: StorageBackend) -> None:
    """No head, path, frame set or current root of ``store`` names a row it lacks."""
    for info in store.list_workspaces(include_deleted=True):
        ws = info.workspace_id
        heads = list(store.iter_all_heads(ws))
        assert set(store.get_frames(ws, [f for _, _, f in heads])) == {f for _, _, f in heads}
        named = {n for _, n in store.iter_all_paths(ws)} | {
            n for n, _ in store.iter_all_frame_sets(ws)
        }
        root = store.current_root(ws)
        if root is not None:
            named.add(root.root)
        assert set(store.get_nodes(ws, sorted(named))) == named


def test_round_trip_memory_sqlite_memory_sqlite_keeps_the_dump(
    source: MemoryStore, tmp_path: Path
) -> None:
    expected = list(dump_lines(source))
    assert len(expected) > 100
    hops: list[StorageBackend] = [
        _sqlite(tmp_path / "one.db"),
        MemoryStore(),
        _sqlite(tmp_path / "two.db"),
    ]
    previous: StorageBackend = source
    for batch, target in zip((1, 7, 500), hops, strict=True):
        report = copy_store(previous, target, batch=batch)
        assert report.verified
        assert sorted(report.workspaces) == ["gone", "main"]
        assert list(dump_lines(target)) == expected
        assert report.target == report.source == summarize(source)
        previous = target
    for target in hops:
        target.close()


def test_the_copy_keeps_sequences_tombstones_and_the_audit_chain(
    source: MemoryStore, tmp_path: Path
) -> None:
    with _sqlite(tmp_path / "t.db") as target:
        copy_store(source, target)
        assert target.get_workspace(GONE) == source.get_workspace(GONE)
        assert target.list_workspaces() == source.list_workspaces()  # the tombstone hides "gone"
        last = max(f.put_seq for f in source.iter_all_frames(MAIN))  # type: ignore[union-attr]
        node = make_file("after.txt", b"after")
        target.put_nodes(MAIN, [node])
        fresh, content = make_frame(node, b"after the move")
        stored = put_frame(target, MAIN, fresh, content, root_of_raw, CREATED_AT).frame
        assert stored.seq == last + 1
        assert list(target.iter_audit(MAIN)) == list(source.iter_audit(MAIN))


def test_a_rerun_writes_nothing_and_changes_nothing(source: MemoryStore, tmp_path: Path) -> None:
    with _sqlite(tmp_path / "t.db") as target:
        first = copy_store(source, target, batch=5)
        before = list(dump_lines(target))
        again = copy_store(source, target, batch=5)
        assert again.verified
        assert again.seen == first.seen
        assert {k: v for k, v in again.written.items() if k not in INDEXES} == dict.fromkeys(
            set(COPY_KINDS) - INDEXES, 0
        )
        assert list(dump_lines(target)) == before


def test_a_rerun_carries_over_what_the_source_gained(source: MemoryStore, tmp_path: Path) -> None:
    with _sqlite(tmp_path / "t.db") as target:
        copy_store(source, target)
        heads = {f for _, _, f in source.iter_all_heads(MAIN)}
        older = [f for f in source.iter_all_frames(MAIN) if f.frame_id not in heads]  # type: ignore[union-attr]
        assert isinstance(older[0], Frame)
        again = source.append_frame(MAIN, older[0], root_of_raw, CREATED_AT)  # a re-put
        assert not again.created
        assert again.frame.put_seq > older[0].put_seq
        node = make_file("late.txt", b"late")
        source.put_nodes(MAIN, [node])
        put_frame(source, MAIN, *make_frame(node, b"late"), root_of_raw, CREATED_AT)
        with pytest.raises(IntegrityError):
            verify_copy(source, target)
        report = copy_store(source, target)
        assert report.written["frame"] == 2
        assert list(dump_lines(target)) == list(dump_lines(source))


class Crash(Exception):
    """The simulated interruption."""


class CrashingStore:
    """A real store that dies after ``budget`` writes: the migration is cut there."""

    WRITES = frozenset(
        {
            "import_workspace",
            "import_frames",
            "import_frame_sets",
            "import_heads",
            "import_roots",
            "import_paths",
            "import_path_history",
            "import_basis_refs",
            "import_audit",
            "put_nodes",
            "put_agent",
            "put_acl",
            "put_token",
            "unit_of_work",
        }
    )

    def __init__(self, store: StorageBackend, budget: int) -> None:
        self._store = store
        self.budget = budget

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name not in self.WRITES:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            if self.budget <= 0:
                raise Crash(f"crashed before {name}")
            self.budget -= 1
            return attr(*args, **kwargs)

        return counted


@pytest.mark.parametrize("budget", [0, 1, 2, 5, 9, 14, 20, 30, 45])
def test_an_interrupted_copy_resumes_and_loses_nothing(
    source: MemoryStore, tmp_path: Path, budget: int
) -> None:
    with _sqlite(tmp_path / "t.db") as target:
        with pytest.raises(Crash):
            copy_store(source, cast(StorageBackend, CrashingStore(target, budget)), batch=3)
        _pointers_name_stored_rows(target)
        report = copy_store(source, target, batch=3)
        assert report.verified
        assert list(dump_lines(target)) == list(dump_lines(source))


def test_one_workspace_by_name_or_id(source: MemoryStore, tmp_path: Path) -> None:
    for ref in ("main", MAIN):
        with _sqlite(tmp_path / f"{ref[:4]}.db") as target:
            report = copy_store(source, target, workspace=ref)
            assert report.workspaces == ["main"]
            assert [i.workspace_id for i in target.list_workspaces(include_deleted=True)] == [MAIN]
            assert [t.scope for t in target.list_tokens()] == [MAIN]
            assert list(dump_lines(target, MAIN)) == list(dump_lines(source, MAIN))


def test_unknown_workspace_or_bad_batch_writes_nothing(source: MemoryStore, tmp_path: Path) -> None:
    with _sqlite(tmp_path / "t.db") as target:
        before = list(dump_lines(target))
        with pytest.raises(WorkspaceNotFound, match="nowhere"):
            copy_store(source, target, workspace="nowhere")
        with pytest.raises(ConfigError, match="batch"):
            copy_store(source, target, batch=0)
        with pytest.raises(ConfigError, match="same store"):
            copy_store(target, target)
        assert list(dump_lines(target)) == before
        assert target.list_workspaces(include_deleted=True) == []


TAMPER: dict[str, tuple[str, str]] = {
    "head": ("UPDATE heads SET type = 'forged' WHERE {first_head}", "head"),
    "content": ("", "hashes to"),
    "path": ("DELETE FROM paths WHERE path = 'README.md'", "path"),
    "acl": ("UPDATE acl SET permissions = 'admin'", "acl"),
    "audit": ("UPDATE audit_log SET agent = 'mallory' WHERE seq = 2", "audit"),
    "frame": ("UPDATE frames SET put_seq = put_seq + 1000 WHERE seq = 1", "frame"),
}


@pytest.mark.parametrize("what", sorted(TAMPER))
def test_verify_detects_a_tampered_target(source: MemoryStore, tmp_path: Path, what: str) -> None:
    path = tmp_path / "t.db"
    with _sqlite(path) as target:
        copy_store(source, target)
    sql, message = TAMPER[what]
    with sqlite3.connect(path) as db:
        if what == "content":
            (data,) = db.execute("SELECT data FROM contents LIMIT 1").fetchone()
            db.execute("UPDATE contents SET data = ? WHERE data = ?", (data + b"!", data))
        else:
            first_head = "(ws, node, type) IN (SELECT ws, node, type FROM heads LIMIT 1)"
            sql = sql.format(first_head=first_head)  # heads is WITHOUT ROWID
            assert db.execute(sql).rowcount > 0
    with _sqlite(path) as target, pytest.raises(IntegrityError, match=message):
        verify_copy(source, target)


def test_a_damaged_source_row_stops_the_copy(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with _sqlite(path) as store:
        build(store, tmp_path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE nodes SET record = ? WHERE rowid = 1", (b"{not json",))
    with (
        _sqlite(path) as store,
        _sqlite(tmp_path / "t.db") as target,
        pytest.raises(StoreCorrupt, match="damaged"),
    ):
        copy_store(store, target)


def test_progress_reports_every_kind_up_to_its_total(source: MemoryStore) -> None:
    seen: dict[str, list[tuple[int, int | None]]] = {}

    def report_progress(kind: str, done: int, total: int | None) -> None:
        seen.setdefault(kind, []).append((done, total))

    report = copy_store(source, MemoryStore(), batch=2, progress=report_progress)
    assert set(seen) == set(COPY_KINDS)  # every kind ends, empty ones at 0 of 0
    for kind, ticks in seen.items():
        assert ticks[-1][0] == report.seen[kind]
        assert [done for done, _ in ticks] == sorted(done for done, _ in ticks)
    assert seen["node"][-1] == (report.seen["node"], report.seen["node"])
    assert seen["frame"][-1] == (report.seen["frame"], report.seen["frame"])
