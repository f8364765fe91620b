"""LmdbStore: an embedded, memory-mapped backend (LMDB: one writer, MVCC readers).

Concurrency: every write method is one LMDB write transaction; any number of
threads and processes may open one store directory, and their writes
serialize on the write lock of :mod:`treeframe.storage.lmdb.env` (a waiting
writer gets :class:`~treeframe.errors.StoreLocked` after ``lock_timeout_ms``).
Readers never block and are never blocked: each read is a short read
transaction on the last committed state. ``unit_of_work()`` holds one write
transaction for the thread for the block; each write method inside runs in
a nested transaction of it (a caught failure undoes only itself), and an
exception leaving the block aborts all of it. ``snapshot()`` is one read
transaction held for the block. Lazy iterators read page by page, each page
its own short transaction, so an abandoned iterator pins no old state.
Opening a writable store takes the write lock once, bounded the same way,
because the binding keeps sub-database handles only from a write
transaction; a read-only open never waits. Forking while a unit of work or
a snapshot is open is not supported (a child reopens the environment on its
first use of the store; see :mod:`treeframe.storage.lmdb.env`).

Durability: commits flush the data pages (``fdatasync``) but not the meta
page (LMDB's ``MDB_NOMETASYNC``): a committed transaction survives a killed
process; an OS crash may undo the last commits but never tears one. That
flush is most of a small write's cost (``benchmarks/bench_lmdb.py``);
``sync=False`` (URL ``?sync=off``) drops it, trading OS-crash safety.

Layout (schema version 1): named sub-databases, one per table of the SQLite
layout. Keys are binary (:mod:`treeframe.storage.lmdb.keys`): ``W`` is the
workspace's 4-byte big-endian number (``ws_ids`` maps its 32-byte ID to it),
IDs are 32 raw bytes, ``seq`` and counts 8-byte big-endian, text parts
ordered text (``T(...)``), so each per-node or per-workspace view is one
cursor range scan in the order it is read. Values are canonical JSON records
(as SQLite keeps them) or the compact fixed-width forms below.

=================== ============================ =====================================
database            key                          value
=================== ============================ =====================================
meta                name                         ``format``, ``schema_version``, ``next_wid``
schema_migrations   version (4)                  JSON {name, applied_at}
ws_ids              workspace ID (32)            W
workspaces          W                            JSON WorkspaceInfo
ws_by_name          T(name) W                    empty (keyset-paged listing by name)
ws_by_owner         T(owner) W                   empty
ws_seq              W                            next frame seq (8)
nodes               W node                       NodeRecord canonical JSON
paths               W T(path)                    node [+ path when cut]
root_history        W seq                        root (32) + created_at
scans               W token (32 ASCII)           empty
staging             W token T(path)              0 (delete) or 1 + node [+ path when cut]
contents            W hash                       codec-name length, codec, 0 (external) or 1 + bytes
frames              W frame                      put_seq (8) + frame canonical JSON
frames_by_seq       W seq                        frame
frames_by_node      W node put_seq               frame (recency views scan it backwards)
frames_by_type      W node T(type) put_seq       frame
frames_by_agent     W node T(agent) put_seq      frame
frame_sets          W node                       root (32) + count (8)
heads               W node T(type)               frame
agents              W T(agent)                   opaque agent record
agents_by_agent     T(agent) W                   empty
path_history        W T(path) seq                previous node [+ path when cut]
basis_refs          W ref seq                    frame
tokens              token ID (16 ASCII)          JSON TokenRecord (never the secret)
tokens_by_scope     workspace ID (32) token ID   empty
acl                 W T(agent)                   JSON {permissions, granted_at, granted_by}
acl_by_agent        T(agent) W                   empty
audit               W seq                        JSON AuditEntry
audit_by_agent      W T(agent) seq               empty (and by_operation, by_node alike)
=================== ============================ =====================================

Schema versions go through :mod:`treeframe.storage.migrations` like SQLite's:
creating a store writes ``format`` and version 0, and step 1 lays down the
sub-databases above, so a creation cut short is finished by the next open.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

import lmdb

from treeframe.errors import (
    BackendUnavailable,
    ConcurrentUpdate,
    Conflict,
    InvalidId,
    NodeNotFound,
    StorageError,
    StoreCorrupt,
    StoreNotFound,
    TreeframeError,
    WorkspaceNotFound,
)
from treeframe.frames.frame import Frame
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId
from treeframe.storage.blobs import BlobStore
from treeframe.storage.catalog import CatalogBlobs, ContentPolicy
from treeframe.storage.derived import BatchDerivedStore
from treeframe.storage.lmdb import env as environments
from treeframe.storage.lmdb.keys import (
    decode_text,
    is_hashed,
    raw_id,
    text,
    u64,
    unpack_u64,
    utf8,
    wid_key,
)
from treeframe.storage.migrations import Migration, SchemaStatus, migrate, pending
from treeframe.storage.urls import lmdb_url
from treeframe.storage.values import (
    ANY_HEAD,
    SUPERSEDED,
    AclEntry,
    AnyHead,
    Appended,
    AuditDraft,
    AuditEntry,
    Damaged,
    NodeSetState,
    RootEntry,
    SetRootFn,
    TokenRecord,
    WorkspaceInfo,
    basis_refs,
    chain_entry,
    is_token_id,
    missing_content,
    workspace_deleted,
)
from treeframe.tree.records import NodeRecord

__all__ = ["DEFAULT_MAP_SIZE", "SCHEMA_VERSION", "LmdbStore"]

T = TypeVar("T")
Txn = Any  # lmdb.Transaction (the binding ships no type hints)

FORMAT = b"treeframe-lmdb"
DEFAULT_MAP_SIZE = 1 << 30
"""Initial memory-map size (1 GiB); it doubles whenever a write needs more."""
_GROW_ATTEMPTS = 8  # doublings one write may trigger before giving up
_PAGE = 256  # entries per page of the full-iteration methods
_RECORD_CACHE = 8192  # parsed records kept per store and kind

_SUPERSEDED = SUPERSEDED.encode()
"""The scans-table mark of a superseded scan (see SUPERSEDED), before its token."""


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _require(hex_id: str, what: str) -> bytes:
    """Raw key of an ID about to be written; raises InvalidId for a malformed one."""
    raw = raw_id(hex_id)
    if raw is None:
        raise InvalidId(f"malformed {what} {hex_id!r:.80}: expected 64 lowercase hex characters")
    return raw


def _dump(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _translate(exc: lmdb.Error, path: str) -> StorageError:
    """The most specific treeframe error for a binding error."""
    corrupt = (
        lmdb.CorruptedError,
        lmdb.InvalidError,
        lmdb.PageNotFoundError,
        lmdb.VersionMismatchError,
        lmdb.BadChecksumError,
    )
    if isinstance(exc, corrupt):
        return StoreCorrupt(f"store {path} is damaged or is not an LMDB store: {exc}")
    if isinstance(exc, lmdb.ReadonlyError):
        return StorageError(f"store {path} is open read-only: {exc}")
    if isinstance(exc, lmdb.DiskError):
        return BackendUnavailable(f"store {path} is out of reach: {exc}")
    return StorageError(f"store {path}: {exc}")


@contextmanager
def _mapped(path: str) -> Iterator[None]:
    """Re-raise any binding error as a treeframe error."""
    try:
        yield
    except lmdb.Error as exc:
        raise _translate(exc, path) from exc


def _map_full(exc: BaseException) -> bool:
    return isinstance(exc, lmdb.MapFullError) or isinstance(exc.__cause__, lmdb.MapFullError)


def _scan(
    txn: Txn, db: Any, prefix: bytes, start: bytes | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """Entries whose key starts with ``prefix``, ascending from ``start`` (inclusive)."""
    cursor = txn.cursor(db)
    if not cursor.set_range(start if start is not None else prefix):
        return
    for key, value in cursor:
        if not key.startswith(prefix):
            return
        yield key, value


def _scan_back(
    txn: Txn, db: Any, prefix: bytes, before: bytes | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """Entries whose key starts with ``prefix``, descending from below ``before`` (exclusive)."""
    cursor = txn.cursor(db)
    bound = before if before is not None else _successor(prefix)
    found = cursor.prev() if bound is not None and cursor.set_range(bound) else cursor.last()
    while found:
        key = cursor.key()
        if not key.startswith(prefix):
            return
        yield key, cursor.value()
        found = cursor.prev()


def _successor(prefix: bytes) -> bytes | None:
    """The smallest key above every key starting with ``prefix`` (None: there is none)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _putter(
    db: Any, rows: Sequence[tuple[bytes, bytes]], *, overwrite: bool
) -> Callable[[Txn], None]:
    """A transaction body writing ``rows`` (``overwrite=False``: present keys are kept)."""

    def write(txn: Txn) -> None:
        for key, value in rows:
            txn.put(key, value, db=db, overwrite=overwrite)

    return write


