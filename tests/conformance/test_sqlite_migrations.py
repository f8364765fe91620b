"""SqliteStore schema migrations on the version-3 fixture written by the code of 6c928f7."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from treeframe.errors import StorageError
from treeframe.ids import WorkspaceId
from treeframe.storage import sqlite as sqlite_module
from treeframe.storage.migrations import Migration, VersionedStore
from treeframe.storage.sqlite import SCHEMA_VERSION, SqliteStore
from treeframe.storage.values import WorkspaceInfo

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "store-v3.db"


@pytest.fixture
def v3_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    shutil.copyfile(FIXTURE, path)
    return path


def _state(path: Path) -> tuple[str, set[str], list[tuple[Any, ...]] | None]:
    """Version, frames columns and schema_migrations rows (None: no such table)."""
    conn = sqlite3.connect(path)
    try:
        (version,) = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(frames)")}
        try:
            rows = conn.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall()
        except sqlite3.OperationalError:
            rows = None
    finally:
        conn.close()
    return version, columns, rows


def test_schema_version_is_the_last_step() -> None:
    assert SCHEMA_VERSION == sqlite_module._MIGRATIONS[-1].version == 9


def test_a_new_store_records_its_creation(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "new.db") as store:
        assert isinstance(store, VersionedStore)
        status = store.schema_status()
        assert (status.current, status.latest, status.pending) == (9, 9, ())
    version, columns, rows = _state(tmp_path / "new.db")
    assert version == "9"
    assert "put_seq" in columns
    assert rows is not None
    assert [row[:2] for row in rows] == [(9, "create")]


def test_migrate_false_and_read_only_leave_an_old_store_alone(v3_path: Path) -> None:
    with SqliteStore(v3_path, migrate=False) as store:
        assert [v for v, _ in store.schema_status().pending] == [4, 5, 6, 7, 8, 9]
    with SqliteStore(v3_path, read_only=True) as store:
        assert store.schema_status().current == 3
        with pytest.raises(StorageError, match="read-only"):
            store.migrate_schema()
    assert _state(v3_path)[0] == "3"


def _failing(version: int) -> Migration[sqlite3.Connection]:
    def apply(tx: sqlite3.Connection) -> None:
        tx.execute("CREATE TABLE half_done (x INTEGER)")
        tx.execute("UPDATE frames SET agent = 'mangled'")
        raise sqlite3.OperationalError(f"step {version} failed")

    return Migration(version, "failing", apply)


def test_a_failed_first_step_rolls_back_and_leaves_version_3(
    v3_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _state(v3_path)
    monkeypatch.setattr(sqlite_module, "_MIGRATIONS", (_failing(4), *sqlite_module._MIGRATIONS[1:]))
    with pytest.raises(StorageError, match="step 4 failed"):
        SqliteStore(v3_path)
    assert _state(v3_path) == before
    conn = sqlite3.connect(v3_path)
    try:
        assert (
            conn.execute("SELECT name FROM sqlite_master WHERE name='half_done'").fetchall() == []
        )
        assert conn.execute("SELECT count(*) FROM frames WHERE agent='mangled'").fetchone() == (0,)
    finally:
        conn.close()
    monkeypatch.undo()
    with SqliteStore(v3_path) as store:  # the real steps still apply afterwards
        assert store.schema_status().current == SCHEMA_VERSION


def test_a_failed_later_step_keeps_the_steps_before_it(
    v3_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_MIGRATIONS", (*sqlite_module._MIGRATIONS, _failing(10)))
    with pytest.raises(StorageError, match="step 10 failed"):
        SqliteStore(v3_path)
    version, columns, rows = _state(v3_path)
    assert version == "9"
    assert "put_seq" in columns
    assert rows is not None
    assert [row[0] for row in rows] == [4, 5, 6, 7, 8, 9]


def _migrate_worker(path: str, barrier: Any, results: Any) -> None:
    """Runs in a child process: opens the old store unmigrated, then races to migrate it."""
    try:
        with SqliteStore(path, busy_timeout_ms=60_000, migrate=False) as store:
            barrier.wait(timeout=60)
            results.put([version for version, _ in store.migrate_schema()])
    except BaseException as exc:
        results.put(f"failed: {exc!r}")
        raise


def test_concurrent_processes_apply_each_step_once(v3_path: Path) -> None:
    workers = 4
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_migrate_worker, args=(str(v3_path), barrier, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert all(isinstance(report, list) for report in reports), reports
    assert sorted(v for report in reports for v in report) == [4, 5, 6, 7, 8, 9]
    version, _, rows = _state(v3_path)
    assert version == "9"
    assert rows is not None
    assert [row[0] for row in rows] == [4, 5, 6, 7, 8, 9]


def test_version_6_gives_old_workspaces_metadata_from_their_first_root(v3_path: Path) -> None:
    conn = sqlite3.connect(v3_path)
    try:
        old = conn.execute(
            "SELECT w.wsid, w.name, min(r.created_at) FROM workspaces AS w"
            " LEFT JOIN root_history AS r ON r.ws = w.id GROUP BY w.id ORDER BY w.name"
        ).fetchall()
    finally:
        conn.close()
    assert old
    with SqliteStore(v3_path, read_only=True) as store:  # read as it is: placeholders
        [first] = [store.get_workspace(WorkspaceId(old[0][0].hex()))]
        assert first == WorkspaceInfo(first.workspace_id, old[0][1], "", None, "", None)
    with SqliteStore(v3_path) as store:
        infos = store.list_workspaces(include_deleted=True)
        assert [(bytes.fromhex(i.workspace_id), i.name) for i in infos] == [r[:2] for r in old]
        for info, (_, _, first_root) in zip(infos, old, strict=True):
            assert (info.description, info.owner, info.deleted_at) == ("", None, None)
            assert info.created_at == first_root or (first_root is None and info.created_at)
        gone = store.set_workspace_deleted(infos[0].workspace_id, "2030-01-01T00:00:00Z")
        assert store.list_workspaces() == infos[1:]
        assert gone.deleted_at == "2030-01-01T00:00:00Z"


def test_version_8_adds_an_empty_audit_log_that_then_chains(v3_path: Path) -> None:
    with SqliteStore(v3_path) as store:
        (ws,) = [w.workspace_id for w in store.list_workspaces()]
        assert list(store.iter_audit(ws)) == []
        assert store.audit_head(ws) is None
    conn = sqlite3.connect(v3_path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert {"audit_log", "audit_by_agent", "audit_by_operation", "audit_by_node"} <= names


def test_version_9_keeps_old_contents_readable_as_codec_none(v3_path: Path) -> None:
    conn = sqlite3.connect(v3_path)
    try:
        old = conn.execute(
            "SELECT w.wsid, c.hash, c.data FROM contents AS c JOIN workspaces AS w ON w.id = c.ws"
            " ORDER BY c.hash"
        ).fetchall()
    finally:
        conn.close()
    assert old
    ws = WorkspaceId(old[0][0].hex())
    expected = {h.hex(): bytes(d) for wsid, h, d in old if wsid == old[0][0]}
    with SqliteStore(v3_path, read_only=True) as store:  # read as it is: codec none, inline
        assert dict(store.blobs.iter_all(ws)) == expected
    with SqliteStore(v3_path) as store:
        assert dict(store.blobs.iter_all(ws)) == expected
    conn = sqlite3.connect(v3_path)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(contents)")}
        placed = set(conn.execute("SELECT codec, external FROM contents").fetchall())
    finally:
        conn.close()
    assert {"codec", "external"} <= columns
    assert placed == {("none", 0)}
