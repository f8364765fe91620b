"""S3BlobStore: content objects in an S3 (or S3-compatible) bucket, through boto3.

Layout: ``<prefix>/<workspace hex>/<aa>/<hash>``; each object body is
self-describing (:mod:`.objects` header naming its codec; the codec is also
in the ``treeframe-codec`` object metadata, for people browsing a bucket).
An object at or above ``multipart_threshold`` packed bytes goes up as a
multipart upload of ``part_size`` parts (S3's minimum part is 5 MiB), and a
failed or refused stream aborts its upload, so a key either holds a whole
object or does not exist. Existence is one HEAD per key; every read
re-verifies the content hash (damage raises IntegrityError or StoreCorrupt,
never wrong bytes).

Operations: every call has a bounded connect and read timeout and a bounded
number of attempts (botocore's standard retry mode); an unreachable endpoint
raises BackendUnavailable, any other S3 failure StorageError, never a
boto exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from treeframe.errors import BackendUnavailable, ConfigError, InvalidId, StorageError
from treeframe.ids import ContentHash, WorkspaceId, parse_hex_id
from treeframe.storage.blobs import CHUNK, verified_digest, verifying
from treeframe.storage.blobstores.objects import header, unpack_stream
from treeframe.storage.codecs import Compression, codec

__all__ = ["MIN_PART_SIZE", "S3BlobStore"]

MIN_PART_SIZE = 5 << 20
"""S3's smallest part of a multipart upload (all but the last)."""

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.NoCredentialsError,
)


