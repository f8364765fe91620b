"""The per-process state of the engine, in one object a server creates and closes.

Everything the engine keeps between calls that is not in the store lives in
a :class:`Runtime`: the clock every ``created_at`` comes from, the striped
in-process locks that keep threads from building one directory's synthesis
twice, the scanner's hashing worker pool, and the plugin registries (each
entry-point group loaded once). Nothing of this is module-level state, so two
runtimes in one process (two servers in a test, say) share nothing, and a
test can inject a fixed clock.

The CLI and library callers that give no runtime get :func:`default_runtime`,
created on first use and closed at interpreter exit.
"""

from __future__ import annotations

import atexit
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from treeframe.clock import SYSTEM_CLOCK, Clock
from treeframe.engine.generators import GeneratorRegistry
from treeframe.engine.policies import PolicyRegistry

if TYPE_CHECKING:
    from treeframe.tree.filehash import HashPool

__all__ = ["LOCK_STRIPES", "Runtime", "StripedLocks", "default_runtime"]

LOCK_STRIPES = 256
"""Locks per runtime: bounded memory however many directories a server synthesizes."""


class StripedLocks:
    """A fixed set of locks, one chosen per (workspace, directory) by hash.

    Two directories may share a stripe (a thread then waits for an unrelated
    synthesis); that is cheaper than a lock per directory that would grow
    forever in a long-lived server. Across processes the compare-and-set
    append is what serializes; these only save work between threads.
    """

    def __init__(self, stripes: int = LOCK_STRIPES) -> None:
        self._locks = tuple(threading.Lock() for _ in range(stripes))

    def for_directory(self, ws: str, node_id: str) -> threading.Lock:
        """The lock serializing synthesis of ``node_id`` in ``ws`` within this runtime."""
        return self._locks[hash((ws, node_id)) % len(self._locks)]


class Runtime:
    """Clock, synthesis locks, hashing pool and plugin registries of one process (or test).

    The pool starts only when a scan needs workers and is reused by later
    scans given it; :meth:`close` stops it (the runtime stays usable: a later
    scan starts a new one).
    """

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, lock_stripes: int = LOCK_STRIPES) -> None:
        self.clock = clock
        self.locks = StripedLocks(lock_stripes)
        self._pool_lock = threading.Lock()
        self._hash_pool: HashPool | None = None
        self.policies = PolicyRegistry()
        self.generators = GeneratorRegistry()

    @property
    def hash_pool(self) -> HashPool:
        """The hashing pool (its module, with multiprocessing, imported on first use)."""
        with self._pool_lock:
            if self._hash_pool is None:
                from treeframe.tree.filehash import HashPool

                self._hash_pool = HashPool()
            return self._hash_pool

    def close(self) -> None:
        """Stop the hashing workers, if any were started."""
        with self._pool_lock:
            pool = self._hash_pool
        if pool is not None:
            pool.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Default:
    """Holder of the process-wide default runtime (created lazily, once)."""

    lock = threading.Lock()
    runtime: Runtime | None = None


def default_runtime() -> Runtime:
    """The runtime of callers that bring none (the CLI, library use): one per process."""
    with _Default.lock:
        if _Default.runtime is None:
            _Default.runtime = Runtime()
            atexit.register(_Default.runtime.close)
        return _Default.runtime
