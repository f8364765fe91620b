"""Every store kind x blob placement x codec, each as a factory for a fresh, empty store.

The cross-backend suite parametrizes over :func:`combinations`; a test builds
its store with :func:`open_combination`. Adding a kind is one line in
:data:`STORE_KINDS` (a store URL from a :class:`Services`), a placement one
line in :data:`PLACEMENTS` (an external blob store, or None to keep every
content in the record store); codecs are every name the store may record.
External placements use a small ``inline_max`` so a workload's larger
contents really go outside the record store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services import S3Server
from treeframe.storage.base import StorageBackend
from treeframe.storage.blobs import BlobStore
from treeframe.storage.blobstores.filesystem import FileBlobStore
from treeframe.storage.blobstores.s3 import S3BlobStore
from treeframe.storage.catalog import DEFAULT_INLINE_MAX, ContentPolicy
from treeframe.storage.codecs import CODEC_NAMES, codec
from treeframe.storage.registry import open_store

__all__ = [
    "EXTERNAL_INLINE_MAX",
    "PLACEMENTS",
    "REFERENCE",
    "REOPENABLE",
    "STORE_KINDS",
    "Combination",
    "Opened",
    "Services",
    "combinations",
    "open_combination",
]

EXTERNAL_INLINE_MAX = 1024
"""Contents above 1 KiB leave the record store when a placement names an external store."""


@dataclass
class Services:
    """What a factory may need: a private temp dir and the session's service fixtures."""

    request: pytest.FixtureRequest
    tmp: Path
    _pg: str | None = field(default=None, init=False)

    def postgres(self) -> str:
        """The URL of a fresh PostgreSQL database (``pg_database``; dropped after the test)."""
        if self._pg is None:
            self._pg = str(self.request.getfixturevalue("pg_database"))
        return self._pg

    def s3(self, codec: str) -> S3BlobStore:
        """A blob store on a fresh bucket of the session's ``s3_server``."""
        server: S3Server = self.request.getfixturevalue("s3_server")
        return S3BlobStore(
            server.bucket(),
            "blobs",
            endpoint_url=server.endpoint,
            region="us-east-1",
            codec_name=codec,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


STORE_KINDS: dict[str, Callable[[Services], str]] = {
    "memory": lambda s: "memory://",
    "sqlite": lambda s: f"sqlite://{s.tmp / 'store.db'}",
    "lmdb": lambda s: f"lmdb://{s.tmp / 'store.lmdb'}",
    "postgres": lambda s: s.postgres(),
}
"""Store kind -> the URL of a fresh, empty store of that kind."""

REOPENABLE = frozenset({"sqlite", "lmdb", "postgres"})
"""Kinds whose contents outlive ``close()`` (memory's do not)."""

PLACEMENTS: dict[str, Callable[[Services, str], BlobStore | None]] = {
    "store": lambda s, codec: None,
    "file": lambda s, codec: FileBlobStore(s.tmp / "blobs", codec),
    "s3": lambda s, codec: s.s3(codec),
}
"""Blob placement -> its external blob store packing with ``codec`` (None: none, all inline)."""


@dataclass(frozen=True)
class Combination:
    """One store kind x blob placement x codec; ``id`` names it in test IDs."""

    store: str
    placement: str
    codec: str

    @property
    def id(self) -> str:
        """``sqlite-file-zstd``-style name."""
        return f"{self.store}-{self.placement}-{self.codec}"


REFERENCE = Combination("memory", "store", "none")
"""The combination every other one is compared with (and whose golden values are committed)."""


def combinations() -> list[Combination]:
    """Every combination, the reference first."""
    every = [
        Combination(kind, placement, name)
        for kind in STORE_KINDS
        for placement in PLACEMENTS
        for name in CODEC_NAMES
    ]
    return [REFERENCE, *(c for c in every if c != REFERENCE)]


@dataclass
class Opened:
    """An open store and what reopening it needs (its URL and content policy)."""

    combination: Combination
    url: str
    policy: ContentPolicy
    store: StorageBackend

    def reopen(self) -> StorageBackend:
        """Close the store and open the same URL and policy again (kinds in REOPENABLE)."""
        self.store.close()
        self.store = open_store(self.url, create=False, content=self.policy)
        return self.store


def open_combination(combination: Combination, services: Services) -> Opened:
    """A fresh, empty store of ``combination``."""
    external = PLACEMENTS[combination.placement](services, combination.codec)
    policy = ContentPolicy(
        codec=codec(combination.codec),
        external=external,
        inline_max=DEFAULT_INLINE_MAX if external is None else EXTERNAL_INLINE_MAX,
    )
    url = STORE_KINDS[combination.store](services)
    return Opened(combination, url, policy, open_store(url, content=policy))
