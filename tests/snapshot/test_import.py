"""import_snapshot against real stores: export -> verify -> import reproduces the workspace.

The sample workspace (tests/snapshot/workspaces.py) is built on SQLite,
exported, and imported into PostgreSQL and LMDB; the canonical dumps of the
kinds an archive carries and the GetNode views of every node must match.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.snapshot.hostile import HOSTILE
from tests.snapshot.workspaces import WS, engine, populate
from treeframe.engine.types import FrameInput
from treeframe.errors import ImportConflict, InvalidRequest, SnapshotInvalid
from treeframe.frames.frame import Frame
from treeframe.frames.views import ViewPolicy
from treeframe.hashing.ids import workspace_id
from treeframe.ids import WorkspaceId
from treeframe.snapshot.export import export_snapshot
from treeframe.snapshot.importer import import_snapshot
from treeframe.storage.base import StorageBackend
from treeframe.storage.dump import dump_lines
from treeframe.storage.registry import open_store

CARRIED = ("node", "content", "frame", "frame_set", "head", "path", "basis_ref", "agent")
"""Dump kinds an import reproduces (roots, path history and audit are the target's own)."""

VIEWS = (
    ViewPolicy(),
    ViewPolicy(ordering="type", type_priority=("review", "summary")),
    ViewPolicy(ordering="agent", agent_priority=("reviewer",)),
    ViewPolicy(types=("summary",)),
    ViewPolicy(max_frames=1),
)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StorageBackend, Path]]:
    store = open_store(f"sqlite://{tmp_path_factory.mktemp('src') / 'store.db'}", create=True)
    populate(store)
    archive = tmp_path_factory.mktemp("archive") / "sample.tar"
    with archive.open("wb") as out:
        export_snapshot(store, WS, out)
    yield store, archive
    store.close()


def carried(store: StorageBackend, ws: WorkspaceId = WS) -> dict[str, list[str]]:
    """The dump lines of the carried kinds, with the workspace ID taken out."""
    out: dict[str, list[str]] = {kind: [] for kind in CARRIED}
    for line in dump_lines(store, ws):
        row = json.loads(line)
        if row["kind"] in out:
            row.pop("ws", None)
            out[row["kind"]].append(json.dumps(row, sort_keys=True))
    return {kind: sorted(lines) for kind, lines in out.items()}


def views(store: StorageBackend, tmp_path: Path) -> list[Any]:
    api = engine(store, tmp_path)
    reader = api.agent_principal("reader")
    return [
        (path, policy.to_dict(), api.get_node(path, policy, principal=reader).to_dict())
        for path, _ in sorted(store.iter_all_paths(WS))
        for policy in VIEWS
    ]


def full_dump(store: StorageBackend) -> list[str]:
    """The whole store's dump but the audit log (a refused import is audited, as every refusal)."""
    return [line for line in dump_lines(store) if json.loads(line)["kind"] != "audit"]


