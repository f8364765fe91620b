"""export_snapshot against real stores: the archive of SCHEMAS.md §15, byte for byte reproducible.

The archive is read back with the strict :class:`TarReader` and checked line
by line against the store it came from; the same state copied to SQLite,
PostgreSQL and LMDB exports to the same bytes; an export reads one
consistent state while another thread writes frames and scans.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import pytest

from tests.snapshot.workspaces import CREATED_AT, SHARED, WS, copy_to, engine, older_root, populate
from treeframe import __version__
from treeframe.engine.types import FrameInput
from treeframe.errors import InvalidPath, NodeNotFound, WorkspaceNotFound
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.ids import NodeId
from treeframe.snapshot.export import export_snapshot
from treeframe.snapshot.format import (
    CHECKSUMS,
    MANIFEST,
    RECORDS_TARGET,
    Manifest,
    content_name,
    parse_line,
    records_name,
)
from treeframe.snapshot.streams import Decompressed
from treeframe.snapshot.tar import TarReader
from treeframe.snapshot.verify import verify_archive
from treeframe.storage.base import StorageBackend
from treeframe.storage.registry import open_store
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree

COMPRESSIONS = ("none", "zstd", "gzip")


def export(store: StorageBackend, **options: Any) -> bytes:
    out = io.BytesIO()
    export_snapshot(store, WS, out, **options)
    return out.getvalue()


@dataclass
class Archive:
    """An archive read back: its entries in order, the manifest and the record lines."""

    names: list[str]
    data: dict[str, bytes]
    manifest: Manifest
    lines: list[dict[str, Any]]


def read_archive(raw: bytes) -> Archive:
    reader = TarReader(Decompressed(io.BytesIO(raw)))
    names: list[str] = []
    data: dict[str, bytes] = {}
    while (entry := reader.next_entry()) is not None:
        names.append(entry.name)
        data[entry.name] = reader.read_all(entry.size)
    lines = [
        parse_line(line + b"\n", name)
        for name in names
        if name.startswith("records/")
        for line in data[name].split(b"\n")[:-1]
    ]
    return Archive(names, data, Manifest.parse(data[MANIFEST]), lines)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageBackend]:
    """The sample workspace on SQLite, built once: tests here only read it."""
    store = open_store(f"sqlite://{tmp_path_factory.mktemp('export') / 'store.db'}", create=True)
    populate(store)
    yield store
    store.close()


def test_the_archive_holds_every_record_of_the_store_in_section_order(
    sqlite_store: StorageBackend,
) -> None:
    store = sqlite_store
    archive = read_archive(export(store))
    root = store.current_root(WS)
    assert root is not None
    manifest = archive.manifest
    assert (manifest.root_hash, manifest.node_id, manifest.path) == (root.root, root.root, "")
    assert manifest.workspace.to_dict() == {
        "created_at": CREATED_AT,
        "description": "the snapshot sample",
        "id": workspace_id("snapshot-sample"),
        "name": "snapshot-sample",
        "owner": "alice",
    }
    assert manifest.tool_version == __version__

    records = [n for n in archive.names if n.startswith("records/")]
    contents = [n for n in archive.names if n.startswith("contents/")]
    assert archive.names == [MANIFEST, CHECKSUMS, *records, *contents]
    assert records == [records_name(i + 1) for i in range(len(records))]
    listing = b"".join(
        f"{blake3.blake3(archive.data[n]).hexdigest()}  {n}\n".encode() for n in records
    )
    assert archive.data[CHECKSUMS] == listing
    assert manifest.checksums_blake3 == blake3.blake3(listing).hexdigest()

    # Sections in order; the walk is the store's tree in pre-order by listed children.
    kinds = [line["kind"] for line in archive.lines]
    agents = [line["record"]["agent_id"] for line in archive.lines if line["kind"] == "agent"]
    assert agents == sorted(a for a, _ in store.list_agents(WS))
    assert kinds[: len(agents)] == ["agent"] * len(agents)
    assert "ancestor" not in kinds

    def preorder(node_id: NodeId) -> Iterator[str]:
        record = store.get_node(WS, node_id)
        assert record is not None
        yield record.path
        for _, child in record.children:
            yield from preorder(child)

    walked = [line["record"]["path"] for line in archive.lines if line["kind"] == "node"]
    assert walked == list(preorder(root.root))
    assert {"empty", "link.md", "bin/run.sh", "docs/naïve.md"} <= set(walked)
    assert walked.index("Zeta.md") < walked.index("bin")  # by name bytes: "Z" < "b"

    # Each node's frames, set and heads are exactly the store's.
    current: dict[str, Any] = {}
    frames: dict[NodeId, list[dict[str, Any]]] = {}
    heads: dict[NodeId, dict[str, str]] = {}
    sets: dict[NodeId, tuple[str, int]] = {}
    for line in archive.lines:
        if line["kind"] == "node":
            current = line["record"]
        elif line["kind"] == "frame":
            assert line["record"]["node_id"] == current["node_id"]
            frames.setdefault(current["node_id"], []).append(line)
        elif line["kind"] == "frame_set":
            sets[line["node_id"]] = (line["root"], line["count"])
        elif line["kind"] == "head":
            heads.setdefault(line["node_id"], {})[line["frame_type"]] = line["frame_id"]
    node_ids = [NodeId(n) for n in preorder_ids(store, root.root)]
    stored_sets = store.get_frame_sets(WS, node_ids)
    assert sets == {n: (s.root, s.count) for n, s in stored_sets.items()}
    assert heads == {n: dict(h) for n, h in store.get_heads_many(WS, node_ids).items()}
    for node_id in node_ids:
        stored = store.get_frames(WS, store.node_frame_ids(WS, node_id)).values()
        expected = [
            {"kind": "frame", "put_seq": f.put_seq, "record": f.to_dict()}
            for f in sorted(stored, key=lambda f: f.frame_id)
        ]
        assert frames.get(node_id, []) == expected
    assert any(line["put_seq"] != line["record"]["seq"] for v in frames.values() for line in v)

    # Contents: the distinct hashes frames name, ascending, each hashing to its name.
    named = {line["record"]["content_hash"] for v in frames.values() for line in v}
    assert contents == [content_name(h) for h in sorted(named)]
    for name in contents:
        assert content_hash(archive.data[name]) == name.removeprefix("contents/")
    shared = [
        line
        for v in frames.values()
        for line in v
        if line["record"]["content_hash"] == content_hash(SHARED)
    ]
    assert len(shared) == 2

    counts = manifest.counts
    assert counts.agents == len(agents)
    assert counts.ancestors == 0
    assert counts.nodes == len(walked)
    assert counts.frames == sum(len(v) for v in frames.values())
    assert counts.frame_sets == len(sets)
    assert counts.heads == sum(len(h) for h in heads.values())
    assert counts.contents == len(contents)
    assert counts.content_bytes == sum(len(archive.data[n]) for n in contents)
    assert counts.records_entries == len(records)
    assert counts.record_bytes == sum(len(archive.data[n]) for n in records)
    assert verify_archive(io.BytesIO(export(store))).ok


def preorder_ids(store: StorageBackend, node_id: NodeId) -> Iterator[str]:
    record = store.get_node(WS, node_id)
    assert record is not None
    yield record.node_id
    for _, child in record.children:
        yield from preorder_ids(store, child)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_exporting_twice_gives_the_same_bytes_and_a_valid_archive(
    sqlite_store: StorageBackend, compression: str
) -> None:
    first = export(sqlite_store, compression=compression)
    assert export(sqlite_store, compression=compression) == first
    report = verify_archive(io.BytesIO(first))
    assert report.ok, report.problems
    assert read_archive(first).manifest.compression == compression


def test_the_same_state_exports_byte_identically_from_sqlite_postgresql_and_lmdb(
    sqlite_store: StorageBackend, pg_database: str, tmp_path: Path
) -> None:
    expected = {kind: export(sqlite_store, compression=kind) for kind in COMPRESSIONS}
    older = older_root(sqlite_store)
    expected_older = export(sqlite_store, root=older, path="src")
    for url in (pg_database, f"lmdb://{tmp_path / 'store.lmdb'}"):
        with open_store(url, create=True) as target:
            copy_to(sqlite_store, target)
            for kind in COMPRESSIONS:
                assert export(target, compression=kind) == expected[kind], (url, kind)
            assert export(target, root=older, path="src") == expected_older, url


@pytest.mark.parametrize("path", ["src/db", "README.md", "empty"])
def test_a_subtree_export_carries_its_ancestors_and_verifies_alone(
    sqlite_store: StorageBackend, path: str
) -> None:
    raw = export(sqlite_store, path=path)
    archive = read_archive(raw)
    root = sqlite_store.current_root(WS)
    assert root is not None
    node_id = sqlite_store.lookup_path(WS, path)
    assert node_id is not None
    manifest = archive.manifest
    assert (manifest.root_hash, manifest.node_id, manifest.path) == (root.root, node_id, path)
    ancestors = [line["record"] for line in archive.lines if line["kind"] == "ancestor"]
    parts = path.split("/")
    assert [a["path"] for a in ancestors] == ["/".join(parts[:i]) for i in range(len(parts))]
    assert ancestors[0]["node_id"] == root.root
    assert manifest.counts.ancestors == len(ancestors)
    nodes = [line["record"] for line in archive.lines if line["kind"] == "node"]
    assert nodes[0]["node_id"] == node_id
    assert all(n["path"] == path or n["path"].startswith(path + "/") for n in nodes)
    assert [n["node_id"] for n in nodes] == list(preorder_ids(sqlite_store, node_id))
    report = verify_archive(io.BytesIO(raw))
    assert report.ok, report.problems


def test_an_older_root_exports_its_own_nodes_and_their_frames(
    sqlite_store: StorageBackend,
) -> None:
    older = older_root(sqlite_store)
    current = export(sqlite_store)
    raw = export(sqlite_store, root=older)
    assert raw != current
    archive = read_archive(raw)
    assert archive.manifest.root_hash == older
    nodes = {
        line["record"]["path"]: line["record"] for line in archive.lines if line["kind"] == "node"
    }
    pool = read_archive(current).lines
    now = {line["record"]["path"]: line["record"] for line in pool if line["kind"] == "node"}
    assert nodes["src/db/pool.py"]["node_id"] != now["src/db/pool.py"]["node_id"]
    old_frames = [
        line["record"]
        for line in archive.lines
        if line["kind"] == "frame"
        and line["record"]["node_id"] == nodes["src/db/pool.py"]["node_id"]
    ]
    assert {f["frame_type"] for f in old_frames} == {"summary", "blob"}
    assert verify_archive(io.BytesIO(raw)).ok


def test_records_entries_are_cut_before_a_line_would_pass_4_mib(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path / 'store.db'}", create=True)
    with store:
        populate(store)
        api = engine(store, tmp_path)
        writer = api.agent_principal("writer")
        metadata = {f"k{i:03}": "v" * 4000 for i in range(250)}  # ~1 MB per frame line
        for i in range(9):
            api.put_frame(
                "README.md",
                FrameInput(f"bulk{i}", b"bulk %d" % i, metadata=metadata),
                principal=writer,
            )
        raw = export(store)
    archive = read_archive(raw)
    records = [n for n in archive.names if n.startswith("records/")]
    assert len(records) >= 3
    sizes = [len(archive.data[n]) for n in records]
    assert all(size <= RECORDS_TARGET for size in sizes)
    for name, following in itertools.pairwise(records):
        next_line = archive.data[following].split(b"\n", 1)[0] + b"\n"
        assert len(archive.data[name]) + len(next_line) > RECORDS_TARGET
    assert verify_archive(io.BytesIO(raw)).ok


def test_what_an_export_names_is_checked_before_the_first_byte(
    sqlite_store: StorageBackend,
) -> None:
    out = io.BytesIO()
    some_file = sqlite_store.lookup_path(WS, "README.md")
    assert some_file is not None
    cases: list[tuple[Callable[[], Any], type[Exception]]] = [
        (lambda: export_snapshot(sqlite_store, workspace_id("nope"), out), WorkspaceNotFound),
        (lambda: export_snapshot(sqlite_store, WS, out, root=NodeId("ab" * 32)), NodeNotFound),
        (lambda: export_snapshot(sqlite_store, WS, out, root=some_file), NodeNotFound),
        (lambda: export_snapshot(sqlite_store, WS, out, path="src/nope"), InvalidPath),
        (lambda: export_snapshot(sqlite_store, WS, out, path="README.md/x"), InvalidPath),
    ]
    for run, error in cases:
        with pytest.raises(error):
            run()
    assert out.getvalue() == b""


def test_a_workspace_without_a_root_cannot_be_exported(tmp_path: Path) -> None:
    with open_store(f"sqlite://{tmp_path / 'store.db'}", create=True) as store:
        store.create_workspace(workspace_info(WS, "snapshot-sample", created_at=CREATED_AT))
        out = io.BytesIO()
        with pytest.raises(NodeNotFound, match="no root"):
            export_snapshot(store, WS, out)
        assert out.getvalue() == b""


class _Paused:
    """Pauses the export once at a point until the writer thread is done, then lets it go on."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.resume = threading.Event()

    def pause(self) -> None:
        if not self.reached.is_set():
            self.reached.set()
            assert self.resume.wait(60), "the writer thread never finished"


