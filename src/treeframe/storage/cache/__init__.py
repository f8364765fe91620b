"""Read-through caches in front of a store: immutable records by hash, mutable state by stamp.

:class:`~.store.CachedStore` is the proxy (the rules are in its module
docstring); :mod:`.lru` bounds what a process keeps by bytes; the two seams
of :mod:`.base` — the shared tier and the version stamps — have one
implementation each that several instances can share (:mod:`.redis`) and,
for stamps, one for a single process (:mod:`.local`). :func:`cached_store`
builds the proxy from a cache URL: ``memory``, ``off`` or a Redis URL.
"""

from __future__ import annotations

from typing import Any

from treeframe.storage.cache.lru import ByteLRU
from treeframe.storage.cache.redis import KEY_PREFIX
from treeframe.storage.cache.store import CachedStore, CacheObserver

__all__ = [
    "MUTABLE_BYTES",
    "CacheObserver",
    "CachedStore",
    "cache_prefix",
    "cached_store",
    "stamping_store",
]

MUTABLE_BYTES = 16 << 20
"""What a process keeps of stamped mutable answers (heads, roots, paths): 16 MiB."""


def cache_prefix(namespace: str) -> str:
    """The Redis key prefix of a deployment's ``cache.namespace``."""
    return f"{KEY_PREFIX}{namespace}:" if namespace else KEY_PREFIX


def cached_store(
    store: Any,
    url: str,
    *,
    memory_bytes: int,
    heads: bool = True,
    max_age_seconds: float = 2.0,
    ttl_seconds: int = 86400,
    observe: CacheObserver | None = None,
    prefix: str = KEY_PREFIX,
) -> Any:
    """``store`` behind the cache ``url`` names; ``off`` returns it unchanged.

    ``prefix`` namespaces the Redis keys (deployments sharing one Redis, tests).
    """
    if url == "off":
        return store
    records = ByteLRU(memory_bytes) if memory_bytes > 0 else None
    if url == "memory":
        return CachedStore(store, records=records, observe=observe)
    from treeframe.storage.cache.redis import RedisCache

    shared = RedisCache(url, ttl_seconds=ttl_seconds, prefix=prefix)
    return CachedStore(
        store,
        records=records,
        tier=shared,
        stamps=shared,
        mutable=ByteLRU(MUTABLE_BYTES) if heads else None,
        max_age_seconds=max_age_seconds,
        observe=observe,
    )


def stamping_store(store: Any, url: str, *, prefix: str = KEY_PREFIX) -> Any:
    """``store`` whose writes change the shared stamps of a Redis cache ``url`` (and nothing cached).

    What a writer that is not a server (the command line) opens, so the
    servers' cached heads see its writes; any other ``url`` returns ``store``.
    """
    if url in ("memory", "off"):
        return store
    from treeframe.storage.cache.redis import RedisCache

    return CachedStore(store, stamps=RedisCache(url, ttl_seconds=1, prefix=prefix))
