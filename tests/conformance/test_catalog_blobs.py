"""CatalogBlobs over the memory and SQLite stores: inline vs external, codecs, damage."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.services import S3Server
from treeframe.errors import IntegrityError, StorageError, StoreCorrupt
from treeframe.frames.merkle_set import root_of_raw
from treeframe.hashing.ids import content_hash
from treeframe.storage.base import StorageBackend
from treeframe.storage.blobstores.filesystem import FileBlobStore
from treeframe.storage.catalog import ContentPolicy
from treeframe.storage.codecs import CODEC_NAMES, codec
from treeframe.storage.memory import MemoryStore
from treeframe.storage.registry import content_policy, open_store
from treeframe.storage.sqlite import SqliteStore
from treeframe.testing.conformance import OTHER_WS, WS
from treeframe.testing.factories import CREATED_AT, make_file, make_frame, workspace_info

INLINE_MAX = 4096
SMALL = b"small content " * 10
LARGE = b"".join(b"large content line %d\n" % i for i in range(5000))

Opener = Callable[[ContentPolicy], StorageBackend]


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def opener(kind: str, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same store again with another policy (memory: the same object's state)."""
    opened: list[StorageBackend] = []
    memory = MemoryStore()

    def make(policy: ContentPolicy) -> StorageBackend:
        if kind == "memory":
            # The same committed state under another policy: a "reopen" of the memory store.
            store = MemoryStore(content=policy)
            store._committed = memory._committed
        else:
            store = SqliteStore(tmp_path / "store.db", content=policy)
        opened.append(store)
        for ws, name in ((WS, "ws-a"), (OTHER_WS, "ws-b")):
            if store.get_workspace(ws) is None:
                store.create_workspace(workspace_info(ws, name))
        return store

    yield make
    for store in opened:
        store.close()


def _policy(root: Path, name: str = "none", inline_max: int = INLINE_MAX) -> ContentPolicy:
    return ContentPolicy(
        codec=codec(name), external=FileBlobStore(root, name), inline_max=inline_max
    )


