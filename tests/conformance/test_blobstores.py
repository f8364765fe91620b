"""The blob store contract over FileBlobStore and S3BlobStore (a real moto_server), every codec."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.services import S3Server
from treeframe.errors import BackendUnavailable, ConfigError, IntegrityError, StorageError
from treeframe.hashing.ids import content_hash
from treeframe.ids import ContentHash, WorkspaceId
from treeframe.storage.blobstores.filesystem import FileBlobStore
from treeframe.storage.blobstores.s3 import S3BlobStore
from treeframe.storage.codecs import CODEC_NAMES
from treeframe.storage.registry import open_blob_store
from treeframe.testing.blob_conformance import WS, BlobFactory, BlobStoreContract, RawAccess

S3_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@pytest.fixture(params=CODEC_NAMES)
def codec_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class _FileRaw:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, ws: WorkspaceId, digest: ContentHash) -> Path:
        return self.root / ws / digest[:2] / digest[2:4] / digest

    def read(self, ws: WorkspaceId, digest: ContentHash) -> bytes:
        return self.path(ws, digest).read_bytes()

    def write(self, ws: WorkspaceId, digest: ContentHash, body: bytes) -> None:
        self.path(ws, digest).write_bytes(body)


class TestFileBlobStore(BlobStoreContract):
    @pytest.fixture
    def blob_factory(self, tmp_path: Path) -> BlobFactory:
        return lambda name: FileBlobStore(tmp_path / "blobs", name)

    @pytest.fixture
    def blob_raw(self, tmp_path: Path) -> RawAccess:
        return _FileRaw(tmp_path / "blobs")

    def test_fan_out_layout_and_a_torn_temp_file_is_never_visible(
        self, blob_factory: BlobFactory, tmp_path: Path
    ) -> None:
        store = blob_factory("none")
        digest = content_hash(b"whole")
        final = _FileRaw(tmp_path / "blobs").path(WS, digest)
        final.parent.mkdir(parents=True)
        # What a crash between write and rename leaves: a partial temp file.
        (final.parent / ".tmp-deadbeef").write_bytes(b"TFBLOB\x01\x04none" + b"who")
        assert store.exists_many(WS, [digest]) == set()
        assert store.get_many(WS, [digest]) == {}
        assert list(store.iter_all(WS)) == []
        assert store.put(WS, digest, b"whole") is True
        assert final.is_file()
        assert [p.name for p in final.parent.iterdir() if p.name.startswith(".tmp-")] == [
            ".tmp-deadbeef"
        ]
        assert list(store.iter_all(WS)) == [(digest, b"whole")]

    def test_unwritable_root_is_a_storage_error(self, tmp_path: Path) -> None:
        if os.geteuid() == 0:
            pytest.skip("root ignores directory permissions")
        root = tmp_path / "ro"
        root.mkdir()
        root.chmod(0o500)
        try:
            with pytest.raises(StorageError):
                FileBlobStore(root / "blobs").put(WS, content_hash(b"x"), b"x")
        finally:
            root.chmod(0o700)

    def test_a_file_in_place_of_the_root_is_a_storage_error(self, tmp_path: Path) -> None:
        (tmp_path / "blocker").write_bytes(b"")
        with pytest.raises(StorageError):
            FileBlobStore(tmp_path / "blocker").put(WS, content_hash(b"x"), b"x")


class _S3Raw:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def key(self, ws: WorkspaceId, digest: ContentHash) -> str:
        return f"{self.prefix}/{ws}/{digest[:2]}/{digest}"

    def read(self, ws: WorkspaceId, digest: ContentHash) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=self.key(ws, digest))["Body"]
        return bytes(body.read())

    def write(self, ws: WorkspaceId, digest: ContentHash, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(ws, digest), Body=body)


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.bucket()


class TestS3BlobStore(BlobStoreContract):
    @pytest.fixture
    def blob_factory(self, s3_server: S3Server, bucket: str) -> BlobFactory:
        def make(name: str) -> S3BlobStore:
            return S3BlobStore(
                bucket,
                "pre/fix",
                endpoint_url=s3_server.endpoint,
                region="us-east-1",
                codec_name=name,
                **S3_CREDENTIALS,
            )

        return make

    @pytest.fixture
    def blob_raw(self, s3_server: S3Server, bucket: str) -> RawAccess:
        return _S3Raw(s3_server.client(), bucket, "pre/fix")

    @pytest.mark.parametrize("size", [3000, (5 << 20) + 12345, (11 << 20) + 1])
    def test_multipart_upload_from_a_small_threshold(
        self, s3_server: S3Server, bucket: str, codec_name: str, size: int
    ) -> None:
        store = S3BlobStore(
            bucket,
            "mp",
            endpoint_url=s3_server.endpoint,
            region="us-east-1",
            codec_name=codec_name,
            multipart_threshold=1024,
            part_size=5 << 20,
            **S3_CREDENTIALS,
        )
        data = os.urandom(size)  # incompressible: the packed size is about the same
        digest = content_hash(data)
        if size > 5 << 20:
            assert store.put_stream(
                WS, digest, [data[i : i + 300_000] for i in range(0, size, 300_000)]
            )
        else:
            assert store.put(WS, digest, data)
        head = _s3_head(s3_server, bucket, f"mp/{WS}/{digest[:2]}/{digest}")
        assert head["Metadata"] == {"treeframe-codec": codec_name}
        parts = -(-int(head["ContentLength"]) // (5 << 20)) if size > 1024 else 1
        assert str(head["ETag"]).strip('"').endswith(f"-{parts}")  # a multipart object
        assert store.get_many(WS, [digest]) == {digest: data}

    def test_a_refused_multipart_stream_is_aborted(
        self, s3_server: S3Server, bucket: str, codec_name: str
    ) -> None:
        store = S3BlobStore(
            bucket,
            "mp",
            endpoint_url=s3_server.endpoint,
            codec_name=codec_name,
            multipart_threshold=1024,
            part_size=5 << 20,
            **S3_CREDENTIALS,
        )
        data = os.urandom((6 << 20) + 7)
        claimed = content_hash(b"something else")
        with pytest.raises(IntegrityError):
            store.put_stream(
                WS, claimed, [data[i : i + 1 << 20] for i in range(0, len(data), 1 << 20)]
            )
        client: Any = s3_server.client()
        assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        assert store.exists_many(WS, [claimed]) == set()


def _s3_head(server: S3Server, bucket: str, key: str) -> Any:
    client: Any = server.client()
    return client.head_object(Bucket=bucket, Key=key)


def test_an_unreachable_endpoint_is_backend_unavailable_quickly(codec_name: str) -> None:
    import socket
    import time

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = S3BlobStore(
        "bucket",
        endpoint_url=f"http://127.0.0.1:{port}",
        region="us-east-1",
        codec_name=codec_name,
        connect_timeout=0.5,
        read_timeout=0.5,
        max_attempts=2,
        **S3_CREDENTIALS,
    )
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="out of reach"):
        store.exists_many(WS, [content_hash(b"x")])
    assert time.monotonic() - started < 10


def test_a_missing_bucket_is_a_storage_error(s3_server: S3Server) -> None:
    store = S3BlobStore(
        f"missing-{uuid.uuid4().hex[:12]}", endpoint_url=s3_server.endpoint, **S3_CREDENTIALS
    )
    with pytest.raises(StorageError):
        store.put(WS, content_hash(b"x"), b"x")


@pytest.mark.parametrize(
    ("url", "kind", "codec"),
    [
        ("file:///tmp/tf-blobs", FileBlobStore, "none"),
        ("file:///tmp/tf%20blobs?codec=zstd", FileBlobStore, "zstd"),
        (
            "s3://b/p/q?endpoint_url=http://127.0.0.1:1&region=eu-west-1&codec=lz4",
            S3BlobStore,
            "lz4",
        ),
        ("s3://b?part_size=6291456&multipart_threshold=10&read_timeout=2.5", S3BlobStore, "gzip"),
    ],
)
def test_open_blob_store_urls(url: str, kind: type, codec: str) -> None:
    store = open_blob_store(url, default_codec="gzip" if "part_size" in url else "none")
    assert isinstance(store, kind)
    assert store.codec.name == codec  # type: ignore[attr-defined]
    if isinstance(store, FileBlobStore):
        assert str(store.root) in ("/tmp/tf-blobs", "/tmp/tf blobs")
    else:
        assert isinstance(store, S3BlobStore)
        assert store.bucket == "b"


@pytest.mark.parametrize(
    "url",
    [
        "blobs",
        "file://relative/dir",
        "file:///",
        "file:///x?codec=xz",
        "file:///x?colour=red",
        "s3:///prefix",
        "s3://b?part_size=12",
        "s3://b?max_attempts=lots",
        "s3://b?bogus=1",
        "gs://bucket",
        "file:///x#frag",
    ],
)
def test_bad_blob_store_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_blob_store(url)
