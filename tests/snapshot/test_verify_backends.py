"""Exports of the representative workspace from every backend verify, in full and through a sink."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.snapshot.test_verify import RecordingSink
from tests.snapshot.workspaces import WS, copy_to, older_root, populate
from treeframe.snapshot.export import export_snapshot
from treeframe.snapshot.verify import verify_archive
from treeframe.storage.base import StorageBackend
from treeframe.storage.registry import open_store
from treeframe.storage.urls import lmdb_url, sqlite_url


@pytest.fixture(params=["sqlite", "lmdb", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageBackend]:
    """The representative workspace on one backend (built on SQLite, copied elsewhere)."""
    with open_store(sqlite_url(tmp_path / "source.db"), create=True) as source:
        populate(source)
        if request.param == "sqlite":
            yield source
            return
        url = (
            lmdb_url(tmp_path / "lmdb")
            if request.param == "lmdb"
            else request.getfixturevalue("pg_database")
        )
        with open_store(url, create=True) as target:
            copy_to(source, target)
            yield target


def exported(store: StorageBackend, **kwargs: object) -> bytes:
    out = io.BytesIO()
    export_snapshot(store, WS, out, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"path": "src/db"}, {"path": "docs/naïve.md"}, {"compression": "zstd"}],
    ids=["whole", "subtree", "file", "zstd"],
)
def test_an_export_from_any_backend_verifies(store: StorageBackend, kwargs: dict[str, str]) -> None:
    data = exported(store, **kwargs)
    report = verify_archive(io.BytesIO(data))
    assert report.problems == []
    assert report.manifest is not None
    assert report.checked["nodes"] == report.manifest.counts.nodes
    assert report.checked["frames"] == report.manifest.counts.frames


def test_an_older_root_verifies_and_feeds_a_sink(store: StorageBackend) -> None:
    data = exported(store, root=older_root(store))
    sink = RecordingSink()
    report = verify_archive(io.BytesIO(data), sink=sink)
    assert report.ok, report.problems
    assert report.manifest is not None
    counts = report.manifest.counts
    kinds = [kind for kind, _ in sink.items]
    assert (kinds.count("node"), kinds.count("frame"), kinds.count("content")) == (
        counts.nodes,
        counts.frames,
        counts.contents,
    )