@pytest.fixture(params=["postgres", "lmdb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageBackend]:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database")
    else:
        url = f"lmdb://{tmp_path / 'target.lmdb'}"
    store = open_store(url, create=True)
    yield store
    store.close()


def test_import_reproduces_the_workspace(
    source: tuple[StorageBackend, Path], target: StorageBackend, tmp_path: Path
) -> None:
    store, archive = source
    report = import_snapshot(target, archive)
    assert report.created
    assert report.root_moved
    assert report.workspace_id == WS
    assert target.current_root(WS).root == store.current_root(WS).root  # type: ignore[union-attr]
    ours, theirs = carried(target), carried(store)
    # The source also keeps frames on an older root's nodes, which the archive does not carry.
    for kind in CARRIED:
        assert set(ours[kind]) <= set(theirs[kind]), kind
    assert ours["path"] == theirs["path"]
    assert ours["agent"] == theirs["agent"]
    assert ours["frame"]
    assert ours["basis_ref"]
    assert views(target, tmp_path) == views(store, tmp_path)
    # The basis index: what was built on each imported node or frame is found in the target.
    refs = {json.loads(line)["ref"] for line in ours["basis_ref"]}
    assert refs
    imported = {f.frame_id for f in target.iter_all_frames(WS) if isinstance(f, Frame)}
    for ref in refs:
        expected = [row for row in store.frames_built_on(WS, ref, 100) if row[1] in imported]
        assert expected
        assert target.frames_built_on(WS, ref, 100) == expected
    info = target.get_workspace(WS)
    assert info is not None
    assert info == store.get_workspace(WS)

    before = full_dump(target)
    again = import_snapshot(target, archive)
    assert not again.created
    assert not again.root_moved
    assert set(again.written.values()) == {0}
    assert again.present["frames"] == report.written["frames"]
    assert again.present == report.written
    assert full_dump(target) == before


def test_import_under_another_name(source: tuple[StorageBackend, Path], tmp_path: Path) -> None:
    store, archive = source
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        report = import_snapshot(target, archive, workspace="renamed")
        other = workspace_id("renamed")
        assert report.workspace_id == other
        assert carried(target, other)["path"] == carried(store)["path"]
        assert target.current_root(other).root == store.current_root(WS).root  # type: ignore[union-attr]
        assert target.get_workspace(WS) is None


def test_subtree_import_never_moves_the_root(
    source: tuple[StorageBackend, Path], tmp_path: Path
) -> None:
    store, _ = source
    archive = tmp_path / "src.tar"
    with archive.open("wb") as out:
        export_snapshot(store, WS, out, path="src")
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        report = import_snapshot(target, archive)
        assert report.path == "src"
        assert not report.root_moved
        assert target.current_root(WS) is None
        assert list(target.iter_all_paths(WS)) == []
        src_id = store.lookup_path(WS, "src")
        assert src_id is not None
        assert target.get_node(WS, src_id) is not None
        assert report.written["frames"] > 0


def test_conflicts_are_all_reported_and_nothing_written(
    source: tuple[StorageBackend, Path], tmp_path: Path
) -> None:
    _store, archive = source
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        import_snapshot(target, archive)
        api = engine(target, tmp_path)
        writer = api.agent_principal("writer")
        api.put_frame("README.md", FrameInput("note", b"diverged"), principal=writer)
        api.put_frame("Zeta.md", FrameInput("summary", b"diverged too"), principal=writer)
        before = full_dump(target)
        # The target now has heads the archive does not: re-importing is idempotent for
        # the rest, but the archive's README note head differs from the target's.
        with pytest.raises(ImportConflict) as caught:
            import_snapshot(target, archive)
        kinds = [c["kind"] for c in caught.value.conflicts]
        assert kinds.count("head") == 1
        assert full_dump(target) == before


def test_all_or_nothing(
    source: tuple[StorageBackend, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, archive = source
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        before = full_dump(target)
        calls = {"n": 0}
        real = target.blobs.put_stream

        def failing(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("injected failure")
            return real(*args, **kwargs)

        monkeypatch.setattr(target.blobs, "put_stream", failing)
        with pytest.raises(RuntimeError, match="injected"):
            import_snapshot(target, archive)
        assert calls["n"] == 3
        assert target.get_workspace(WS) is None
        assert full_dump(target) == before


def test_damaged_archive_is_refused_and_nothing_written(
    source: tuple[StorageBackend, Path], tmp_path: Path
) -> None:
    _, archive = source
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(raw))
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        with pytest.raises(SnapshotInvalid) as caught:
            import_snapshot(target, bad)
        assert caught.value.problems
        assert target.get_workspace(WS) is None


def test_unsigned_archive_with_trust_is_refused(
    source: tuple[StorageBackend, Path], tmp_path: Path
) -> None:
    _, archive = source
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        with pytest.raises(SnapshotInvalid) as caught:
            import_snapshot(target, archive, trust=["00" * 31 + "01"])
        assert any(p["code"] == "signature" for p in caught.value.problems)
        assert target.get_workspace(WS) is None


def test_to_dict_shape(source: tuple[StorageBackend, Path], tmp_path: Path) -> None:
    _, archive = source
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        body = import_snapshot(target, archive).to_dict()
    assert set(body) == {
        "workspace",
        "workspace_id",
        "created",
        "root_hash",
        "path",
        "root_moved",
        "signature",
        "written",
        "present",
    }
    assert body["signature"] == {"state": "unsigned", "signer": None}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_every_hostile_archive_is_refused_and_nothing_written(name: str, tmp_path: Path) -> None:
    bad = tmp_path / "hostile.tar"
    bad.write_bytes(HOSTILE[name]())
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        before = full_dump(target)
        with pytest.raises(SnapshotInvalid) as caught:
            import_snapshot(target, bad)
        assert caught.value.problems
        assert full_dump(target) == before


def test_new_frames_into_an_existing_workspace_are_renumbered(
    source: tuple[StorageBackend, Path], tmp_path: Path
) -> None:
    """The target got the archive, then more frames; a later archive's new frames go after them."""
    _store, archive = source
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        import_snapshot(target, archive)
        api = engine(target, tmp_path)
        writer = api.agent_principal("writer")
        api.put_frame("docs/guide.md", FrameInput("todo", b"target-only"), principal=writer)
        highest = max(f.put_seq for f in target.iter_all_frames(WS) if isinstance(f, Frame))
        # The source gets two new frames on another node; export again.
        with open_store(f"sqlite://{tmp_path / 'copy.db'}", create=True) as source_copy:
            import_snapshot(source_copy, archive)
            src_api = engine(source_copy, tmp_path)
            src_writer = src_api.agent_principal("writer")
            src_api.put_frame("Zeta.md", FrameInput("todo", b"first"), principal=src_writer)
            src_api.put_frame("Zeta.md", FrameInput("todo", b"second"), principal=src_writer)
            later = tmp_path / "later.tar"
            with later.open("wb") as out:
                export_snapshot(source_copy, WS, out)
            expected = src_api.get_node("Zeta.md", principal=src_api.agent_principal("reader"))
        report = import_snapshot(target, later)
        assert report.written["frames"] == 2
        assert report.written["heads"] == 1
        new = [f for f in target.iter_all_frames(WS) if isinstance(f, Frame) and f.seq > highest]
        assert len(new) == 2
        got = api.get_node("Zeta.md", principal=api.agent_principal("reader"))
        # The same frames in the same view order, under the target's own numbers.
        assert [f.to_dict()["frame_id"] for f in got.frames] == [
            f.to_dict()["frame_id"] for f in expected.frames
        ]
        assert min(f.seq for f in new) > highest
        # The basis index holds the new frames: frames built on Zeta.md's node are found.


def _export(store: StorageBackend, path: Path) -> Path:
    with path.open("wb") as out:
        export_snapshot(store, WS, out)
    return path


def test_a_frame_put_again_after_a_new_one_stays_the_most_recent(
    source: tuple[StorageBackend, Path], tmp_path: Path
) -> None:
    """Source: f1 imported; then f0 put and f1 put again. The target's view and head agree."""
    _store, archive = source
    with (
        open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target,
        open_store(f"sqlite://{tmp_path / 's.db'}", create=True) as origin,
    ):
        import_snapshot(origin, archive)
        src = engine(origin, tmp_path)
        writer = src.agent_principal("writer")
        src.put_frame("Zeta.md", FrameInput("recap", b"one"), principal=writer)
        import_snapshot(target, _export(origin, tmp_path / "first.tar"))
        src.put_frame("Zeta.md", FrameInput("recap", b"zero"), principal=writer)
        src.put_frame("Zeta.md", FrameInput("recap", b"one"), principal=writer)  # again: newest
        later = _export(origin, tmp_path / "later.tar")
        expected = src.get_node("Zeta.md", principal=src.agent_principal("reader"))
        import_snapshot(target, later)
        api = engine(target, tmp_path)
        got = api.get_node("Zeta.md", principal=api.agent_principal("reader"))
        assert [f.to_dict()["frame_id"] for f in got.frames] == [
            f.to_dict()["frame_id"] for f in expected.frames
        ]
        # The target now exports an archive that verifies (its head is its type's newest put).
        again = _export(target, tmp_path / "again.tar")
        from treeframe.snapshot.verify import verify_archive

        with again.open("rb") as data:
            assert verify_archive(data).ok
        repeated = import_snapshot(target, later)
        assert not any(repeated.written.values()), repeated.written


def test_a_repeat_import_writes_nothing_when_the_target_has_more_frames(
    source: tuple[StorageBackend, Path], tmp_path: Path
) -> None:
    _store, archive = source
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        import_snapshot(target, archive)
        api = engine(target, tmp_path)
        api.put_frame(
            "docs/guide.md",
            FrameInput("todo", b"only here"),
            principal=api.agent_principal("writer"),
        )
        before = full_dump(target)
        report = import_snapshot(target, archive)
        assert not any(report.written.values()), report.written
        after = [line for line in full_dump(target) if '"kind":"audit"' not in line]
        assert after == [line for line in before if '"kind":"audit"' not in line]


@pytest.mark.parametrize("name", ["", "   ", "evil\nname", "x" * 5000])
def test_bad_workspace_names_are_refused_before_anything_is_written(
    source: tuple[StorageBackend, Path], tmp_path: Path, name: str
) -> None:
    _store, archive = source
    with open_store(f"sqlite://{tmp_path / 't.db'}", create=True) as target:
        with pytest.raises(InvalidRequest):
            import_snapshot(target, archive, workspace=name)
        assert target.list_workspaces(include_deleted=True) == []
