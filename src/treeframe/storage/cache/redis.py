"""The shared tier and the version stamps in Redis: several servers on one store, one cache truth.

Records live under ``treeframe:cache:r:<key>`` with a TTL (Redis may also
evict them: they are a cache). A workspace's stamp is a random 128-bit token
under ``treeframe:cache:s:<workspace>``, replaced after every write: a
token, not a counter, so a Redis that restarted empty can never hand out a
stamp some instance still holds entries for. A missing stamp is created on
first read (``SET NX``). Redis failing (down, slow: the socket timeout is
short) makes every look-up a miss and every stamp unknown, so the servers
fall back to the store and stay correct, with one warning a minute.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from treeframe.errors import BackendUnavailable
from treeframe.ids import WorkspaceId
from treeframe.observability.throttle import ThrottledWarning

__all__ = ["KEY_PREFIX", "RedisCache"]

KEY_PREFIX = "treeframe:cache:"
_TIMEOUT = 0.25
_WARN_EVERY = 60.0
_LOG = logging.getLogger("treeframe.storage.cache")


class RedisCache:
    """Both seams (:class:`~.base.SharedTier`, :class:`~.base.Stamps`) over one Redis client."""

    def __init__(self, url: str, *, ttl_seconds: int, prefix: str = KEY_PREFIX) -> None:
        try:
            import redis
        except ImportError as exc:
            raise BackendUnavailable(
                "a Redis cache needs the redis extra: pip install 'treeframe[redis]'"
            ) from exc
        self.url = url
        self.ttl_seconds = max(1, ttl_seconds)
        self._records = prefix + "r:"
        self._stamps = prefix + "s:"
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._warn = ThrottledWarning(_LOG, _WARN_EVERY)

    # -- the shared tier -------------------------------------------------------
    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """One MGET; a miss for everything when Redis does not answer."""
        if not keys:
            return {}
        try:
            values = self._client.mget([self._records + key for key in keys])
        except self._errors as exc:
            self._warn("the Redis cache does not answer, reading the store instead (%s)", exc)
            return {}
        return {key: value for key, value in zip(keys, values, strict=True) if value is not None}

    def put_many(self, items: Mapping[str, bytes]) -> None:
        """One pipelined round trip of SET … EX."""
        if not items:
            return
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(self._records + key, value, ex=self.ttl_seconds)
                pipe.execute()
        except self._errors as exc:
            self._warn("the Redis cache does not answer, reading the store instead (%s)", exc)

    def delete(self, keys: Sequence[str]) -> None:
        """Forget ``keys`` (best effort)."""
        if not keys:
            return
        try:
            self._client.delete(*(self._records + key for key in keys))
        except self._errors as exc:
            self._warn("the Redis cache does not answer, reading the store instead (%s)", exc)

    # -- stamps ----------------------------------------------------------------
    def current(self, ws: WorkspaceId) -> str | None:
        """The stamp (created if missing); None when Redis does not answer."""
        key = self._stamps + ws
        try:
            value = self._client.get(key)
            if value is None:
                self._client.set(key, secrets.token_hex(16), nx=True)
                value = self._client.get(key)
        except self._errors as exc:
            self._warn("the Redis cache does not answer, reading the store instead (%s)", exc)
            return None
        return value.decode("ascii") if value is not None else None

    def bump(self, ws: WorkspaceId) -> bool:
        """A fresh random token; False (and a warning) when Redis does not answer."""
        try:
            self._client.set(self._stamps + ws, secrets.token_hex(16))
        except self._errors as exc:
            self._warn("the Redis cache does not answer, reading the store instead (%s)", exc)
            return False
        return True

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