# -- schema versions ----------------------------------------------------------------
def _v1_layout(tx: Txn, environment: environments.Environment) -> None:
    """Every sub-database of the layout (handles kept by the environment)."""
    for name in environments.DB_NAMES:
        environment.dbs[name] = environment.env.open_db(name.encode(), txn=tx, create=True)


_STEPS: tuple[tuple[int, str, Callable[[Txn, environments.Environment], None]], ...] = (
    (1, "layout", _v1_layout),
)
SCHEMA_VERSION = _STEPS[-1][0]
"""Version of the layout above; an older store is upgraded on open, a newer one refused."""


class LmdbStore(BatchDerivedStore):
    """A treeframe store in one LMDB environment directory; many threads and processes."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        lock_timeout_ms: int = 5000,
        create: bool = True,
        read_only: bool = False,
        migrate: bool = True,
        content: ContentPolicy | None = None,
        sync: bool = True,
    ) -> None:
        """Open (``create``: or create) the store directory at ``path``.

        ``sync=False`` skips the flush at each commit (LMDB's ``MDB_NOSYNC``):
        a killed process still loses nothing, but an OS crash or power loss
        may lose or damage recent commits; for scratch stores and bulk loads.

        ``create=False`` raises StoreNotFound for a directory without a store
        instead of creating one; ``read_only`` never writes (every write
        raises ``storage_error``) and works on a read-only directory. A
        writable store of an older schema version is migrated on open unless
        ``migrate=False``. ``content`` packs and places contents (see
        :class:`~treeframe.storage.catalog.ContentPolicy`).
        """
        self._path = os.path.abspath(os.fspath(path))
        self.url = lmdb_url(self._path)
        self._map_size = map_size
        self._lock_timeout = lock_timeout_ms
        self._sync = sync
        self._read_only = read_only
        self._closed = False
        self._local = threading.local()
        self._reopen = threading.Lock()
        self._pinned: Txn | None = None  # a snapshot's read transaction
        self._pin_lock = threading.Lock()
        self._ws_ids: dict[str, int] = {}
        self._content = content
        self.blobs: BlobStore = CatalogBlobs(self, content)
        self._parse_node = functools.lru_cache(maxsize=_RECORD_CACHE)(NodeRecord.from_json)
        self._parse_frame = functools.lru_cache(maxsize=_RECORD_CACHE)(Frame.from_json)
        self._frame_at = functools.lru_cache(maxsize=_RECORD_CACHE)(self._frame_with)
        self._owns_env = True  # False for a snapshot's view
        self._env: environments.Environment | None = None
        if os.path.exists(self._path) and not os.path.isdir(self._path):
            raise StoreCorrupt(f"store {self._path} is a file, not an LMDB store directory")
        if not os.path.exists(os.path.join(self._path, "data.mdb")):
            if read_only or not create:
                raise StoreNotFound(
                    f"store {self._path} does not exist (only 'treeframe init' creates a store)"
                )
            try:
                os.makedirs(self._path, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create store directory {self._path}: {exc}") from exc
        try:
            with _mapped(self._path):
                self._env = environments.acquire(
                    self._path,
                    map_size=map_size,
                    read_only=read_only,
                    create=create,
                    timeout_ms=lock_timeout_ms,
                    sync=sync,
                )
            self._open_schema(create=create and not read_only, migrate=migrate)
        except TreeframeError:
            self.close()
            raise

    # -- environment and transactions ----------------------------------------------
    def _environment(self) -> environments.Environment:
        """This process's environment; a forked child reopens its own on first use."""
        if self._closed:
            raise StorageError(f"store {self._path} is closed")
        found = self._env
        assert found is not None
        if found.pid == os.getpid():
            return found
        with self._reopen:
            if self._env is not None and self._env.pid != os.getpid():
                with _mapped(self._path):
                    self._env = environments.acquire(
                        self._path,
                        map_size=self._map_size,
                        read_only=self._read_only,
                        create=False,
                        timeout_ms=self._lock_timeout,
                        sync=self._sync,
                    )
                self._local = threading.local()
            assert self._env is not None
            return self._env

    def _dbs(self) -> dict[str, Any]:
        return self._environment().dbs

    @contextmanager
    def _txn(self, environment: environments.Environment, *, write: bool) -> Iterator[Txn]:
        """A transaction inside the resize gate, adopting another process's map growth."""
        while True:
            with environment.active():
                try:
                    txn = environment.env.begin(write=write)
                except lmdb.MapResizedError:
                    txn = None
                if txn is not None:
                    try:
                        yield txn
                    finally:
                        txn.abort()  # a no-op after commit
                    return
            environment.resize(0, self._lock_timeout)

    def _reading(self) -> _Reading:
        """The transaction a read uses: the snapshot's, the thread's unit, or a fresh one."""
        return _Reading(self)

    def _grow(self, environment: environments.Environment) -> None:
        environment.resize(environment.map_size() * 2, self._lock_timeout)

    def _check_writable(self) -> None:
        if self._read_only:
            raise StorageError(f"store {self._path} is open read-only")

    def _write(self, fn: Callable[[Txn], T]) -> T:
        """Run ``fn`` in one write transaction (a nested one inside a unit of work).

        A full map is grown and the transaction run again, so ``fn`` must
        only read and write through its transaction.
        """
        self._check_writable()
        environment = self._environment()
        unit = getattr(self._local, "txn", None)
        with _mapped(self._path):
            if unit is not None:
                child = environment.env.begin(write=True, parent=unit)
                try:
                    result = fn(child)
                except BaseException:
                    child.abort()
                    raise
                child.commit()
                return result
            with environment.writer(self._lock_timeout):
                for _ in range(_GROW_ATTEMPTS):
                    if environment.needs_growth():
                        self._grow(environment)
                    try:
                        with self._txn(environment, write=True) as txn:
                            result = fn(txn)
                            txn.commit()
                            return result
                    except lmdb.MapFullError:
                        self._grow(environment)
        raise StorageError(f"store {self._path}: map still full after growing it")

    @contextmanager
    def _write_txn(self) -> Iterator[Txn]:
        """One write transaction held for a block (a unit of work, a migration step)."""
        self._check_writable()
        environment = self._environment()
        try:
            with _mapped(self._path), environment.writer(self._lock_timeout):
                if environment.needs_growth():
                    self._grow(environment)
                with self._txn(environment, write=True) as txn:
                    self._local.txn = txn
                    try:
                        yield txn
                    finally:
                        self._local.txn = None
                    txn.commit()
        except BaseException as exc:
            if not _map_full(exc):
                raise
            self._grow(environment)
            raise StorageError(
                f"store {self._path} ran out of map space in a unit of work; it has grown to "
                f"{environment.map_size() >> 20} MiB: run the operation again"
            ) from exc

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Writes of this thread inside join one LMDB write transaction, all or nothing."""
        if getattr(self._local, "txn", None) is not None:
            yield
            return
        with self._write_txn():
            yield

    @contextmanager
    def snapshot(self) -> Iterator[LmdbStore]:
        """A read-only store answering every read from one LMDB read transaction."""
        environment = self._environment()
        view = copy.copy(self)
        view._local = threading.local()
        view._pin_lock = threading.Lock()
        view._ws_ids = {}
        view._read_only = True
        view._owns_env = False
        view.blobs = CatalogBlobs(view, self._content)
        with _mapped(self._path), self._txn(environment, write=False) as txn:
            view._pinned = txn
            try:
                yield view
            finally:
                view._closed = True
                view._pinned = None

    def close(self) -> None:
        """Release this handle; the process's last handle closes the environment."""
        if self._closed:
            return
        self._closed = True
        found, self._env = self._env, None
        if found is not None and self._owns_env:
            environments.release(found)

    def __enter__(self) -> LmdbStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------
    def _open_schema(self, *, create: bool, migrate: bool) -> None:
        """Create the store in an empty environment, or check its format and version."""
        environment = self._environment()
        with _mapped(self._path):
            if not environments.has_layout(environment):
                with environment.env.begin() as txn:
                    used = txn.cursor().first()
                if used:
                    raise StoreCorrupt(f"{self._path} is an LMDB store but not a treeframe store")
                if not create:
                    raise StoreCorrupt(
                        f"store {self._path} is empty, not a treeframe store "
                        "(only 'treeframe init' creates a store)"
                    )
                with self._write_txn() as txn:
                    dbs = environment.dbs
                    for name in ("meta", "schema_migrations"):
                        dbs[name] = environment.env.open_db(name.encode(), txn=txn, create=True)
                    txn.put(b"format", FORMAT, db=dbs["meta"], overwrite=False)
                    txn.put(b"schema_version", b"0", db=dbs["meta"], overwrite=False)
            if environment.dbs.get("meta") is None:
                environment.open_dbs(self._lock_timeout)
        status = self.schema_status()
        if status.pending and migrate and not self._read_only:
            self.migrate_schema()
        elif status.current < 1 and self._read_only:
            raise StoreCorrupt(f"store {self._path} was never completely created")

    def _stored_version(self, txn: Txn) -> int:
        meta = self._dbs()["meta"]
        if txn.get(b"format", db=meta) != FORMAT:
            raise StoreCorrupt(f"{self._path} is an LMDB store but not a treeframe store")
        found = (txn.get(b"schema_version", db=meta) or b"").decode("ascii", "replace")
        if not found.isdigit():
            raise StoreCorrupt(f"{self._path} has store schema version {found or 'none'}")
        return int(found)

    def _migrations(self) -> tuple[Migration[Txn], ...]:
        environment = self._environment()
        return tuple(
            Migration(version, name, functools.partial(_step_apply, step=step, env=environment))
            for version, name, step in _STEPS
        )

    def schema_status(self) -> SchemaStatus:
        """The store's schema version, the newest this code knows and the steps between."""
        with self._reading() as txn:
            current = self._stored_version(txn)
        steps = pending(current, self._migrations(), store=self._path)
        return SchemaStatus(current, SCHEMA_VERSION, tuple((s.version, s.name) for s in steps))

    def migrate_schema(self) -> tuple[tuple[int, str], ...]:
        """Apply every pending step, each in its own write transaction (see migrations)."""
        meta = self._dbs()["meta"]

        def record(txn: Txn, step: Migration[Txn]) -> None:
            txn.put(b"schema_version", str(step.version).encode(), db=meta)
            entry = _dump({"name": step.name, "applied_at": _utc_now()})
            txn.put(step.version.to_bytes(4, "big"), entry, db=self._dbs()["schema_migrations"])

        applied = migrate(
            self._migrations(),
            store=self._path,
            transaction=self._write_txn,
            version=self._stored_version,
            record=record,
        )
        return tuple((step.version, step.name) for step in applied)

    # -- workspaces -------------------------------------------------------------------
    def _wid_in(self, txn: Txn, ws: WorkspaceId) -> int:
        raw = raw_id(ws)
        found = None if raw is None else txn.get(raw, db=self._dbs()["ws_ids"])
        if found is None:
            raise WorkspaceNotFound(f"workspace {ws} does not exist in this store")
        return int.from_bytes(found, "big")

    def _ws(self, ws: WorkspaceId) -> bytes:
        """The 4-byte key prefix of an existing workspace (cached outside units)."""
        self._environment()
        cached = self._ws_ids.get(ws)
        if cached is not None:
            return wid_key(cached)
        with self._reading() as txn:
            wid = self._wid_in(txn, ws)
        if getattr(self._local, "txn", None) is None and self._pinned is None:
            self._ws_ids[ws] = wid  # a unit may roll the workspace back
        return wid_key(wid)

    @staticmethod
    def _info(data: bytes) -> WorkspaceInfo:
        d = json.loads(data)
        return WorkspaceInfo(
            WorkspaceId(d["workspace_id"]),
            d["name"],
            d["description"],
            d["owner"],
            d["created_at"],
            d["deleted_at"],
        )

    @staticmethod
    def _info_json(info: WorkspaceInfo) -> bytes:
        return _dump(
            {
                "workspace_id": info.workspace_id,
                "name": info.name,
                "description": info.description,
                "owner": info.owner,
                "created_at": info.created_at,
                "deleted_at": info.deleted_at,
            }
        )

    def _put_info(self, txn: Txn, w: bytes, info: WorkspaceInfo, old: WorkspaceInfo | None) -> None:
        dbs = self._dbs()
        if old is not None:
            txn.delete(text(old.name) + w, db=dbs["ws_by_name"])
            if old.owner is not None:
                txn.delete(text(old.owner) + w, db=dbs["ws_by_owner"])
        txn.put(w, self._info_json(info), db=dbs["workspaces"])
        txn.put(text(info.name) + w, b"", db=dbs["ws_by_name"])
        if info.owner is not None:
            txn.put(text(info.owner) + w, b"", db=dbs["ws_by_owner"])

    def _new_workspace(self, txn: Txn, raw: bytes, info: WorkspaceInfo, next_seq: int) -> bytes:
        dbs = self._dbs()
        found = txn.get(b"next_wid", db=dbs["meta"])
        wid = 1 if found is None else int(found)
        txn.put(b"next_wid", str(wid + 1).encode(), db=dbs["meta"])
        w = wid_key(wid)
        txn.put(raw, w, db=dbs["ws_ids"])
        txn.put(w, u64(next_seq), db=dbs["ws_seq"])
        self._put_info(txn, w, info, None)
        return w

    def create_workspace(self, info: WorkspaceInfo) -> tuple[WorkspaceInfo, bool]:
        """Insert the workspace unless its ID is stored; an existing one wins unchanged."""
        raw = _require(info.workspace_id, "workspace ID")
        dbs = self._dbs()

        def tx(txn: Txn) -> tuple[WorkspaceInfo, bool]:
            w = txn.get(raw, db=dbs["ws_ids"])
            if w is not None:
                existing = self._info(txn.get(w, db=dbs["workspaces"]))
                if existing.deleted_at is not None:
                    raise workspace_deleted(existing)
                return existing, False
            self._new_workspace(txn, raw, info, 1)
            return info, True

        return self._write(tx)

    def get_workspace(self, ws: WorkspaceId) -> WorkspaceInfo | None:
        """A workspace's metadata by ID (tombstoned included), or None."""
        raw = raw_id(ws)
        if raw is None:
            return None
        dbs = self._dbs()
        with self._reading() as txn:
            w = txn.get(raw, db=dbs["ws_ids"])
            data = None if w is None else txn.get(w, db=dbs["workspaces"])
        return None if data is None else self._info(data)

    def list_workspaces(
        self, *, include_deleted: bool = False, after: str | None = None, limit: int = 100
    ) -> list[WorkspaceInfo]:
        """Workspaces by name from the name index, keyset-paged after ``after``."""
        out: list[WorkspaceInfo] = []
        if limit <= 0:
            return out
        dbs = self._dbs()
        with self._reading() as txn:
            start = None if after is None else text(after)
            for key, _ in _scan(txn, dbs["ws_by_name"], b"", start):
                info = self._info(txn.get(key[-4:], db=dbs["workspaces"]))
                if after is not None and info.name <= after:
                    continue
                if info.deleted_at is None or include_deleted:
                    out.append(info)
                    if len(out) >= limit:
                        break
        return out

    def set_workspace_deleted(self, ws: WorkspaceId, deleted_at: str | None) -> WorkspaceInfo:
        """Set or clear the tombstone; nothing else of the workspace changes."""
        raw = raw_id(ws)
        dbs = self._dbs()

        def tx(txn: Txn) -> WorkspaceInfo:
            w = None if raw is None else txn.get(raw, db=dbs["ws_ids"])
            if w is None:
                raise WorkspaceNotFound(f"no workspace {ws} in store {self._path}")
            info = replace(self._info(txn.get(w, db=dbs["workspaces"])), deleted_at=deleted_at)
            txn.put(w, self._info_json(info), db=dbs["workspaces"])
            return info

        return self._write(tx)

    def workspace_counts(self, ws: WorkspaceId) -> tuple[int, int]:
        """Stored records and frames, counted by range scans of the workspace's prefix."""
        w = self._ws(ws)
        dbs = self._dbs()
        with self._reading() as txn:
            nodes = sum(1 for _ in _scan(txn, dbs["nodes"], w))
            frames = sum(1 for _ in _scan(txn, dbs["frames"], w))
        return nodes, frames

    # -- node records -----------------------------------------------------------------
    def put_nodes(self, ws: WorkspaceId, records: Sequence[NodeRecord]) -> None:
        """Store records in one transaction; records already present are left as they are."""
        w = self._ws(ws)
        rows = [(w + _require(r.node_id, "NodeID"), r.to_json()) for r in records]
        db = self._dbs()["nodes"]

        def tx(txn: Txn) -> None:
            for key, value in rows:
                txn.put(key, value, db=db, overwrite=False)

        self._write(tx)

    def get_nodes(self, ws: WorkspaceId, node_ids: Sequence[NodeId]) -> dict[NodeId, NodeRecord]:
        """Batch lookup; missing IDs are absent from the result."""
        w = self._ws(ws)
        db = self._dbs()["nodes"]
        found: dict[NodeId, bytes] = {}
        with self._reading() as txn:
            for n in node_ids:
                raw = raw_id(n)
                if raw is not None and (data := txn.get(w + raw, db=db)) is not None:
                    found[n] = data
        return {n: self._parse_node(data) for n, data in found.items()}

    # -- current tree, path index and root history --------------------------------------
    def current_root(self, ws: WorkspaceId) -> RootEntry | None:
        """Newest root-history entry."""
        entries = self.root_history(ws, 1)
        return entries[0] if entries else None

    @staticmethod
    def _root_entry(key: bytes, value: bytes) -> RootEntry:
        return RootEntry(unpack_u64(key, 4), NodeId(value[:32].hex()), value[32:].decode())

    def root_history(
        self, ws: WorkspaceId, limit: int, before_seq: int | None = None
    ) -> list[RootEntry]:
        """Up to ``limit`` entries, newest first, older than ``before_seq``: one backward scan."""
        w = self._ws(ws)
        out: list[RootEntry] = []
        if limit <= 0:
            return out
        before = None if before_seq is None else w + u64(max(before_seq, 0))
        with self._reading() as txn:
            for key, value in _scan_back(txn, self._dbs()["root_history"], w, before):
                out.append(self._root_entry(key, value))
                if len(out) >= limit:
                    break
        return out

    def lookup_paths(self, ws: WorkspaceId, paths: Sequence[str]) -> dict[str, NodeId]:
        """Batch form of :meth:`lookup_path`."""
        w = self._ws(ws)
        db = self._dbs()["paths"]
        out: dict[str, NodeId] = {}
        with self._reading() as txn:
            for path in paths:
                value = txn.get(w + text(path), db=db)
                if value is not None:
                    out[path] = NodeId(value[:32].hex())
        return out

    def begin_scan(self, ws: WorkspaceId) -> str:
        """Open a staging area; it lives in the store until commit or abort."""
        w = self._ws(ws)
        token = uuid.uuid4().hex
        db = self._dbs()["scans"]
        self._write(lambda txn: txn.put(w + token.encode(), b"", db=db))
        return token

    def _require_scan(self, txn: Txn, w: bytes, token: str) -> tuple[bytes, bool]:
        """The scan's staging prefix, and True when it is open (False: superseded)."""
        key = w + token.encode("utf-8", "replace")
        scans = self._dbs()["scans"]
        if len(token) == 32:
            if txn.get(key, db=scans) is not None:
                return key, True
            if txn.get(w + _SUPERSEDED + key[len(w) :], db=scans) is not None:
                return key, False
        raise StorageError(
            f"unknown scan token {token!r} (aborted, or dropped after other scans moved the root)"
        )

    def _supersede_scans(self, txn: Txn, w: bytes) -> None:
        """Drop every other scan's staging area: the root moved under them (SUPERSEDED)."""
        dbs = self._dbs()
        cursor = txn.cursor(dbs["scans"])
        found = cursor.set_range(w)
        others: list[bytes] = []
        while found and cursor.key().startswith(w):
            others.append(cursor.key())
            found = cursor.next()
        for key in others:
            txn.delete(key, db=dbs["scans"])
            if key[len(w) :].startswith(_SUPERSEDED):
                continue  # superseded before and never came back: its scan is dead
            staging = txn.cursor(dbs["staging"])
            found = staging.set_range(key)
            while found and staging.key().startswith(key):
                found = staging.delete()
            txn.put(w + _SUPERSEDED + key[len(w) :], b"", db=dbs["scans"])

    def stage_paths(
        self, ws: WorkspaceId, token: str, entries: Sequence[tuple[str, NodeId | None]]
    ) -> None:
        """Stage path-index changes; a later entry for the same path replaces an earlier one."""
        w = self._ws(ws)
        rows = []
        for path, node in entries:
            part = text(path)
            value = b"\x00" if node is None else b"\x01" + _require(node, "NodeID")
            rows.append((part, value + (utf8(path) if is_hashed(part) else b"")))
        db = self._dbs()["staging"]

        def tx(txn: Txn) -> None:
            prefix, open_ = self._require_scan(txn, w, token)
            if not open_:
                return  # superseded: it can only lose, so what it stages is dropped
            for part, value in rows:
                txn.put(prefix + part, value, db=db)

        self._write(tx)

    def commit_scan(
        self, ws: WorkspaceId, token: str, root: NodeId, expected: NodeId | None, created_at: str
    ) -> RootEntry:
        """Apply the staged paths, move the root and append to history, all or nothing.

        The staging entries are consumed by one cursor walk (each deleted as it
        is applied), so a scan of a million paths is never held in memory.
        """
        w = self._ws(ws)
        root_key = raw_id(root)
        dbs = self._dbs()

        def tx(txn: Txn) -> RootEntry:
            prefix, open_ = self._require_scan(txn, w, token)
            last = next(_scan_back(txn, dbs["root_history"], w), None)
            current = None if last is None else last[1][:32].hex()
            if current != expected or not open_:
                raise ConcurrentUpdate(
                    "the workspace root moved during the scan; scan again",
                    expected=expected or "",
                    actual=current or "",
                )
            if root_key is None or txn.get(w + root_key, db=dbs["nodes"]) is None:
                raise NodeNotFound(f"root node {root} is not stored")
            seq = 1 if last is None else unpack_u64(last[0], 4) + 1
            paths, history = dbs["paths"], dbs["path_history"]
            cursor = txn.cursor(dbs["staging"])
            found = cursor.set_range(prefix)
            while found and cursor.key().startswith(prefix):
                part, value = cursor.key()[len(prefix) :], cursor.value()
                node = value[1:33] if value[0] == 1 else None
                tail = value[33:] if node is not None else value[1:]  # the path when cut
                old = txn.get(w + part, db=paths)
                if old is not None and old[:32] != node:
                    txn.put(w + part + u64(seq), old[:32] + tail, db=history)
                if node is None:
                    txn.delete(w + part, db=paths)
                else:
                    txn.put(w + part, node + tail, db=paths)
                found = cursor.delete()
            txn.delete(prefix, db=dbs["scans"])
            self._supersede_scans(txn, w)
            txn.put(w + u64(seq), root_key + created_at.encode(), db=dbs["root_history"])
            return RootEntry(seq, root, created_at)

        return self._write(tx)

    def abort_scan(self, ws: WorkspaceId, token: str) -> None:
        """Drop a scan's staging area (unknown tokens are ignored)."""
        w = self._ws(ws)
        dbs = self._dbs()
        prefix = w + token.encode("utf-8", "replace")

        def tx(txn: Txn) -> None:
            cursor = txn.cursor(dbs["staging"])
            found = cursor.set_range(prefix)
            while found and cursor.key().startswith(prefix):
                found = cursor.delete()
            txn.delete(prefix, db=dbs["scans"])
            txn.delete(w + _SUPERSEDED + prefix[len(w) :], db=dbs["scans"])

        self._write(tx)

    # -- agent registry ---------------------------------------------------------------
    def put_agent(self, ws: WorkspaceId, agent_id: str, record: bytes) -> None:
        """Insert or replace one agent's record (and its by-agent index row)."""
        w = self._ws(ws)
        dbs = self._dbs()
        part = text(agent_id)

        def tx(txn: Txn) -> None:
            txn.put(w + part, bytes(record), db=dbs["agents"])
            txn.put(part + w, b"", db=dbs["agents_by_agent"])

        self._write(tx)

    def get_agent(self, ws: WorkspaceId, agent_id: str) -> bytes | None:
        """One agent's record, or None."""
        w = self._ws(ws)
        with self._reading() as txn:
            found: bytes | None = txn.get(w + text(agent_id), db=self._dbs()["agents"])
        return found

    def list_agents(self, ws: WorkspaceId) -> list[tuple[str, bytes]]:
        """Every agent record, sorted by agent ID (key order is code-point order)."""
        w = self._ws(ws)
        with self._reading() as txn:
            rows = list(_scan(txn, self._dbs()["agents"], w))
        return [(str(decode_text(key, 4)[0]), value) for key, value in rows]

    # -- tokens and ACL ---------------------------------------------------------------
    @staticmethod
    def _token_json(record: TokenRecord) -> bytes:
        return _dump(
            {
                "token_id": record.token_id,
                "secret_hash": record.secret_hash,
                "agent_id": record.agent_id,
                "scope": record.scope,
                "permissions": list(record.permissions),
                "created_at": record.created_at,
                "expires_at": record.expires_at,
                "revoked_at": record.revoked_at,
                "created_by": record.created_by,
            }
        )

    @staticmethod
    def _token(data: bytes) -> TokenRecord:
        d = json.loads(data)
        return TokenRecord(
            d["token_id"],
            d["secret_hash"],
            d["agent_id"],
            None if d["scope"] is None else WorkspaceId(d["scope"]),
            tuple(d["permissions"]),
            d["created_at"],
            d["expires_at"],
            d["revoked_at"],
            d["created_by"],
        )

    def put_token(self, record: TokenRecord) -> None:
        """Insert a new token (keyed by its ID) and its by-scope index row."""
        if not is_token_id(record.token_id):
            raise InvalidId(f"malformed token ID {record.token_id!r}")
        self._check_writable()
        scope = None
        if record.scope is not None:
            self._ws(record.scope)
            scope = _require(record.scope, "workspace ID")
        dbs = self._dbs()
        key = record.token_id.encode()

        def tx(txn: Txn) -> None:
            if not txn.put(key, self._token_json(record), db=dbs["tokens"], overwrite=False):
                raise Conflict(f"token ID {record.token_id} is already taken")
            if scope is not None:
                txn.put(scope + key, b"", db=dbs["tokens_by_scope"])

        self._write(tx)

    def get_token(self, token_id: str) -> TokenRecord | None:
        """One token by its ID, or None."""
        if not is_token_id(token_id):
            self._environment()
            return None
        with self._reading() as txn:
            data = txn.get(token_id.encode(), db=self._dbs()["tokens"])
        return None if data is None else self._token(data)

    def list_tokens(
        self, ws: WorkspaceId | None = None, *, after: str | None = None, limit: int = 100
    ) -> list[TokenRecord]:
        """Tokens by ID after ``after``: those scoped to ``ws`` (its index), or every one."""
        dbs = self._dbs()
        out: list[TokenRecord] = []
        if limit <= 0:
            return out
        start = None if after is None else after.encode() + b"\x00"
        with self._reading() as txn:
            if ws is None:
                for _, data in _scan(txn, dbs["tokens"], b"", start):
                    out.append(self._token(data))
                    if len(out) >= limit:
                        break
                return out
            scope = raw_id(ws)
            if scope is None:
                return out
            begin = None if start is None else scope + start
            for key, _ in _scan(txn, dbs["tokens_by_scope"], scope, begin):
                out.append(self._token(txn.get(key[32:], db=dbs["tokens"])))
                if len(out) >= limit:
                    break
        return out

    def revoke_token(self, token_id: str, revoked_at: str) -> TokenRecord | None:
        """Set ``revoked_at`` unless already set; the record after, or None."""
        if not is_token_id(token_id):
            return None
        db = self._dbs()["tokens"]
        key = token_id.encode()

        def tx(txn: Txn) -> TokenRecord | None:
            data = txn.get(key, db=db)
            if data is None:
                return None
            found = self._token(data)
            if found.revoked_at is None:
                found = replace(found, revoked_at=revoked_at)
                txn.put(key, self._token_json(found), db=db)
            return found

        return self._write(tx)

    @staticmethod
    def _acl(agent: str, data: bytes) -> AclEntry:
        d = json.loads(data)
        return AclEntry(agent, tuple(d["permissions"]), d["granted_at"], d["granted_by"])

    def put_acl(self, ws: WorkspaceId, entry: AclEntry) -> None:
        """Insert or replace one (ws, agent) entry and its by-agent index row."""
        w = self._ws(ws)
        dbs = self._dbs()
        part = text(entry.agent_id)
        value = _dump(
            {
                "permissions": list(entry.permissions),
                "granted_at": entry.granted_at,
                "granted_by": entry.granted_by,
            }
        )

        def tx(txn: Txn) -> None:
            txn.put(w + part, value, db=dbs["acl"])
            txn.put(part + w, b"", db=dbs["acl_by_agent"])

        self._write(tx)

    def get_acl(self, ws: WorkspaceId, agent_id: str) -> AclEntry | None:
        """One entry by key, or None."""
        w = self._ws(ws)
        with self._reading() as txn:
            data = txn.get(w + text(agent_id), db=self._dbs()["acl"])
        return None if data is None else self._acl(agent_id, data)

    def delete_acl(self, ws: WorkspaceId, agent_id: str) -> bool:
        """Delete one entry; whether there was one."""
        w = self._ws(ws)
        dbs = self._dbs()
        part = text(agent_id)

        def tx(txn: Txn) -> bool:
            txn.delete(part + w, db=dbs["acl_by_agent"])
            return bool(txn.delete(w + part, db=dbs["acl"]))

        return self._write(tx)

    def list_acl(self, ws: WorkspaceId) -> list[AclEntry]:
        """Every entry of ``ws`` by agent ID."""
        w = self._ws(ws)
        with self._reading() as txn:
            rows = list(_scan(txn, self._dbs()["acl"], w))
        return [self._acl(str(decode_text(key, 4)[0]), value) for key, value in rows]

    def list_workspaces_of_agent(
        self,
        agent_id: str,
        *,
        include_deleted: bool = False,
        after: str | None = None,
        limit: int = 100,
    ) -> list[WorkspaceInfo]:
        """Owned, ACL-listed or registered workspaces of the agent, by name.

        The candidates come from the three by-agent indexes, so a page costs
        what the agent has, not what the store has.
        """
        dbs = self._dbs()
        part = text(agent_id)
        with self._reading() as txn:
            wids = {
                key[-4:]
                for name in ("ws_by_owner", "acl_by_agent", "agents_by_agent")
                for key, _ in _scan(txn, dbs[name], part)
            }
            infos = [self._info(txn.get(w, db=dbs["workspaces"])) for w in wids]
        found = sorted(
            (
                i
                for i in infos
                if (include_deleted or i.deleted_at is None) and (after is None or i.name > after)
            ),
            key=lambda i: (i.name, i.workspace_id),
        )
        return found[: max(limit, 0)]

    # -- frames -----------------------------------------------------------------------
    def _load_frame(self, value: bytes) -> Frame:
        """A ``frames`` value (put_seq + record) as a Frame."""
        return self._frame_at(value[8:], unpack_u64(value))

    def _frame_with(self, record: bytes, put_seq: int) -> Frame:
        """A stored record with its current recency position (cached by both)."""
        return replace(self._parse_frame(record), put_seq=put_seq)

    @staticmethod
    def _index_rows(w: bytes, node: bytes, frame: Frame, put_seq: int) -> list[tuple[str, bytes]]:
        """The recency-index keys of a frame at ``put_seq``."""
        at = u64(put_seq)
        return [
            ("frames_by_node", w + node + at),
            ("frames_by_type", w + node + text(frame.frame_type) + at),
            ("frames_by_agent", w + node + text(frame.agent_id) + at),
        ]

    def _next_seq(self, txn: Txn, w: bytes) -> int:
        db = self._dbs()["ws_seq"]
        seq = unpack_u64(txn.get(w, db=db))
        txn.put(w, u64(seq + 1), db=db)
        return seq

    def append_frame(
        self,
        ws: WorkspaceId,
        frame: Frame,
        set_root: SetRootFn,
        created_at: str,
        *,
        expected_head: FrameId | AnyHead | None = ANY_HEAD,
    ) -> Appended:
        """Put a frame in one write transaction: append it, or make an existing one current.

        A re-put of the current head is answered from a read first, so
        idempotent retries never queue for the write lock. ``expected_head``
        is compared with the head inside the transaction, before any write.
        """
        w = self._ws(ws)
        frame_key = _require(frame.frame_id, "FrameID")
        node_key = _require(frame.node_id, "NodeID")
        content_key = _require(frame.content_hash, "content hash")
        refs = [_require(ref, "basis reference") for ref in basis_refs(frame)]
        dbs = self._dbs()
        head_key = w + node_key + text(frame.frame_type)
        with self._reading() as txn:
            known = txn.get(w + frame_key, db=dbs["frames"])
            if known is not None and txn.get(head_key, db=dbs["heads"]) == frame_key:
                return Appended(self._load_frame(known), False)

        def tx(txn: Txn) -> Appended:
            existing = txn.get(w + frame_key, db=dbs["frames"])
            head = txn.get(head_key, db=dbs["heads"])
            current = None if head is None else head.hex()
            if existing is not None and current == frame.frame_id:
                return Appended(self._load_frame(existing), False)
            if existing is None and txn.get(w + node_key, db=dbs["nodes"]) is None:
                raise NodeNotFound(f"node {frame.node_id} does not exist in this workspace")
            if existing is None and txn.get(w + content_key, db=dbs["contents"]) is None:
                raise missing_content(frame)
            if not isinstance(expected_head, AnyHead) and current != expected_head:
                raise ConcurrentUpdate(
                    f"head of {frame.frame_type!r} on {frame.node_id} moved",
                    expected=expected_head or "",
                    actual=current or "",
                )
            seq = self._next_seq(txn, w)
            txn.put(head_key, frame_key, db=dbs["heads"])
            if existing is not None:
                # A re-put: only the recency pointer (and its index rows) and the head move.
                record, old_put = existing[8:], unpack_u64(existing)
                stored = self._parse_frame(record)
                for name, key in self._index_rows(w, node_key, stored, old_put):
                    txn.delete(key, db=dbs[name])
                for name, key in self._index_rows(w, node_key, stored, seq):
                    txn.put(key, frame_key, db=dbs[name])
                txn.put(w + frame_key, u64(seq) + record, db=dbs["frames"])
                return Appended(self._frame_at(record, seq), False)
            stored = replace(frame, seq=seq, created_at=created_at, put_seq=seq)
            txn.put(w + frame_key, u64(seq) + stored.to_json(), db=dbs["frames"])
            txn.put(w + u64(seq), frame_key, db=dbs["frames_by_seq"])
            for name, key in self._index_rows(w, node_key, stored, seq):
                txn.put(key, frame_key, db=dbs[name])
            members = [value for _, value in _scan(txn, dbs["frames_by_node"], w + node_key)]
            txn.put(
                w + node_key,
                set_root(members) + u64(len(members)),
                db=dbs["frame_sets"],
            )
            for ref in refs:
                txn.put(w + ref + u64(seq), frame_key, db=dbs["basis_refs"])
            return Appended(stored, True)

        return self._write(tx)

    def get_frames(self, ws: WorkspaceId, frame_ids: Sequence[FrameId]) -> dict[FrameId, Frame]:
        """Batch lookup; missing IDs are absent from the result."""
        w = self._ws(ws)
        db = self._dbs()["frames"]
        found: dict[FrameId, bytes] = {}
        with self._reading() as txn:
            for f in frame_ids:
                raw = raw_id(f)
                if raw is not None and (value := txn.get(w + raw, db=db)) is not None:
                    found[f] = value
        return {f: self._load_frame(value) for f, value in found.items()}

    def iter_node_frames(
        self,
        ws: WorkspaceId,
        node_id: NodeId,
        *,
        frame_type: str | None = None,
        agent_id: str | None = None,
    ) -> Iterator[Frame]:
        """A node's frames, most recently put first, page by page from a recency index.

        Each page is its own short read transaction keyed by the last index
        key seen, so a caller may write between frames and an abandoned
        stream pins nothing. Pages start small: most callers stop early.
        With both filters the type index is scanned and the agent checked.
        """
        w = self._ws(ws)
        raw = raw_id(node_id)
        if raw is None:
            return
        dbs = self._dbs()
        if frame_type is not None:
            db, prefix = dbs["frames_by_type"], w + raw + text(frame_type)
        elif agent_id is not None:
            db, prefix = dbs["frames_by_agent"], w + raw + text(agent_id)
        else:
            db, prefix = dbs["frames_by_node"], w + raw
        before: bytes | None = None
        size = 16
        while True:
            page: list[Frame] = []
            with self._reading() as txn:
                for key, frame_key in _scan_back(txn, db, prefix, before):
                    before = key
                    value = txn.get(w + frame_key, db=dbs["frames"])
                    if value is not None:
                        page.append(self._load_frame(value))
                    if len(page) >= size:
                        break
            for frame in page:
                if agent_id is None or frame.agent_id == agent_id:
                    yield frame
            if len(page) < size:
                return
            size = min(size * 2, 1024)

    def node_frame_ids(self, ws: WorkspaceId, node_id: NodeId) -> list[FrameId]:
        """All FrameIDs of a node, sorted (raw byte order equals lowercase hex order)."""
        w = self._ws(ws)
        raw = raw_id(node_id)
        if raw is None:
            return []
        with self._reading() as txn:
            members = [v for _, v in _scan(txn, self._dbs()["frames_by_node"], w + raw)]
        return [FrameId(m.hex()) for m in sorted(members)]

    def get_heads_many(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, dict[str, FrameId]]:
        """Every head of many nodes: one short range scan per node, types in key order."""
        w = self._ws(ws)
        db = self._dbs()["heads"]
        out: dict[NodeId, dict[str, FrameId]] = {}
        with self._reading() as txn:
            cursor = txn.cursor(db)
            for n in dict.fromkeys(node_ids):
                raw = raw_id(n)
                if raw is None:
                    continue
                prefix = w + raw
                if not cursor.set_range(prefix):
                    continue
                heads: dict[str, FrameId] = {}
                for key, value in cursor:
                    if not key.startswith(prefix):
                        break
                    heads[str(decode_text(key, 36)[0])] = FrameId(value.hex())
                if heads:
                    out[n] = heads
        return out

    def path_history_many(
        self, ws: WorkspaceId, paths: Sequence[str], limit: int
    ) -> dict[str, list[tuple[int, NodeId]]]:
        """Batch form of :meth:`path_history`: a backward range scan per path."""
        w = self._ws(ws)
        out: dict[str, list[tuple[int, NodeId]]] = {}
        if limit <= 0:
            return out
        db = self._dbs()["path_history"]
        with self._reading() as txn:
            for path in dict.fromkeys(paths):
                entries: list[tuple[int, NodeId]] = []
                for key, value in _scan_back(txn, db, w + text(path)):
                    entries.append((unpack_u64(key, len(key) - 8), NodeId(value[:32].hex())))
                    if len(entries) >= limit:
                        break
                if entries:
                    out[path] = entries
        return out

    def get_frame_sets(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, NodeSetState]:
        """Batch form of :meth:`get_frame_set`."""
        w = self._ws(ws)
        db = self._dbs()["frame_sets"]
        out: dict[NodeId, NodeSetState] = {}
        with self._reading() as txn:
            for n in node_ids:
                raw = raw_id(n)
                if raw is not None and (value := txn.get(w + raw, db=db)) is not None:
                    out[n] = NodeSetState(value[:32].hex(), unpack_u64(value, 32))
        return out

    def recent_frames(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId], limit: int
    ) -> dict[NodeId, list[Frame]]:
        """The ``limit`` most recently put frames per node: a backward scan of each node's index."""
        w = self._ws(ws)
        out: dict[NodeId, list[Frame]] = {}
        if limit <= 0:
            return out
        dbs = self._dbs()
        with self._reading() as txn:
            for n in dict.fromkeys(node_ids):
                raw = raw_id(n)
                if raw is None:
                    continue
                frames: list[Frame] = []
                for _, frame_key in _scan_back(txn, dbs["frames_by_node"], w + raw):
                    value = txn.get(w + frame_key, db=dbs["frames"])
                    if value is not None:
                        frames.append(self._load_frame(value))
                    if len(frames) >= limit:
                        break
                if frames:
                    out[n] = frames
        return out

    def frames_built_on(
        self, ws: WorkspaceId, ref: str, limit: int, after_seq: int | None = None
    ) -> list[tuple[int, FrameId]]:
        """``(seq, FrameID)`` of dependents of ``ref``, oldest first: one forward range scan."""
        w = self._ws(ws)
        raw = raw_id(ref)
        out: list[tuple[int, FrameId]] = []
        if raw is None or limit <= 0:
            return out
        prefix = w + raw
        start = prefix + u64(0 if after_seq is None else max(after_seq + 1, 0))
        with self._reading() as txn:
            for key, value in _scan(txn, self._dbs()["basis_refs"], prefix, start):
                out.append((unpack_u64(key, 36), FrameId(value.hex())))
                if len(out) >= limit:
                    break
        return out

    # -- full iteration: for verify and export only, never for lookups ----------------
    def _pages(
        self, db_name: str, prefix: bytes, join: str | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Every entry under ``prefix`` in key order, a page per short read transaction.

        ``join``: each value is followed by the ``join`` database's value at
        the workspace prefix plus that value (nothing when it is missing).
        """
        start: bytes | None = None
        dbs = self._dbs()
        while True:
            with self._reading() as txn:
                rows: list[tuple[bytes, bytes]] = []
                for key, value in _scan(txn, dbs[db_name], prefix, start):
                    if join is not None:
                        value += txn.get(key[:4] + value, db=dbs[join]) or b""
                    rows.append((key, value))
                    if len(rows) >= _PAGE:
                        break
            yield from rows
            if len(rows) < _PAGE:
                return
            start = rows[-1][0] + b"\x00"

    def iter_all_nodes(self, ws: WorkspaceId) -> Iterator[NodeRecord | Damaged]:
        """Every stored NodeRecord in NodeID order (damaged rows yielded as Damaged)."""
        w = self._ws(ws)
        for key, record in self._pages("nodes", w):
            node = key[4:].hex()
            try:
                parsed = NodeRecord.from_json(record)
            except StoreCorrupt as exc:
                yield Damaged("nodes", node, exc.message)
                continue
            if parsed.node_id != node:
                yield Damaged("nodes", node, f"row key disagrees with record ({parsed.node_id})")
            else:
                yield parsed

    def iter_all_frames(self, ws: WorkspaceId) -> Iterator[Frame | Damaged]:
        """Every stored frame in ``seq`` order (damaged rows yielded as Damaged)."""
        w = self._ws(ws)
        for key, joined in self._pages("frames_by_seq", w, join="frames"):
            shown, value = joined[:32].hex(), joined[32:]
            if len(value) < 8:
                yield Damaged("frames", shown, "the seq index names a missing frame")
                continue
            try:
                parsed = self._parse_frame(value[8:])
            except StoreCorrupt as exc:
                yield Damaged("frames", shown, exc.message)
                continue
            if parsed.frame_id != shown or parsed.seq != unpack_u64(key, 4):
                yield Damaged("frames", shown, "indexed keys disagree with the frame record")
            else:
                yield replace(parsed, put_seq=unpack_u64(value))

    def iter_all_frame_sets(self, ws: WorkspaceId) -> Iterator[tuple[NodeId, NodeSetState]]:
        """Every stored frame-set root."""
        w = self._ws(ws)
        for key, value in self._pages("frame_sets", w):
            yield NodeId(key[4:].hex()), NodeSetState(value[:32].hex(), unpack_u64(value, 32))

    def iter_all_heads(self, ws: WorkspaceId) -> Iterator[tuple[NodeId, str, FrameId]]:
        """Every stored head."""
        w = self._ws(ws)
        for key, value in self._pages("heads", w):
            yield NodeId(key[4:36].hex()), str(decode_text(key, 36)[0]), FrameId(value.hex())

    @staticmethod
    def _path_of(part: bytes, tail: bytes) -> str:
        decoded = decode_text(part)[0]
        return decoded if decoded is not None else tail.decode("utf-8", "surrogatepass")

    def iter_all_paths(self, ws: WorkspaceId) -> Iterator[tuple[str, NodeId]]:
        """Every entry of the current path index."""
        w = self._ws(ws)
        for key, value in self._pages("paths", w):
            yield self._path_of(key[4:], value[32:]), NodeId(value[:32].hex())

    def iter_all_path_history(self, ws: WorkspaceId) -> Iterator[tuple[str, int, NodeId]]:
        """Every path-history entry, by path then seq."""
        w = self._ws(ws)
        for key, value in self._pages("path_history", w):
            path = self._path_of(key[4:-8], value[32:])
            yield path, unpack_u64(key, len(key) - 8), NodeId(value[:32].hex())

    def iter_all_basis_refs(self, ws: WorkspaceId) -> Iterator[tuple[str, FrameId]]:
        """Every basis-index entry, by referenced ID then dependent seq."""
        w = self._ws(ws)
        for key, value in self._pages("basis_refs", w):
            yield key[4:36].hex(), FrameId(value.hex())

    # -- content catalog (store.blobs is CatalogBlobs over these) ------------------------
    def catalog_insert(
        self, ws: WorkspaceId, digest: ContentHash, codec: str, stored: bytes | None
    ) -> bool:
        """Add the catalog row of ``digest`` once; False if it is there already."""
        w = self._ws(ws)
        key = w + _require(digest, "content hash")
        name = codec.encode()
        value = bytes([len(name)]) + name + (b"\x00" if stored is None else b"\x01" + stored)
        db = self._dbs()["contents"]
        return self._write(lambda txn: bool(txn.put(key, value, db=db, overwrite=False)))

    @staticmethod
    def _catalog_row(value: bytes) -> tuple[str, bytes | None]:
        size = value[0]
        name = value[1 : 1 + size].decode()
        return name, (value[2 + size :] if value[1 + size] == 1 else None)

    def catalog_get(
        self, ws: WorkspaceId, digests: Sequence[ContentHash]
    ) -> dict[ContentHash, tuple[str, bytes | None]]:
        """``(codec, stored bytes or None)`` of each catalogued digest."""
        w = self._ws(ws)
        db = self._dbs()["contents"]
        out: dict[ContentHash, tuple[str, bytes | None]] = {}
        with self._reading() as txn:
            for d in digests:
                raw = raw_id(d)
                if raw is not None and (value := txn.get(w + raw, db=db)) is not None:
                    out[d] = self._catalog_row(value)
        return out

    def catalog_exists(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Which of ``digests`` are catalogued (a key probe each; values are not copied)."""
        w = self._ws(ws)
        db = self._dbs()["contents"]
        out: set[ContentHash] = set()
        with self._reading() as txn:
            cursor = txn.cursor(db)
            for d in digests:
                raw = raw_id(d)
                if raw is not None and cursor.set_key(w + raw):
                    out.add(d)
        return out

    def catalog_iter(self, ws: WorkspaceId) -> Iterator[ContentHash]:
        """Every catalogued digest of ``ws`` in ascending order, paged."""
        w = self._ws(ws)
        for key, _ in self._pages("contents", w):
            yield ContentHash(key[4:].hex())

    # -- audit log --------------------------------------------------------------------
    @staticmethod
    def _audit_json(entry: AuditEntry) -> bytes:
        return _dump(
            {
                "seq": entry.seq,
                "time": entry.time,
                "agent": entry.agent,
                "operation": entry.operation,
                "node": entry.node,
                "frame": entry.frame,
                "success": entry.success,
                "error": entry.error,
                "request_id": entry.request_id,
                "prev_hash": entry.prev_hash,
                "entry_hash": entry.entry_hash,
            }
        )

    @staticmethod
    def _audit_entry(ws: WorkspaceId, data: bytes) -> AuditEntry:
        d = json.loads(data)
        return AuditEntry(
            d["seq"],
            d["time"],
            ws,
            d["agent"],
            d["operation"],
            d["node"],
            d["frame"],
            d["success"],
            d["error"],
            d["request_id"],
            d["prev_hash"],
            d["entry_hash"],
        )

    def _put_audit(self, txn: Txn, w: bytes, entry: AuditEntry) -> None:
        dbs = self._dbs()
        at = u64(entry.seq)
        if not txn.put(w + at, self._audit_json(entry), db=dbs["audit"], overwrite=False):
            return
        for name, value in (
            ("audit_by_agent", entry.agent),
            ("audit_by_operation", entry.operation),
            ("audit_by_node", entry.node),
        ):
            if value is not None:
                txn.put(w + text(value) + at, b"", db=dbs[name])

    def append_audit(self, ws: WorkspaceId, draft: AuditDraft) -> AuditEntry:
        """Read the last entry and append the next one in one write transaction."""
        w = self._ws(ws)
        db = self._dbs()["audit"]

        def tx(txn: Txn) -> AuditEntry:
            last = next(_scan_back(txn, db, w), None)
            entry = chain_entry(ws, draft, None if last is None else self._audit_entry(ws, last[1]))
            self._put_audit(txn, w, entry)
            return entry

        return self._write(tx)

    def audit_head(self, ws: WorkspaceId) -> AuditEntry | None:
        """The entry with the highest seq (the last key of the workspace's range)."""
        w = self._ws(ws)
        with self._reading() as txn:
            last = next(_scan_back(txn, self._dbs()["audit"], w), None)
        return None if last is None else self._audit_entry(ws, last[1])

    def list_audit(
        self,
        ws: WorkspaceId,
        *,
        after_seq: int | None = None,
        limit: int = 100,
        agent: str | None = None,
        operation: str | None = None,
        node: str | None = None,
    ) -> list[AuditEntry]:
        """A keyset page by seq: the first filter's index is scanned, the others checked."""
        w = self._ws(ws)
        out: list[AuditEntry] = []
        if limit <= 0:
            return out
        dbs = self._dbs()
        at = u64(max(after_seq or 0, 0) + 1)
        filters = [
            (name, value)
            for name, value in (
                ("audit_by_agent", agent),
                ("audit_by_operation", operation),
                ("audit_by_node", node),
            )
            if value is not None
        ]
        with self._reading() as txn:
            if filters:
                name, value = filters[0]
                prefix = w + text(value)
                keys: Iterator[bytes] = (
                    w + key[-8:] for key, _ in _scan(txn, dbs[name], prefix, prefix + at)
                )
            else:
                keys = (key for key, _ in _scan(txn, dbs["audit"], w, w + at))
            for key in keys:
                entry = self._audit_entry(ws, txn.get(key, db=dbs["audit"]))
                if agent is not None and entry.agent != agent:
                    continue
                if operation is not None and entry.operation != operation:
                    continue
                if node is not None and entry.node != node:
                    continue
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    def iter_audit(self, ws: WorkspaceId) -> Iterator[AuditEntry]:
        """Every entry by seq, in pages."""
        w = self._ws(ws)
        for _, data in self._pages("audit", w):
            yield self._audit_entry(ws, data)

    # -- bulk import: rows exactly as another store holds them ---------------------------
    def import_workspace(self, info: WorkspaceInfo, next_seq: int) -> None:
        """Create the workspace or replace its metadata; its next seq becomes at least ``next_seq``."""
        raw = _require(info.workspace_id, "workspace ID")
        dbs = self._dbs()

        def tx(txn: Txn) -> None:
            w = txn.get(raw, db=dbs["ws_ids"])
            if w is None:
                self._new_workspace(txn, raw, info, max(next_seq, 1))
                return
            self._put_info(txn, w, info, self._info(txn.get(w, db=dbs["workspaces"])))
            current = unpack_u64(txn.get(w, db=dbs["ws_seq"]))
            txn.put(w, u64(max(current, next_seq)), db=dbs["ws_seq"])

        self._write(tx)

    def import_frames(self, ws: WorkspaceId, frames: Sequence[Frame]) -> None:
        """Frames as stored; a present one keeps its record, its recency pointer is the source's."""
        w = self._ws(ws)
        rows = [(_require(f.frame_id, "FrameID"), _require(f.node_id, "NodeID"), f) for f in frames]
        dbs = self._dbs()

        def tx(txn: Txn) -> None:
            for frame_key, node_key, frame in rows:
                existing = txn.get(w + frame_key, db=dbs["frames"])
                if existing is not None:
                    old_put = unpack_u64(existing)
                    if old_put == frame.put_seq:
                        continue
                    stored = self._parse_frame(existing[8:])
                    for name, key in self._index_rows(w, node_key, stored, old_put):
                        txn.delete(key, db=dbs[name])
                    record = existing[8:]
                else:
                    stored, record = frame, frame.to_json()
                    txn.put(w + u64(frame.seq), frame_key, db=dbs["frames_by_seq"])
                txn.put(w + frame_key, u64(frame.put_seq) + record, db=dbs["frames"])
                for name, key in self._index_rows(w, node_key, stored, frame.put_seq):
                    txn.put(key, frame_key, db=dbs[name])

        self._write(tx)

    def import_frame_sets(
        self, ws: WorkspaceId, sets: Sequence[tuple[NodeId, NodeSetState]]
    ) -> None:
        """Frame-set roots and counts as stored (replaced)."""
        w = self._ws(ws)
        rows = [
            (w + _require(n, "NodeID"), _require(s.root, "set root") + u64(s.count))
            for n, s in sets
        ]
        db = self._dbs()["frame_sets"]
        self._write(_putter(db, rows, overwrite=True))

    def import_heads(self, ws: WorkspaceId, heads: Sequence[tuple[NodeId, str, FrameId]]) -> None:
        """(node, type) heads as stored (replaced)."""
        w = self._ws(ws)
        rows = [(w + _require(n, "NodeID") + text(t), _require(f, "FrameID")) for n, t, f in heads]
        db = self._dbs()["heads"]
        self._write(_putter(db, rows, overwrite=True))

    def import_roots(self, ws: WorkspaceId, entries: Sequence[RootEntry]) -> None:
        """Root-history entries as stored; the highest seq is the current root."""
        w = self._ws(ws)
        rows = [
            (w + u64(e.seq), _require(e.root, "NodeID") + e.created_at.encode()) for e in entries
        ]
        db = self._dbs()["root_history"]
        self._write(_putter(db, rows, overwrite=False))

    def import_paths(self, ws: WorkspaceId, entries: Sequence[tuple[str, NodeId]]) -> None:
        """Current path-index entries (replaced)."""
        w = self._ws(ws)
        rows = []
        for path, node in entries:
            part = text(path)
            tail = utf8(path) if is_hashed(part) else b""
            rows.append((w + part, _require(node, "NodeID") + tail))
        db = self._dbs()["paths"]
        self._write(_putter(db, rows, overwrite=True))

    def import_path_history(
        self, ws: WorkspaceId, entries: Sequence[tuple[str, int, NodeId]]
    ) -> None:
        """Path-history entries as ``(path, seq, previous NodeID)`` (present ones kept)."""
        w = self._ws(ws)
        rows = []
        for path, seq, node in entries:
            part = text(path)
            tail = utf8(path) if is_hashed(part) else b""
            rows.append((w + part + u64(seq), _require(node, "NodeID") + tail))
        db = self._dbs()["path_history"]
        self._write(_putter(db, rows, overwrite=False))

    def import_basis_refs(
        self, ws: WorkspaceId, entries: Sequence[tuple[str, int, FrameId]]
    ) -> None:
        """Basis-index entries as ``(referenced ID, dependent seq, dependent FrameID)``."""
        w = self._ws(ws)
        rows = [
            (w + _require(ref, "basis reference") + u64(seq), _require(f, "FrameID"))
            for ref, seq, f in entries
        ]
        db = self._dbs()["basis_refs"]
        self._write(_putter(db, rows, overwrite=False))

    def import_audit(self, ws: WorkspaceId, entries: Sequence[AuditEntry]) -> None:
        """Audit entries exactly as stored (never re-chained; present seqs kept)."""
        w = self._ws(ws)

        def tx(txn: Txn) -> None:
            for entry in entries:
                self._put_audit(txn, w, entry)

        self._write(tx)


class _Reading:
    """``with store._reading() as txn``: a class, not a generator, since every read pays for it.

    Inside a snapshot the pinned transaction (under its lock), inside a unit of
    work the thread's write transaction, else a fresh read transaction in
    the resize gate, adopting another process's map growth first.
    """

    __slots__ = ("env", "pinned", "store", "txn")

    def __init__(self, store: LmdbStore) -> None:
        self.store = store
        self.env = store._environment()
        self.txn: Txn | None = None
        self.pinned = False

    def __enter__(self) -> Txn:
        store = self.store
        if store._pinned is not None:
            store._pin_lock.acquire()
            self.pinned = True
            return store._pinned
        unit = getattr(store._local, "txn", None)
        if unit is not None:
            return unit
        env = self.env
        while True:
            env.enter()
            try:
                self.txn = env.env.begin()
                return self.txn
            except lmdb.MapResizedError:
                env.leave()
            except lmdb.Error as exc:
                env.leave()
                raise _translate(exc, store._path) from exc
            env.resize(0, store._lock_timeout)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.pinned:
            self.store._pin_lock.release()
        if self.txn is not None:
            self.txn.abort()
            self.env.leave()
        if isinstance(exc, lmdb.Error):
            raise _translate(exc, self.store._path) from exc


def _step_apply(
    tx: Txn, *, step: Callable[[Txn, environments.Environment], None], env: environments.Environment
) -> None:
    step(tx, env)
