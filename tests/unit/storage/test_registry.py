"""Store URLs: any path survives the round trip; opening never creates unless asked."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from treeframe.errors import (
    BackendUnavailable,
    ConfigError,
    StorageError,
    StoreNotFound,
)
from treeframe.hashing.ids import workspace_id
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.testing.factories import workspace_info

WS = workspace_id("default")


@pytest.mark.parametrize(
    "name",
    ["plain", "a b", "what?", "hash#tag", "100%", "%41", "café", os.fsdecode(b"raw\xff")],
)
def test_sqlite_url_round_trips_any_directory_name(tmp_path: Path, name: str):
    directory = tmp_path / name
    url = sqlite_url(directory / "store.db")
    assert "#" not in url
    assert url.count("?") == 0
    with open_store(url) as store:
        store.create_workspace(workspace_info(WS, "default"))
        assert store.url == url
    assert sorted(os.listdir(directory)) == ["store.db"]
    with open_store(url + "?busy_timeout_ms=10", create=False) as again:
        assert again.get_workspace(WS) == workspace_info(WS, "default")


def test_unescaped_hash_in_a_url_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="%23"):
        open_store(f"sqlite://{tmp_path}/a#b.db")


def test_create_false_refuses_a_missing_or_empty_store(tmp_path: Path):
    url = sqlite_url(tmp_path / "store.db")
    for read_only in (False, True):
        with pytest.raises(StoreNotFound):
            open_store(url, create=False, read_only=read_only)
    assert os.listdir(tmp_path) == []
    (tmp_path / "store.db").write_bytes(b"")  # what a creation killed before its schema leaves
    with pytest.raises(StoreNotFound, match="empty"):
        open_store(url, create=False)
    assert (tmp_path / "store.db").read_bytes() == b""


def test_read_only_store_reads_and_refuses_writes(tmp_path: Path):
    url = sqlite_url(tmp_path / "store.db")
    with open_store(url) as store:
        store.create_workspace(workspace_info(WS, "default"))
    with open_store(url, read_only=True) as store:
        assert store.get_workspace(WS) == workspace_info(WS, "default")
        with pytest.raises(StorageError, match="read-only"):
            store.create_workspace(workspace_info(workspace_id("other"), "other"))
    with open_store(url) as store:
        assert store.get_workspace(workspace_id("other")) is None


def test_a_missing_driver_is_backend_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A Python built without sqlite3: the sqlite backend fails to import, the URL says why."""
    monkeypatch.setitem(sys.modules, "sqlite3", None)  # ``import sqlite3`` now raises ImportError
    monkeypatch.delitem(sys.modules, "treeframe.storage.sqlite", raising=False)  # re-import it
    with pytest.raises(BackendUnavailable, match=r"sqlite backend .* is not available"):
        open_store(sqlite_url(tmp_path / "store.db"))
    assert os.listdir(tmp_path) == []
    with open_store("memory://") as store:  # other backends are unaffected
        store.create_workspace(workspace_info(WS, "default"))


def test_content_policy_pairs_the_codec_and_the_external_store(tmp_path: Path):
    from treeframe.storage.blobstores.filesystem import FileBlobStore
    from treeframe.storage.registry import content_policy

    policy = content_policy(f"file://{tmp_path}/blobs", "lz4", 100)
    assert (policy.codec.name, policy.inline_max) == ("lz4", 100)
    assert isinstance(policy.external, FileBlobStore)
    assert policy.external.codec.name == "lz4"  # the URL names none: the default
    own = content_policy(f"file://{tmp_path}/blobs?codec=brotli", "lz4", 100)
    assert isinstance(own.external, FileBlobStore)
    assert own.external.codec.name == "brotli"
    assert content_policy(None, "none", 0).external is None
    with pytest.raises(ConfigError):
        content_policy(None, "none", -1)
    with pytest.raises(ConfigError):
        content_policy(None, "xz", 10)


def test_open_store_hands_the_content_policy_to_the_backend(tmp_path: Path):
    from treeframe.hashing.ids import content_hash
    from treeframe.storage.registry import content_policy
    from treeframe.testing.factories import make_ws, workspace_info

    ws = make_ws()
    data = b"x" * 500
    for url in ("memory://", sqlite_url(tmp_path / "s.db")):
        policy = content_policy(f"file://{tmp_path}/blobs", "zstd", 10)
        with open_store(url, content=policy) as store:
            store.create_workspace(workspace_info(ws, "ws-a"))
            store.blobs.put(ws, content_hash(data), data)
            assert store.blobs.get_many(ws, [content_hash(data)]) == {content_hash(data): data}
    assert len([p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]) == 1  # stored once
    with pytest.raises(ConfigError, match="takes no path or options"):
        open_store("memory://x?y=1")


@pytest.mark.parametrize(
    ("scheme", "option"),
    [
        ("sqlite", "busy_timeout_ms"),
        ("lmdb", "map_size_mb"),
        ("lmdb", "lock_timeout_ms"),
        ("postgresql", "pool_max"),
        ("postgresql", "connect_timeout"),
    ],
)
@pytest.mark.parametrize("bad", ["²", "-1", "1.5", "x", ""])
def test_a_bad_integer_store_option_is_one_config_error(
    tmp_path: Path, scheme: str, option: str, bad: str
):
    where = "127.0.0.1:1/db" if scheme == "postgresql" else str(tmp_path / "store")
    url = f"{scheme}://{where}?{option}={bad}"
    with pytest.raises(ConfigError, match=option):
        open_store(url)
    assert not (tmp_path / "store").exists()
