"""The external blob store contract, shipped so that any BlobStore can prove itself.

A test module subclasses :class:`BlobStoreContract` and provides two
fixtures: ``blob_factory`` (a callable taking a codec name and returning a
handle on the *same* store packing new objects with that codec: calling it
again is a reopen) and ``blob_raw`` (a :class:`RawAccess` that reads and
overwrites the bytes of one stored object as the medium holds them, so the
suite can damage objects the way a disk or a bucket would)::

    @pytest.fixture
    def blob_factory(tmp_path): return lambda name: FileBlobStore(tmp_path, name)

Every test runs against whatever codec the subclass parametrizes ``codec_name`` with.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Protocol

import pytest

from treeframe.errors import IntegrityError, InvalidId, StorageError
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.ids import ContentHash, WorkspaceId
from treeframe.storage.blobs import BlobStore
from treeframe.storage.blobstores.objects import MAGIC, header, pack
from treeframe.storage.codecs import CODEC_NAMES, codec

__all__ = ["BlobFactory", "BlobStoreContract", "RawAccess"]

BlobFactory = Callable[[str], BlobStore]

WS = workspace_id("blob-ws-a")
OTHER_WS = workspace_id("blob-ws-b")
TEXT = b"".join(b"def line_%d(): return %d  # some source\n" % (i, i * 7) for i in range(60000))


class RawAccess(Protocol):
    """The stored bytes of one object, as the medium holds them (header included)."""

    def read(self, ws: WorkspaceId, digest: ContentHash) -> bytes:
        """The object's stored bytes."""
        ...

    def write(self, ws: WorkspaceId, digest: ContentHash, body: bytes) -> None:
        """Replace the object's stored bytes (to damage it)."""
        ...


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class BlobStoreContract:
    """What every external :class:`~treeframe.storage.blobs.BlobStore` must do."""

    @pytest.fixture
    def blobs(self, blob_factory: BlobFactory, codec_name: str) -> BlobStore:
        """The store under test, packing with ``codec_name``."""
        return blob_factory(codec_name)

    def test_put_get_exists_and_iterate(self, blobs: BlobStore) -> None:
        """Put once, batch reads, existence and hash-ordered iteration."""
        a, b = b"alpha", TEXT[:5000]
        da, db, missing = content_hash(a), content_hash(b), content_hash(b"nope")
        assert blobs.put(WS, da, a) is True
        assert blobs.put(WS, da, a) is False
        assert blobs.put(WS, db, b) is True
        assert blobs.get_many(WS, [da, missing, db, da]) == {da: a, db: b}
        assert blobs.exists_many(WS, [da, db, missing]) == {da, db}
        assert list(blobs.iter_all(WS)) == sorted([(da, a), (db, b)])

    def test_empty_content(self, blobs: BlobStore) -> None:
        """Empty content is a blob like any other."""
        digest = content_hash(b"")
        assert blobs.put(WS, digest, b"") is True
        assert blobs.get_many(WS, [digest]) == {digest: b""}
        stream = blobs.read_stream(WS, digest)
        assert stream is not None
        assert b"".join(stream) == b""

    def test_streams_round_trip_a_large_blob(self, blobs: BlobStore) -> None:
        """put_stream/read_stream move a multi-MiB blob in chunks."""
        data = TEXT * 2 + os.urandom(1 << 20)
        digest = content_hash(data)
        assert blobs.put_stream(WS, digest, _chunks(data, 100_000)) is True
        assert blobs.put_stream(WS, digest, _chunks(data, 100_000)) is False
        stream = blobs.read_stream(WS, digest)
        assert stream is not None
        pieces = list(stream)
        assert b"".join(pieces) == data
        assert len(pieces) > 1  # streamed, not read whole
        assert blobs.get_many(WS, [digest]) == {digest: data}
        assert blobs.read_stream(WS, content_hash(b"absent")) is None

    def test_a_wrong_hash_is_refused_and_nothing_stored(self, blobs: BlobStore) -> None:
        """Bytes that do not hash to their key are never stored."""
        claimed = content_hash(b"expected")
        with pytest.raises(IntegrityError):
            blobs.put(WS, claimed, b"actual")
        with pytest.raises(IntegrityError):
            blobs.put_stream(WS, claimed, _chunks(TEXT, 65536))
        assert blobs.exists_many(WS, [claimed]) == set()
        assert blobs.read_stream(WS, claimed) is None
        assert list(blobs.iter_all(WS)) == []

    def test_an_interrupted_stream_stores_nothing(self, blobs: BlobStore) -> None:
        """A source failing midway leaves no object (no torn write)."""
        digest = content_hash(TEXT)

        def broken() -> Iterator[bytes]:
            yield TEXT[:100_000]
            raise OSError("the source went away")

        with pytest.raises(OSError, match="went away"):
            blobs.put_stream(WS, digest, broken())
        assert blobs.exists_many(WS, [digest]) == set()
        assert list(blobs.iter_all(WS)) == []
        assert blobs.put_stream(WS, digest, _chunks(TEXT, 1 << 20)) is True

    def test_malformed_digests(self, blobs: BlobStore) -> None:
        """Malformed keys are refused on write and absent on read."""
        with pytest.raises(InvalidId):
            blobs.put(WS, ContentHash(content_hash(b"x").upper()), b"x")
        with pytest.raises(InvalidId):
            blobs.put_stream(WS, ContentHash("nothex"), [b"x"])
        assert blobs.get_many(WS, [ContentHash("nothex")]) == {}
        assert blobs.exists_many(WS, [ContentHash("../../etc")]) == set()
        assert blobs.read_stream(WS, ContentHash("nothex")) is None

    def test_namespaced_by_workspace(self, blobs: BlobStore) -> None:
        """One workspace never sees another's blobs."""
        digest = content_hash(b"mine")
        blobs.put(WS, digest, b"mine")
        assert blobs.get_many(OTHER_WS, [digest]) == {}
        assert blobs.exists_many(OTHER_WS, [digest]) == set()
        assert blobs.read_stream(OTHER_WS, digest) is None
        assert list(blobs.iter_all(OTHER_WS)) == []
        assert blobs.put(OTHER_WS, digest, b"mine") is True

    def test_each_object_records_its_codec(
        self, blobs: BlobStore, blob_raw: RawAccess, codec_name: str
    ) -> None:
        """The stored object starts with the header naming its codec."""
        digest = content_hash(TEXT)
        blobs.put(WS, digest, TEXT)
        raw = blob_raw.read(WS, digest)
        assert raw.startswith(header(codec(codec_name)))
        if codec_name != "none":
            assert len(raw) < len(TEXT) // 2

    @pytest.mark.parametrize("reopen_with", CODEC_NAMES)
    def test_reopened_with_another_codec_reads_everything(
        self, blob_factory: BlobFactory, codec_name: str, reopen_with: str
    ) -> None:
        """Changing the default codec keeps every object readable."""
        written = {content_hash(d): d for d in (b"small", TEXT[:70000], TEXT)}
        first = blob_factory(codec_name)
        for digest, data in written.items():
            first.put(WS, digest, data)
        again = blob_factory(reopen_with)
        assert again.get_many(WS, list(written)) == written
        late = TEXT[:1234]
        again.put(WS, content_hash(late), late)
        assert blob_factory(codec_name).get_many(WS, [content_hash(late)]) == {
            content_hash(late): late
        }
        assert dict(blob_factory(codec_name).iter_all(WS)) == {**written, content_hash(late): late}

    @pytest.mark.parametrize("damage", ["garbage", "truncated", "other-content", "no-header"])
    def test_a_damaged_object_is_detected_on_read(
        self, blobs: BlobStore, blob_raw: RawAccess, codec_name: str, damage: str
    ) -> None:
        """A damaged object raises on every read path, never served."""
        digest = content_hash(TEXT)
        blobs.put(WS, digest, TEXT)
        raw = blob_raw.read(WS, digest)
        body = {
            "garbage": header(codec(codec_name)) + b"\x13garbage" * 50,
            "truncated": raw[: len(raw) - 40],
            "other-content": pack(codec(codec_name), TEXT[:-1] + b"!"),
            "no-header": raw[len(MAGIC) + 1 :],
        }[damage]
        blob_raw.write(WS, digest, body)
        with pytest.raises((StorageError, IntegrityError)):
            blobs.get_many(WS, [digest])
        stream = blobs.read_stream(WS, digest)
        assert stream is not None
        with pytest.raises((StorageError, IntegrityError)):
            b"".join(stream)
        with pytest.raises((StorageError, IntegrityError)):
            list(blobs.iter_all(WS))
