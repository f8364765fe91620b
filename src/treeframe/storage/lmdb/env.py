"""One LMDB environment per directory and process: open, write lock, map growth, fork guard.

LMDB forbids opening one environment twice in a process (closing either
handle drops the other's file locks) and using it after ``fork``. So every
:class:`~treeframe.storage.lmdb.store.LmdbStore` of a directory in one process
shares one :class:`Environment` from a registry keyed by process ID and real
path, and a forked child, on its first use of a store, closes the handles it
inherited (see :meth:`Environment.forget`) and opens its own.

Writers: LMDB's own writer mutex waits forever, so a write transaction first
takes this process's thread lock and then an ``flock`` on ``write.lock`` in
the store directory, polled until the caller's timeout
(:class:`~treeframe.errors.StoreLocked` after it); only the holder of both
begins the LMDB write transaction, which therefore never waits.

Map growth: LMDB allocates pages inside a fixed-size memory map and fails a
write with ``MDB_MAP_FULL`` when it is used up. A writer grows the map (it
doubles) before a transaction when three quarters are in use, and after a
failed one. Resizing is allowed only while no transaction of the process is
active, so every transaction enters a *gate*; a resize closes the gate and
waits (bounded) for the active ones to end. Another process's growth is
adopted the same way when LMDB reports ``MDB_MAP_RESIZED``.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import lmdb

from treeframe.errors import StorageError, StoreLocked

__all__ = ["DB_NAMES", "Environment", "acquire", "has_layout", "release"]

DB_NAMES = (
    "meta",
    "schema_migrations",
    "ws_ids",
    "workspaces",
    "ws_by_name",
    "ws_by_owner",
    "ws_seq",
    "nodes",
    "paths",
    "root_history",
    "scans",
    "staging",
    "contents",
    "frames",
    "frames_by_seq",
    "frames_by_node",
    "frames_by_type",
    "frames_by_agent",
    "frame_sets",
    "heads",
    "agents",
    "agents_by_agent",
    "path_history",
    "basis_refs",
    "tokens",
    "tokens_by_scope",
    "acl",
    "acl_by_agent",
    "audit",
    "audit_by_agent",
    "audit_by_operation",
    "audit_by_node",
)
"""Every named sub-database of the layout (see :mod:`treeframe.storage.lmdb.store`)."""

MAX_DBS = 64
MAX_READERS = 1024
GROW_AT = 0.75  # fraction of the map in use that triggers growth before a write
_LOCK_FILE = "write.lock"

_registry: dict[tuple[int, str], Environment] = {}
_registry_lock = threading.Lock()


class Environment:
    """An open LMDB environment with its sub-databases, write lock and resize gate."""

    def __init__(
        self, path: str, *, map_size: int, read_only: bool, create: bool, sync: bool
    ) -> None:
        self.path = path
        self.read_only = read_only
        self.pid = os.getpid()
        self.refs = 0
        self.sync = sync
        self.env = self._open(map_size, create)
        if not read_only:
            self.env.reader_check()  # free reader slots of processes that died holding them
        self.dbs: dict[str, Any] = {}
        self._thread_lock = threading.Lock()
        self._owner: int | None = None
        self._lock_fd = -1
        self._gate = threading.Condition()
        self._active = 0
        self._resizing = False

    def _open(self, map_size: int, create: bool) -> lmdb.Environment:
        options: dict[str, Any] = {
            "map_size": map_size,
            "subdir": True,
            "max_dbs": MAX_DBS,
            "max_readers": MAX_READERS,
            "readahead": False,
            "metasync": False,
            "sync": self.sync,
        }
        if not self.read_only:
            return lmdb.open(self.path, create=create, **options)
        try:
            return lmdb.open(self.path, readonly=True, create=False, **options)
        except lmdb.Error as exc:
            if not isinstance(exc, lmdb.ReadonlyError) and "ermission" not in str(exc):
                raise
        # No write access to the lock file (a read-only directory or medium):
        # nobody can write there either, so read without LMDB's reader locks.
        return lmdb.open(self.path, readonly=True, lock=False, create=False, **options)

    def open_dbs(self, timeout_ms: int) -> None:
        """Open every named sub-database that exists (handles are shared by the process).

        In a writable environment the binding keeps a handle only if a write
        transaction opened it, so this takes the write lock (bounded by
        ``timeout_ms``) rather than wait forever behind another writer.
        """
        if self.read_only:
            self._open_existing(None)
            return
        with self.writer(timeout_ms), self.env.begin(write=True) as txn:
            self._open_existing(txn)

    def _open_existing(self, txn: lmdb.Transaction | None) -> None:
        for name in DB_NAMES:
            try:
                self.dbs[name] = self.env.open_db(name.encode(), txn=txn, create=False)
            except lmdb.NotFoundError:
                continue  # a store whose creation stopped early: its migration adds them

    # -- the writer lock --------------------------------------------------------
    @contextmanager
    def writer(self, timeout_ms: int) -> Iterator[None]:
        """Hold this environment's write lock across threads and processes, or StoreLocked."""
        me = threading.get_ident()
        if self._owner == me:
            raise StorageError(
                f"store {self.path}: this thread already writes through another handle of it"
            )
        deadline = time.monotonic() + timeout_ms / 1000
        if not self._thread_lock.acquire(timeout=max(timeout_ms, 0) / 1000):
            raise StoreLocked(
                f"store {self.path} is locked by another writer thread (waited {timeout_ms} ms)"
            )
        try:
            self._flock(deadline, timeout_ms)
            self._owner = me
            try:
                yield
            finally:
                self._owner = None
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _flock(self, deadline: float, timeout_ms: int) -> None:
        if self._lock_fd < 0:
            try:
                self._lock_fd = os.open(
                    os.path.join(self.path, _LOCK_FILE),
                    os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                    0o644,
                )
            except OSError as exc:
                raise StorageError(
                    f"cannot open the write lock of store {self.path}: {exc}"
                ) from exc
        pause = 0.001
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreLocked(
                        f"store {self.path} is locked by another process's writer "
                        f"(waited {timeout_ms} ms)"
                    ) from None
                time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
                pause = min(pause * 2, 0.05)

    # -- transactions through the resize gate --------------------------------------
    def enter(self) -> None:
        """Count as an active transaction (waits while a resize is under way)."""
        with self._gate:
            while self._resizing:
                self._gate.wait()
            self._active += 1

    def leave(self) -> None:
        """End what :meth:`enter` began."""
        with self._gate:
            self._active -= 1
            if self._active == 0 and self._resizing:
                self._gate.notify_all()

    @contextmanager
    def active(self) -> Iterator[None]:
        """:meth:`enter` for the block."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def resize(self, size: int, timeout_ms: int) -> None:
        """Set the map size (0: adopt the size on disk) once no transaction is active."""
        deadline = time.monotonic() + max(timeout_ms, 1000) / 1000
        with self._gate:
            while self._resizing:
                self._gate.wait()
            self._resizing = True
            try:
                while self._active:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise StorageError(
                            f"store {self.path} must grow its map but transactions stay open "
                            "(an open snapshot?); close them and retry"
                        )
                    self._gate.wait(left)
                self.env.set_mapsize(size)
            finally:
                self._resizing = False
                self._gate.notify_all()

    def map_size(self) -> int:
        """The current map size in bytes."""
        size: int = self.env.info()["map_size"]
        return size

    def needs_growth(self) -> bool:
        """Whether more than :data:`GROW_AT` of the map is in use."""
        info = self.env.info()
        used = (info["last_pgno"] + 1) * self.env.stat()["psize"]
        return bool(used > GROW_AT * info["map_size"])

    def forget(self) -> None:
        """In a forked child: close the handles inherited from the parent, harmlessly.

        LMDB's file locks are per process (a child holds none) and it clears
        only the closing process's reader slots, so closing here leaves the
        parent's locks and readers intact; the binding needs it closed before
        the child may open the environment again. The inherited ``flock``
        descriptor is closed without unlocking (the parent's descriptor keeps
        its lock). Forking while a transaction is open is not supported.
        """
        with suppress(lmdb.Error):
            self.env.close()
        if self._lock_fd >= 0:
            with suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = -1

    def close(self) -> None:
        """Close the environment and the lock file (last reference only)."""
        self.env.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def acquire(
    path: str, *, map_size: int, read_only: bool, create: bool, timeout_ms: int, sync: bool = True
) -> Environment:
    """This process's shared environment of ``path`` (opened on first use).

    The first opener in the process decides ``map_size`` (a start: it
    grows) and ``sync`` for every handle of the process.
    """
    pid = os.getpid()
    real = os.path.realpath(path)
    with _registry_lock:
        for key in [k for k in _registry if k[0] != pid]:
            _registry.pop(key).forget()  # a forked child: drop the parent's handles
        found = _registry.get((pid, real))
        if found is not None and found.read_only and not read_only:
            raise StorageError(
                f"store {path} is already open read-only in this process; close it first"
            )
        if found is None:
            found = Environment(
                real, map_size=map_size, read_only=read_only, create=create, sync=sync
            )
            try:
                if has_layout(found):
                    found.open_dbs(timeout_ms)
            except lmdb.Error:
                found.env.close()
                raise
            _registry[(pid, real)] = found
        found.refs += 1
        return found


def has_layout(environment: Environment) -> bool:
    """Whether the environment holds the treeframe sub-databases (their names are main-DB keys)."""
    with environment.env.begin() as txn:
        return txn.get(b"meta") is not None


def release(environment: Environment) -> None:
    """Drop one reference; the last one closes the environment."""
    with _registry_lock:
        environment.refs -= 1
        if environment.refs > 0 or environment.pid != os.getpid():
            return
        key = (environment.pid, environment.path)
        if _registry.get(key) is environment:
            del _registry[key]
    environment.close()