class _PausingSink(io.BytesIO):
    def __init__(self, paused: _Paused) -> None:
        super().__init__()
        self._paused = paused

    def write(self, data: Any) -> int:
        written = super().write(data)
        self._paused.pause()
        return written


@pytest.mark.parametrize("kind", ["sqlite", "lmdb", "postgres"])
@pytest.mark.parametrize("where", ["walk", "write"])
def test_an_export_reads_one_state_while_another_thread_writes(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, where: str
) -> None:
    """Frames put, heads moved back and a rescan during the export do not enter it.

    ``walk`` pauses at the first node of pass 1 (the writes land on nodes the
    walk has not reached), ``write`` after the archive's first write (pass 2).
    """
    url = {
        "sqlite": lambda: f"sqlite://{tmp_path / 'store.db'}",
        "lmdb": lambda: f"lmdb://{tmp_path / 'store.lmdb'}",
        "postgres": lambda: str(request.getfixturevalue("pg_database")),
    }[kind]()
    tree = tmp_path / "tree"
    tree.mkdir()
    with open_store(url, create=True) as store:
        populate(store, tree)
        before = export(store)
        paused = _Paused()
        sink = _PausingSink(paused) if where == "write" else io.BytesIO()
        progress = (lambda *_: paused.pause()) if where == "walk" else None
        failure: list[BaseException] = []

        def writer() -> None:
            try:
                assert paused.reached.wait(60)
                api = engine(store, tree)
                who = api.agent_principal("reviewer")
                for path in ("README.md", "src/app.py", "src/db/models.py"):
                    api.put_frame(
                        path, FrameInput("late", b"after the export began"), principal=who
                    )
                # A re-put of the older summary moves a head and a put_seq of an exported frame.
                api.put_frame(
                    "src/app.py",
                    FrameInput("summary", b"entry point, v2"),
                    principal=api.agent_principal("writer"),
                )
                (tree / "src/app.py").write_text("# changed\n", encoding="utf-8")
                scan_tree(tree, store, WS, workers=1)
            except BaseException as exc:  # re-raised in the test thread
                failure.append(exc)
            finally:
                paused.resume.set()

        thread = threading.Thread(target=writer)
        thread.start()
        export_snapshot(store, WS, sink, progress=progress)
        thread.join(60)
        assert not failure, failure
        assert paused.reached.is_set()
        assert sink.getvalue() == before
        assert export(store) != before  # the writes happened: a new export sees them