def _objects(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_small_blobs_inline_large_ones_external(opener: Opener, tmp_path: Path, name: str) -> None:
    root = tmp_path / "blobs"
    store = opener(_policy(root, name))
    small, large = content_hash(SMALL), content_hash(LARGE)
    assert store.blobs.put(WS, small, SMALL) is True
    assert _objects(root) == []
    assert store.blobs.put_stream(
        WS, large, [LARGE[i : i + 1000] for i in range(0, len(LARGE), 1000)]
    )
    assert [p.name for p in _objects(root)] == [large]
    assert store.blobs.put(WS, large, LARGE) is False
    assert store.blobs.get_many(WS, [small, large]) == {small: SMALL, large: LARGE}
    assert store.blobs.exists_many(WS, [small, large]) == {small, large}
    assert dict(store.blobs.iter_all(WS)) == {small: SMALL, large: LARGE}
    for digest, data in ((small, SMALL), (large, LARGE)):
        stream = store.blobs.read_stream(WS, digest)
        assert stream is not None
        assert b"".join(stream) == data
    assert store.blobs.read_stream(OTHER_WS, large) is None


def test_sqlite_rows_record_codec_and_placement(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    with SqliteStore(tmp_path / "store.db", content=_policy(root, "zstd")) as store:
        store.create_workspace(workspace_info(WS, "ws-a"))
        store.blobs.put(WS, content_hash(SMALL), SMALL)
        store.blobs.put(WS, content_hash(LARGE), LARGE)
    conn = sqlite3.connect(tmp_path / "store.db")
    try:
        rows = {
            h.hex(): (c, e, len(d))
            for h, c, e, d in conn.execute("SELECT hash, codec, external, data FROM contents")
        }
    finally:
        conn.close()
    assert rows[content_hash(LARGE)] == ("none", 1, 0)
    assert rows[content_hash(SMALL)][:2] == ("zstd", 0)
    assert rows[content_hash(SMALL)][2] < len(SMALL)


@pytest.mark.parametrize(
    ("first", "second"), [("zstd", "none"), ("none", "brotli"), ("lz4", "gzip")]
)
def test_written_with_one_codec_read_after_the_default_changes(
    opener: Opener, tmp_path: Path, first: str, second: str
) -> None:
    root = tmp_path / "blobs"
    written = {content_hash(d): d for d in (SMALL, LARGE, b"")}
    store = opener(_policy(root, first))
    for digest, data in written.items():
        store.blobs.put(WS, digest, data)
    again = opener(_policy(root, second))
    assert again.blobs.get_many(WS, list(written)) == written
    more = {content_hash(d): d for d in (SMALL + b"!", LARGE + b"!")}
    for digest, data in more.items():
        again.blobs.put(WS, digest, data)
    back = opener(_policy(root, first))
    assert dict(back.blobs.iter_all(WS)) == {**written, **more}


def test_frames_append_only_after_the_bytes_are_stored(opener: Opener, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    store = opener(_policy(blocker))  # every external put fails
    node = make_file("n.txt")
    store.put_nodes(WS, [node])
    frame, data = make_frame(node, LARGE)
    with pytest.raises(StorageError):
        store.blobs.put(WS, frame.content_hash, data)
    assert store.blobs.exists_many(WS, [frame.content_hash]) == set()
    with pytest.raises(IntegrityError, match="put the content first"):
        store.append_frame(WS, frame, root_of_raw, CREATED_AT)
    good = opener(_policy(tmp_path / "blobs"))
    good.blobs.put(WS, frame.content_hash, data)
    assert good.append_frame(WS, frame, root_of_raw, CREATED_AT).created is True
    assert good.blobs.get_many(WS, [frame.content_hash]) == {frame.content_hash: data}


def test_an_external_content_without_an_external_store_is_an_integrity_error(
    opener: Opener, tmp_path: Path
) -> None:
    opener(_policy(tmp_path / "blobs")).blobs.put(WS, content_hash(LARGE), LARGE)
    alone = opener(ContentPolicy())
    with pytest.raises(IntegrityError, match="external blob store"):
        alone.blobs.get_many(WS, [content_hash(LARGE)])
    assert alone.blobs.exists_many(WS, [content_hash(LARGE)]) == {content_hash(LARGE)}


def test_a_deleted_external_object_is_an_integrity_error_on_stream(
    opener: Opener, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    store = opener(_policy(root))
    store.blobs.put(WS, content_hash(LARGE), LARGE)
    for path in _objects(root):
        path.unlink()
    with pytest.raises(IntegrityError, match="missing from the external"):
        store.blobs.read_stream(WS, content_hash(LARGE))


@pytest.mark.parametrize("name", ["zstd", "gzip", "lz4", "brotli"])
def test_corrupt_compressed_bytes_in_the_sqlite_row_are_a_storage_error(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / "store.db"
    policy = ContentPolicy(codec=codec(name))
    digest = content_hash(LARGE)
    with SqliteStore(path, content=policy) as store:
        store.create_workspace(workspace_info(WS, "ws-a"))
        store.blobs.put(WS, digest, LARGE)
    conn = sqlite3.connect(path)
    with conn:
        (data,) = conn.execute("SELECT data FROM contents").fetchone()
        conn.execute("UPDATE contents SET data = ?", (bytes(data)[: len(data) // 2],))
    conn.close()
    with SqliteStore(path, content=policy) as store:
        with pytest.raises(StoreCorrupt, match=name):
            store.blobs.get_many(WS, [digest])
        stream = store.blobs.read_stream(WS, digest)
        assert stream is not None
        with pytest.raises(StorageError):
            b"".join(stream)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE contents SET codec = 'rot13'")
    conn.close()
    with SqliteStore(path, content=policy) as store, pytest.raises(StoreCorrupt, match="rot13"):
        store.blobs.get_many(WS, [digest])


def test_s3_as_the_external_store(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    url = s3_server.url(s3_server.bucket()) + "&codec=zstd"
    policy = content_policy(url, "gzip", INLINE_MAX)
    with open_store(f"sqlite://{tmp_path}/store.db", content=policy) as store:
        store.create_workspace(workspace_info(WS, "ws-a"))
        node = make_file("n.txt")
        store.put_nodes(WS, [node])
        for data in (SMALL, LARGE):
            frame, _ = make_frame(node, data)
            store.blobs.put(WS, frame.content_hash, data)
            store.append_frame(WS, frame, root_of_raw, CREATED_AT)
        assert store.blobs.get_many(WS, [content_hash(LARGE)]) == {content_hash(LARGE): LARGE}
    client = s3_server.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=url.split("/")[2])["Contents"]]  # type: ignore[attr-defined]
    assert keys == [f"blobs/{WS}/{content_hash(LARGE)[:2]}/{content_hash(LARGE)}"]


def test_both_backends_are_content_catalogs(opener: Opener) -> None:
    from treeframe.storage.catalog import CatalogBlobs, ContentCatalog

    store = opener(ContentPolicy())
    assert isinstance(store, ContentCatalog)
    assert isinstance(store.blobs, CatalogBlobs)
