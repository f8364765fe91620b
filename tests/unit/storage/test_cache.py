"""The read-through caches: what they keep, what they refuse to keep, and that they never go stale."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import REDIS_URL
from treeframe.frames.frame import Frame
from treeframe.hashing.ids import content_hash
from treeframe.storage.cache import cached_store, stamping_store
from treeframe.storage.cache.local import LocalStamps
from treeframe.storage.cache.lru import ENTRY_OVERHEAD, ByteLRU
from treeframe.storage.cache.redis import RedisCache
from treeframe.storage.cache.store import CachedStore
from treeframe.storage.memory import MemoryStore
from treeframe.storage.sqlite import SqliteStore
from treeframe.testing.conformance import OTHER_WS, WS, append
from treeframe.testing.factories import make_file, make_frame, workspace_info
from treeframe.tree.records import NodeRecord


class Counting:
    """A store that counts the calls reaching it (the cache's misses)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if callable(attr) and not name.startswith("_") and name not in ("unit_of_work", "snapshot"):

            def call(*args: Any, **kwargs: Any) -> Any:
                self.calls[name] += 1
                return attr(*args, **kwargs)

            return call
        return attr


class Observed:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()

    def __call__(self, cache: str, hits: int, misses: int) -> None:
        self.hits[cache] += hits
        self.misses[cache] += misses


def put_frame(store: Any, node: NodeRecord, frame_type: str, body: bytes) -> Frame:
    """Append a frame of ``frame_type`` holding ``body`` on ``node``; the frame as stored."""
    return append(store, *make_frame(node, body, frame_type=frame_type))


def _store() -> MemoryStore:
    store = MemoryStore()
    store.create_workspace(workspace_info(WS, "ws"))
    return store


def test_lru_is_bounded_by_bytes_and_evicts_the_least_recently_used() -> None:
    lru = ByteLRU(4 * (100 + ENTRY_OVERHEAD))
    for key in "abcd":
        lru.put(key, key, 100)
    assert lru.get("a") == "a"  # a is now the most recent
    lru.put("e", "e", 100)
    assert lru.get("b") is None
    assert lru.get("a") == "a"
    assert lru.get("e") == "e"
    assert lru.size <= lru.capacity
    lru.put("huge", "x", lru.capacity)  # more than a quarter: refused, nothing flushed
    assert lru.get("huge") is None
    assert len(lru) == 4
    lru.pop("a")
    assert lru.get("a") is None
    assert lru.size == 3 * (100 + ENTRY_OVERHEAD)


def test_records_are_read_through_once_and_absences_never_cached() -> None:
    inner = Counting(_store())
    seen = Observed()
    store = CachedStore(inner, records=ByteLRU(1 << 20), observe=seen)
    record = make_file("a.txt", b"a")
    assert store.get_nodes(WS, [record.node_id]) == {}  # not stored yet
    store.put_nodes(WS, [record])
    assert store.get_node(WS, record.node_id) == record  # a cached miss would hide it
    assert store.get_node(WS, record.node_id) == record
    assert store.get_nodes(WS, [record.node_id, record.node_id]) == {record.node_id: record}
    assert inner.calls["get_nodes"] == 2
    assert seen.hits["node"] == 3
    assert seen.misses["node"] == 2


def test_other_workspaces_never_see_a_record_through_the_cache() -> None:
    store = CachedStore(_store(), records=ByteLRU(1 << 20))
    store.create_workspace(workspace_info(OTHER_WS, "other"))
    record = make_file("secret.txt", b"secret")
    store.put_nodes(WS, [record])
    assert store.get_node(WS, record.node_id) == record
    assert store.get_node(OTHER_WS, record.node_id) is None


def test_small_contents_are_cached_and_large_ones_are_not() -> None:
    inner = _store()
    store = CachedStore(inner, records=ByteLRU(8 << 20))
    small, large = b"small", b"L" * (300 * 1024)
    store.blobs.put(WS, content_hash(small), small)
    store.blobs.put(WS, content_hash(large), large)
    counting = Counting(inner.blobs)
    store.blobs._inner = counting
    for _ in range(3):
        got = store.blobs.get_many(WS, [content_hash(small), content_hash(large)])
        assert got == {content_hash(small): small, content_hash(large): large}
    assert counting.calls["get_many"] == 3  # large every time; small only the first time


def test_a_rolled_back_unit_of_work_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    inner = SqliteStore(tmp_path / "store.db")
    inner.create_workspace(workspace_info(WS, "ws"))
    store = CachedStore(inner, records=ByteLRU(1 << 20))
    record = make_file("a.txt", b"a")
    seen: list[NodeRecord | None] = []

    def roll_back() -> None:
        with store.unit_of_work():
            store.put_nodes(WS, [record])
            seen.append(store.get_node(WS, record.node_id))  # its own uncommitted write
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        roll_back()
    assert seen == [record]
    assert store.get_node(WS, record.node_id) is None
    store.close()


def test_heads_are_cached_under_stamps_and_every_write_through_the_store_invalidates() -> None:
    inner = Counting(_store())
    store = CachedStore(inner, stamps=LocalStamps(), mutable=ByteLRU(1 << 20))
    node = make_file("a.txt", b"a")
    store.put_nodes(WS, [node])
    assert store.get_head(WS, node.node_id, "summary") is None
    assert store.get_head(WS, node.node_id, "summary") is None
    assert inner.calls["get_heads_many"] == 1  # the absence was cached under the stamp
    first = put_frame(store, node, "summary", b"one")
    assert store.get_head(WS, node.node_id, "summary") == first.frame_id
    with store.unit_of_work():
        second = put_frame(store, node, "summary", b"two")
        # inside the unit the cache is bypassed: its own write, not the stale entry
        assert store.get_head(WS, node.node_id, "summary") == second.frame_id
    assert store.get_head(WS, node.node_id, "summary") == second.frame_id
    heads = store.get_heads_many(WS, [node.node_id])
    heads[node.node_id]["summary"] = first.frame_id  # a caller changing its answer
    assert store.get_head(WS, node.node_id, "summary") == second.frame_id


def test_a_write_that_bypasses_the_stamps_is_hidden_for_at_most_max_age() -> None:
    inner = _store()
    node = make_file("a.txt", b"a")
    inner.put_nodes(WS, [node])
    fresh = CachedStore(inner, stamps=LocalStamps(), mutable=ByteLRU(1 << 20), max_age_seconds=0)
    lasting = CachedStore(inner, stamps=LocalStamps(), mutable=ByteLRU(1 << 20))
    assert fresh.get_head(WS, node.node_id, "summary") is None
    assert lasting.get_head(WS, node.node_id, "summary") is None
    frame = put_frame(inner, node, "summary", b"behind the cache's back")
    assert fresh.get_head(WS, node.node_id, "summary") == frame.frame_id
    assert lasting.get_head(WS, node.node_id, "summary") is None  # why writers must stamp


def test_a_re_put_evicts_the_frame_so_its_put_seq_is_current() -> None:
    store = CachedStore(_store(), records=ByteLRU(1 << 20))
    node = make_file("a.txt", b"a")
    store.put_nodes(WS, [node])
    first = put_frame(store, node, "summary", b"x")
    put_frame(store, node, "summary", b"y")
    assert store.get_frame(WS, first.frame_id).put_seq == 1  # type: ignore[union-attr]
    put_frame(store, node, "summary", b"x")  # made current again
    assert store.get_frame(WS, first.frame_id).put_seq == 3  # type: ignore[union-attr]


# -- Redis: the shared tier and stamps ------------------------------------------------
@pytest.fixture
def two_servers(tmp_path: Path, redis_prefix: str) -> Iterator[tuple[Any, Any, SqliteStore]]:
    """Two caches over one SQLite file, sharing one Redis (two server instances, in miniature)."""
    path = tmp_path / "store.db"
    setup = SqliteStore(path)
    setup.create_workspace(workspace_info(WS, "ws"))
    a = cached_store(SqliteStore(path), REDIS_URL, memory_bytes=1 << 20, prefix=redis_prefix)
    b = cached_store(SqliteStore(path), REDIS_URL, memory_bytes=1 << 20, prefix=redis_prefix)
    yield a, b, setup
    a.close()
    b.close()
    setup.close()


def test_no_stale_head_after_a_write_acknowledged_by_another_instance(
    two_servers: tuple[Any, Any, SqliteStore],
) -> None:
    a, b, _ = two_servers
    node = make_file("a.txt", b"a")
    a.put_nodes(WS, [node])
    for round_ in range(20):
        before = b.get_head(WS, node.node_id, "summary")  # b caches the head it saw
        assert b.get_head(WS, node.node_id, "summary") == before
        written = put_frame(a, node, "summary", b"round %d" % round_)  # acknowledged by a
        assert b.get_head(WS, node.node_id, "summary") == written.frame_id
        assert b.get_frame_set(WS, node.node_id).count == round_ + 1  # type: ignore[union-attr]


def test_a_command_line_writer_stamps_so_servers_see_it(
    two_servers: tuple[Any, Any, SqliteStore], redis_prefix: str
) -> None:
    a, _, setup = two_servers
    node = make_file("a.txt", b"a")
    setup.put_nodes(WS, [node])
    assert a.get_head(WS, node.node_id, "summary") is None
    writer = stamping_store(setup, REDIS_URL, prefix=redis_prefix)
    frame = put_frame(writer, node, "summary", b"from the CLI")
    assert a.get_head(WS, node.node_id, "summary") == frame.frame_id


def test_the_shared_tier_serves_other_instances_and_drops_damaged_entries(
    two_servers: tuple[Any, Any, SqliteStore], redis_prefix: str
) -> None:
    a, b, _ = two_servers
    node, other = make_file("a.txt", b"a"), make_file("b.txt", b"b")
    a.put_nodes(WS, [node, other])
    assert a.get_node(WS, node.node_id) == node  # fills Redis
    tier = RedisCache(REDIS_URL, ttl_seconds=60, prefix=redis_prefix)
    assert tier.get_many([f"n:{WS}:{node.node_id}"]) == {f"n:{WS}:{node.node_id}": node.to_json()}
    b.inner.get_nodes = None  # b must not need its store for a record in Redis
    assert b.get_node(WS, node.node_id) == node
    b.inner.__dict__.pop("get_nodes")
    # another record's bytes under this ID, then garbage: both ignored, the store answers
    tier.put_many({f"n:{WS}:{other.node_id}": node.to_json()})
    assert b.get_node(WS, other.node_id) == other
    tier.put_many({f"c:{WS}:{'0' * 64}": b"not that content"})
    assert b.blobs.get_many(WS, ["0" * 64]) == {}
    tier.close()


def test_an_unreachable_redis_falls_back_to_the_store(tmp_path: Path) -> None:
    from tests.services import free_port

    store = cached_store(
        SqliteStore(tmp_path / "store.db"), f"redis://127.0.0.1:{free_port()}/0", memory_bytes=0
    )
    store.create_workspace(workspace_info(WS, "ws"))
    node = make_file("a.txt", b"a")
    store.put_nodes(WS, [node])
    frame = put_frame(store, node, "summary", b"x")
    assert store.get_node(WS, node.node_id) == node
    assert store.get_head(WS, node.node_id, "summary") == frame.frame_id
    assert store.current_root(WS) is None
    store.close()