def _valid(ws: WorkspaceId, digest: str) -> bool:
    try:
        parse_hex_id(digest, "content hash")
        parse_hex_id(ws, "workspace ID")
    except InvalidId:
        return False
    return True


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """Content bytes as self-describing objects under ``s3://bucket/prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        codec_name: str | Compression = "none",
        multipart_threshold: int = 8 << 20,
        part_size: int = 8 << 20,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
    ) -> None:
        """A store in ``bucket`` (which must exist) under ``prefix``; credentials from boto3's chain.

        ``multipart_threshold``: packed size from which an object is uploaded
        in parts of ``part_size`` bytes (at least :data:`MIN_PART_SIZE`).
        ``connect_timeout``/``read_timeout`` (seconds) and ``max_attempts``
        bound every call.
        """
        if not bucket:
            raise ConfigError("an S3 blob store needs a bucket name")
        if part_size < MIN_PART_SIZE:
            raise ConfigError(f"part_size must be at least {MIN_PART_SIZE} bytes, got {part_size}")
        if multipart_threshold < 1 or max_attempts < 1:
            raise ConfigError("multipart_threshold and max_attempts must be positive")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ConfigError("connect_timeout and read_timeout must be positive")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.codec = codec(codec_name) if isinstance(codec_name, str) else codec_name
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
        )
        with self._errors("connect"):
            self._client: Any = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                config=config,
                aws_access_key_id=aws_access_key_id,
                aws_secret_access_key=aws_secret_access_key,
            )

    def __repr__(self) -> str:
        return f"S3BlobStore({self.bucket!r}, {self.prefix!r}, codec={self.codec.name!r})"

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Re-raise boto/botocore errors as treeframe errors."""
        where = f"s3://{self.bucket}/{self.prefix}"
        try:
            yield
        except _UNREACHABLE as exc:
            raise BackendUnavailable(f"blob store {where} is out of reach ({what}): {exc}") from exc
        except botocore.exceptions.ClientError as exc:
            if _code(exc) == "NoSuchBucket":
                raise StorageError(f"blob store {where}: the bucket does not exist") from exc
            raise StorageError(f"blob store {where}: cannot {what}: {exc}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageError(f"blob store {where}: cannot {what}: {exc}") from exc

    def _key(self, ws: WorkspaceId, digest: str) -> str:
        base = f"{ws}/{digest[:2]}/{digest}"
        return f"{self.prefix}/{base}" if self.prefix else base

    def _head(self, key: str) -> bool:
        with self._errors("check an object"):
            try:
                self._client.head_object(Bucket=self.bucket, Key=key)
            except botocore.exceptions.ClientError as exc:
                if _code(exc) in _MISSING:
                    return False
                raise
        return True

    def probe(self, ws: WorkspaceId) -> None:
        """HEAD the bucket: credentials, endpoint and bucket all answer, and nothing is written."""
        del ws  # the bucket answers for every workspace
        with self._errors("check the bucket"):
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except botocore.exceptions.ClientError as exc:
                if _code(exc) in _MISSING | {"NoSuchBucket"}:
                    where = f"s3://{self.bucket}/{self.prefix}"
                    raise StorageError(f"blob store {where}: the bucket does not exist") from exc
                raise

    # -- writes ------------------------------------------------------------
    def put(self, ws: WorkspaceId, digest: ContentHash, data: bytes) -> bool:
        """Verify, then upload once (multipart from ``multipart_threshold``)."""
        verified_digest(digest, data)
        return self._store(ws, digest, [bytes(data)])

    def put_stream(self, ws: WorkspaceId, digest: ContentHash, chunks: Iterable[bytes]) -> bool:
        """Upload while hashing; a mismatch aborts the upload so nothing is stored."""
        parse_hex_id(digest, "content hash")
        return self._store(ws, digest, verifying(digest, chunks, action="refusing to store it"))

    def _store(self, ws: WorkspaceId, digest: ContentHash, chunks: Iterable[bytes]) -> bool:
        parse_hex_id(ws, "workspace ID")
        key = self._key(ws, digest)
        if self._head(key):
            return False
        body = chain([header(self.codec)], self.codec.compress_stream(chunks))
        buffered = bytearray()
        for packed in body:
            buffered += packed
            if len(buffered) >= self.multipart_threshold:
                self._multipart(key, buffered, body)
                return True
        with self._errors(f"upload blob {digest}"):
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=bytes(buffered), Metadata=self._metadata()
            )
        return True

    def _metadata(self) -> dict[str, str]:
        return {"treeframe-codec": self.codec.name}

    def _multipart(self, key: str, buffered: bytearray, rest: Iterator[bytes]) -> None:
        """Upload ``buffered`` and then ``rest`` in parts; abort on any failure."""
        with self._errors("start a multipart upload"):
            upload = self._client.create_multipart_upload(
                Bucket=self.bucket, Key=key, Metadata=self._metadata()
            )["UploadId"]
        parts: list[dict[str, Any]] = []

        def send(part: bytes) -> None:
            with self._errors("upload a part"):
                answer = self._client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload,
                    PartNumber=len(parts) + 1,
                    Body=part,
                )
            parts.append({"ETag": answer["ETag"], "PartNumber": len(parts) + 1})

        try:
            for packed in rest:
                buffered += packed
                while len(buffered) >= 2 * self.part_size:
                    send(bytes(buffered[: self.part_size]))
                    del buffered[: self.part_size]
            # The last one or two parts: never a part below the minimum except the last.
            if len(buffered) > self.part_size:
                send(bytes(buffered[: self.part_size]))
                del buffered[: self.part_size]
            send(bytes(buffered))
            with self._errors("complete a multipart upload"):
                self._client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            try:
                with self._errors("abort a multipart upload"):
                    self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload
                    )
            except StorageError:
                pass  # the first error is the one to report; S3 expires the parts
            raise

    # -- reads -------------------------------------------------------------
    def read_stream(self, ws: WorkspaceId, digest: ContentHash) -> Iterator[bytes] | None:
        """The object's content in chunks, unpacked and hashed as it goes; None if absent."""
        if not _valid(ws, digest):
            return None
        with self._errors(f"read blob {digest}"):
            try:
                answer = self._client.get_object(Bucket=self.bucket, Key=self._key(ws, digest))
            except botocore.exceptions.ClientError as exc:
                if _code(exc) in _MISSING:
                    return None
                raise
        return self._stream(answer["Body"], digest)

    def _stream(self, body: Any, digest: ContentHash) -> Iterator[bytes]:
        where = f"{digest} in s3://{self.bucket}/{self.prefix}"

        def raw() -> Iterator[bytes]:
            with self._errors(f"read blob {digest}"):
                yield from body.iter_chunks(CHUNK)

        try:
            unpacked = unpack_stream(raw(), where)
            yield from verifying(digest, unpacked, action=f"stored blob {where} is damaged")
        finally:
            body.close()

    def get_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> dict[ContentHash, bytes]:
        """Each present blob, unpacked and verified."""
        found: dict[ContentHash, bytes] = {}
        for digest in dict.fromkeys(digests):
            stream = self.read_stream(ws, digest)
            if stream is not None:
                found[digest] = b"".join(stream)
        return found

    def exists_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Which objects exist: one HEAD each, nothing downloaded."""
        return {d for d in digests if _valid(ws, d) and self._head(self._key(ws, d))}

    def iter_all(self, ws: WorkspaceId) -> Iterator[tuple[ContentHash, bytes]]:
        """Every object of ``ws`` in hash order (S3 lists keys in byte order)."""
        parse_hex_id(ws, "workspace ID")
        start = f"{self.prefix}/{ws}/" if self.prefix else f"{ws}/"
        paginator = self._client.get_paginator("list_objects_v2")
        with self._errors("list blobs"):
            pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=start))
        while True:
            with self._errors("list blobs"):
                page = next(pages, None)
            if page is None:
                return
            for item in page.get("Contents", []):
                name = str(item["Key"]).rpartition("/")[2]
                if _valid(ws, name):
                    stream = self.read_stream(ws, ContentHash(name))
                    if stream is not None:
                        yield ContentHash(name), b"".join(stream)
