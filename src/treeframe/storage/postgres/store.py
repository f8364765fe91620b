"""PostgresStore: the scaled-out backend (psycopg 3, a ``psycopg_pool`` connection pool).

Several stateless ``treeframe serve`` instances share one database; every
guarantee below holds across processes and servers because it is enforced
by PostgreSQL, never by Python state.

Blocking and the event loop: the store is synchronous (``ConnectionPool``,
not the async pool). The REST API runs every store call in its worker thread
pool, so a query never blocks the event loop; a pool of ``pool_max``
connections bounds how many queries one process runs at once, and a caller
waits at most ``pool_timeout`` seconds for a connection.

Layout: see :mod:`treeframe.storage.postgres.schema` (one versioned
migration per schema version, applied under an advisory lock, so concurrent
openers are safe). Batch lookups are one ``= ANY(%s)`` array query per batch
(``LATERAL`` probes for the per-node and per-path limits), bulk inserts one
``INSERT ... SELECT FROM unnest(...)`` per few thousand rows; psycopg
prepares a statement on the server after ``prepare_threshold`` executions.

Transactions: every logical write is one transaction on one pooled
connection (READ COMMITTED); ``unit_of_work()`` pins one connection to the
thread for the block and every write inside is a savepoint of its
transaction; ``snapshot()`` is one ``REPEATABLE READ READ ONLY`` transaction
on one connection.

Locking (transaction-scoped advisory locks, keyed by a 64-bit hash of kind,
workspace and key; a hash collision only serializes more, never less):

* ``append_frame`` takes the lock of its *node*: the head compare-and-set,
  the frame insert and the frame-set recomputation of one node are
  serialized, appends to different nodes run in parallel;
* frame ``seq``/``put_seq`` numbers come from one SEQUENCE per workspace,
  drawn only after every check passed (a lost CAS consumes none), under a
  *shared* workspace lock: appenders never wait for each other on it. When a
  transaction that drew numbers rolls back, the store takes that lock
  exclusively for a moment and gives the numbers back if nobody drew one
  since (``setval``), so seqs stay gapless unless a process dies mid-write
  or another writer drew a number in between (then the gap stays: seqs are
  unique and increasing, which is what readers rely on). Seqs of different
  nodes may commit out of order; within a node they commit in order;
* ``commit_scan`` takes the workspace's *root* lock (one scan commits at a
  time: the root is one pointer);
* ``append_audit`` takes the workspace's *audit* lock: the hash chain is one
  total order per workspace by design. The engine appends the entry last in
  its unit of work, so the lock is held only from that statement to commit.

A unit of work that appends to several nodes (a frame batch) takes all
their node locks first, sorted (``lock_nodes``), so it cannot deadlock
with a put or another batch by holding the audit lock while it waits for
a node.

What serializes, then: writers of one node (by design: one head, one frame
set), scan commits of one workspace, and the audit-append-to-commit tail of
audited writes in one workspace. Nothing else takes a per-workspace lock.

Errors: every psycopg and pool error is mapped (see
:mod:`treeframe.storage.postgres.errors`): an unreachable server is
BackendUnavailable within ``connect_timeout``/``pool_timeout`` (pooled
connections are checked before use, so after a restart the store works
again), deadlocks and serialization failures are ConcurrentUpdate.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import replace
from types import TracebackType
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from treeframe.errors import (
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
from treeframe.storage.migrations import SchemaStatus, migrate, pending
from treeframe.storage.postgres.errors import mapped_errors
from treeframe.storage.postgres.schema import MIGRATION_LOCK, MIGRATIONS, record, stored_version
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

__all__ = ["PostgresStore"]

_CHUNK = 5000  # rows per unnest() insert and IDs per = ANY() lookup
_COPY_FROM = 2000  # put_nodes batches from this size go through COPY
_PAGE = 256  # rows per page of the full-iteration methods
_RECORD_CACHE = 8192
_MAX_SEQ = 2**63 - 1
_INFO = "wsid, name, description, owner, created_at, deleted_at"
_TOKEN_COLUMNS = (
    "token_id, secret_hash, agent, scope, permissions, created_at, expires_at,"
    " revoked_at, created_by"
)
_AUDIT_COLUMNS = (
    "seq, time, agent, operation, node, frame, success, error, request_id, prev_hash, entry_hash"
)


def _key(hex_id: str) -> bytes | None:
    """Raw key of a canonical 64-hex ID, or None (such an ID can never be stored)."""
    try:
        raw = bytes.fromhex(hex_id)
    except (ValueError, TypeError):
        return None
    return raw if len(raw) == 32 and raw.hex() == hex_id else None


def _require(hex_id: str, what: str) -> bytes:
    raw = _key(hex_id)
    if raw is None:
        raise InvalidId(f"malformed {what} {hex_id!r:.80}: expected 64 lowercase hex characters")
    return raw


def _lock_key(kind: bytes, wid: int, key: bytes = b"") -> int:
    """A signed 64-bit advisory-lock key for (kind, workspace, key)."""
    digest = hashlib.blake2b(kind + wid.to_bytes(8, "big") + key, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _seq_name(wid: int) -> str:
    return f"frame_seq_{int(wid)}"


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class PostgresStore(BatchDerivedStore):
    """A treeframe store in one PostgreSQL database; safe across threads, processes and servers."""

    def __init__(
        self,
        conninfo: str,
        *,
        url: str,
        pool_min: int = 1,
        pool_max: int = 10,
        pool_timeout: float = 5.0,
        connect_timeout: int = 5,
        prepare_threshold: int | None = 5,
        create: bool = True,
        read_only: bool = False,
        migrate: bool = True,
        content: ContentPolicy | None = None,
    ) -> None:
        """Connect (failing fast with a clear error), then create or check the schema.

        ``conninfo`` is the libpq URL with credentials; ``url`` the one shown
        (never a password). ``create=False`` refuses an empty database
        (StoreNotFound); ``read_only`` opens read-only transactions only.
        """
        self.url = url
        self._read_only = read_only
        self._closed = False
        self._is_view = False
        self._local = threading.local()
        self._ws_ids: dict[str, int] = {}
        self._pinned: psycopg.Connection | None = None
        self._content = content
        self.blobs: BlobStore = CatalogBlobs(self, content)
        self._parse_frame = functools.lru_cache(maxsize=_RECORD_CACHE)(Frame.from_json)
        self._parse_node = functools.lru_cache(maxsize=_RECORD_CACHE)(NodeRecord.from_json)
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": connect_timeout,
            "prepare_threshold": prepare_threshold,
        }
        if read_only:
            kwargs["options"] = "-c default_transaction_read_only=on"
        with self._errors():
            # One direct connection first: the pool would hide why it cannot connect.
            psycopg.connect(conninfo, **kwargs).close()
        self._pool = ConnectionPool(
            conninfo,
            min_size=pool_min,
            max_size=pool_max,
            timeout=pool_timeout,
            kwargs=kwargs,
            check=ConnectionPool.check_connection,
            open=False,
            name="treeframe",
        )
        try:
            with self._errors():
                self._pool.open(wait=True, timeout=max(float(connect_timeout), pool_timeout))
            self._open_schema(create=create and not read_only, migrate=migrate)
        except TreeframeError:
            self.close()
            raise

    # -- connections and transactions ----------------------------------------
    def _errors(self) -> AbstractContextManager[None]:
        return mapped_errors(self.url)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"store {self.url} is closed")

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection]:
        """The snapshot's or the unit's connection, else one from the pool for this read."""
        self._check_open()
        held = self._pinned or getattr(self._local, "conn", None)
        if held is not None:
            with self._errors():
                yield held
            return
        with self._errors(), self._pool.connection() as conn:
            yield conn

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._read() as conn:
            return conn.execute(sql.encode(), params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._read() as conn:
            return conn.execute(sql.encode(), params).fetchall()

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection]:
        """One transaction (a savepoint inside a unit of work); numbers drawn are given back on rollback."""
        if self._read_only:
            raise StorageError(f"store {self.url} is open read-only")
        self._check_open()
        held: psycopg.Connection | None = getattr(self._local, "conn", None)
        if held is not None:
            with self._errors(), held.transaction():
                yield held
            return
        drawn: dict[int, list[int]] = {}
        self._local.drawn = drawn
        try:
            with self._errors(), self._pool.connection() as conn, conn.transaction():
                yield conn
        except BaseException:
            if drawn:
                self._give_back(drawn)
            raise
        finally:
            self._local.drawn = None

    def _next_seq(self, tx: psycopg.Connection, wid: int) -> int:
        """The workspace's next frame seq, drawn under its shared sequence lock."""
        row = tx.execute(
            f"SELECT pg_advisory_xact_lock_shared(%s)::text, nextval('{_seq_name(wid)}')".encode(),
            (_lock_key(b"seq", wid),),
        ).fetchone()
        assert row is not None
        seq = int(row[1])
        drawn: dict[int, list[int]] | None = getattr(self._local, "drawn", None)
        if drawn is not None:
            drawn.setdefault(wid, []).append(seq)
        return seq

    def _give_back(self, drawn: dict[int, list[int]]) -> None:
        """Rewind a sequence a rolled-back transaction drew from, if nobody drew since."""
        for wid, seqs in drawn.items():
            first, last = min(seqs), max(seqs)
            if sorted(seqs) != list(range(first, last + 1)):
                continue
            with (
                suppress(psycopg.Error, PoolTimeout, PoolClosed),
                self._pool.connection() as conn,
                conn.transaction(),
            ):
                conn.execute(b"SET LOCAL lock_timeout = '2s'")
                conn.execute(b"SELECT pg_advisory_xact_lock(%s)", (_lock_key(b"seq", wid),))
                name = _seq_name(wid)
                row = conn.execute(f"SELECT last_value, is_called FROM {name}".encode()).fetchone()
                if row is not None and (int(row[0]), bool(row[1])) == (last, True):
                    conn.execute(b"SELECT setval(%s, %s, false)", (name, first))

    def _open_schema(self, *, create: bool, migrate: bool) -> None:
        with self._read() as conn:
            current = stored_version(conn, self.url)
        if current == 0 and not create:
            raise StoreNotFound(
                f"database {self.url} holds no treeframe store (only 'treeframe init' creates one)"
            )
        status = self.schema_status()
        if status.pending and (migrate or current == 0) and not self._read_only:
            self.migrate_schema()

    def schema_status(self) -> SchemaStatus:
        """The store's schema version, the newest this code knows and the steps between."""
        with self._read() as conn:
            current = stored_version(conn, self.url)
        steps = pending(current, MIGRATIONS, store=self.url)
        return SchemaStatus(
            current, MIGRATIONS[-1].version, tuple((s.version, s.name) for s in steps)
        )

    @contextmanager
    def _migration_tx(self) -> Iterator[psycopg.Connection]:
        with self._write() as tx:
            tx.execute(b"SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            yield tx

    def migrate_schema(self) -> tuple[tuple[int, str], ...]:
        """Apply every pending step, each in its own transaction under the migration lock."""
        applied = migrate(
            MIGRATIONS,
            store=self.url,
            transaction=self._migration_tx,
            version=lambda tx: stored_version(tx, self.url),
            record=record,
        )
        return tuple((step.version, step.name) for step in applied)

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Writes of this thread inside share one connection and one transaction, all or nothing."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._write() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextmanager
    def snapshot(self) -> Iterator[PostgresStore]:
        """A read-only view on one REPEATABLE READ READ ONLY transaction of one connection."""
        self._check_open()
        view = copy.copy(self)
        view._local = threading.local()
        view._ws_ids = {}
        view._read_only = True
        view._is_view = True
        view.blobs = CatalogBlobs(view, self._content)
        with self._errors():
            conn = self._pool.getconn()
        try:
            with self._errors():
                conn.execute(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                conn.execute(b"SELECT count(*) FROM workspaces")  # takes the snapshot now
            view._pinned = conn
            yield view
        finally:
            view._closed = True
            with suppress(psycopg.Error):
                conn.execute(b"ROLLBACK")
            self._pool.putconn(conn)

    def close(self) -> None:
        """Close the pool; the store is unusable afterwards (a snapshot view only marks itself)."""
        self._closed = True
        if not self._is_view and hasattr(self, "_pool"):
            self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- workspaces ---------------------------------------------------------
    def _ws(self, ws: WorkspaceId) -> int:
        """Integer key of an existing workspace (cached outside units of work)."""
        self._check_open()
        wid = self._ws_ids.get(ws)
        if wid is not None:
            return wid
        raw = _key(ws)
        row = (
            None if raw is None else self._one("SELECT id FROM workspaces WHERE wsid = %s", (raw,))
        )
        if row is None:
            raise WorkspaceNotFound(f"workspace {ws} does not exist in this store")
        found = int(row[0])
        if getattr(self._local, "conn", None) is None and self._pinned is None:
            self._ws_ids[ws] = found
        return found

    @staticmethod
    def _info(row: Sequence[Any]) -> WorkspaceInfo:
        wsid, name, description, owner, created_at, deleted_at = row
        return WorkspaceInfo(
            WorkspaceId(bytes(wsid).hex()), name, description, owner, created_at, deleted_at
        )

    def create_workspace(self, info: WorkspaceInfo) -> tuple[WorkspaceInfo, bool]:
        """Insert the workspace and its frame sequence unless its ID is stored."""
        raw = _require(info.workspace_id, "workspace ID")
        with self._write() as tx:
            tx.execute(b"SELECT pg_advisory_xact_lock(%s)", (_lock_key(b"wsid", 0, raw),))
            row = tx.execute(
                f"SELECT {_INFO} FROM workspaces WHERE wsid = %s".encode(), (raw,)
            ).fetchone()
            if row is not None:
                existing = self._info(row)
                if existing.deleted_at is not None:
                    raise workspace_deleted(existing)
                return existing, False
            created = tx.execute(
                b"INSERT INTO workspaces (wsid, name, description, owner, created_at, deleted_at)"
                b" VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (raw, info.name, info.description, info.owner, info.created_at, info.deleted_at),
            ).fetchone()
            assert created is not None
            tx.execute(f"CREATE SEQUENCE {_seq_name(int(created[0]))}".encode())
        return info, True

    def get_workspace(self, ws: WorkspaceId) -> WorkspaceInfo | None:
        """A workspace's metadata by ID (tombstoned included), or None."""
        raw = _key(ws)
        if raw is None:
            return None
        row = self._one(f"SELECT {_INFO} FROM workspaces WHERE wsid = %s", (raw,))
        return None if row is None else self._info(row)

    def list_workspaces(
        self, *, include_deleted: bool = False, after: str | None = None, limit: int = 100
    ) -> list[WorkspaceInfo]:
        """Workspaces by name from the name index, keyset-paged after ``after``."""
        sql = f"SELECT {_INFO} FROM workspaces WHERE (%s::text IS NULL OR name > %s)"
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
        rows = self._all(sql + " ORDER BY name LIMIT %s", (after, after, max(limit, 0)))
        return [self._info(r) for r in rows]

    def set_workspace_deleted(self, ws: WorkspaceId, deleted_at: str | None) -> WorkspaceInfo:
        """Set or clear the tombstone; nothing else of the workspace changes."""
        raw = _key(ws)
        row = None
        with self._write() as tx:
            if raw is not None:
                row = tx.execute(
                    f"UPDATE workspaces SET deleted_at = %s WHERE wsid = %s RETURNING {_INFO}".encode(),
                    (deleted_at, raw),
                ).fetchone()
        if row is None:
            raise WorkspaceNotFound(f"no workspace {ws} in store {self.url}")
        return self._info(row)

    def workspace_counts(self, ws: WorkspaceId) -> tuple[int, int]:
        """Stored records and frames of ``ws``."""
        wid = self._ws(ws)
        row = self._one(
            "SELECT (SELECT count(*) FROM nodes WHERE ws = %s),"
            " (SELECT count(*) FROM frames WHERE ws = %s)",
            (wid, wid),
        )
        return int(row[0]), int(row[1])

    # -- node records -------------------------------------------------------
    def put_nodes(self, ws: WorkspaceId, records: Sequence[NodeRecord]) -> None:
        """One transaction; records already present are left as they are.

        A large batch (a scan) is streamed with binary COPY into a
        per-connection temporary table and moved with one ``INSERT ... ON
        CONFLICT DO NOTHING``: about twice the rate of ``unnest`` inserts.
        """
        wid = self._ws(ws)
        rows = [(_require(r.node_id, "NodeID"), r.to_json()) for r in records]
        with self._write() as tx:
            if len(rows) < _COPY_FROM:
                for chunk in _chunks(rows):
                    tx.execute(
                        b"INSERT INTO nodes (ws, node, record) SELECT %s, n, r"
                        b" FROM unnest(%s::bytea[], %s::bytea[]) AS t(n, r)"
                        b" ON CONFLICT DO NOTHING",
                        (wid, [n for n, _ in chunk], [r for _, r in chunk]),
                    )
                return
            tx.execute(
                b"CREATE TEMP TABLE IF NOT EXISTS tf_stage_nodes (node bytea, record bytea)"
                b" ON COMMIT DELETE ROWS"
            )
            with tx.cursor().copy(
                b"COPY tf_stage_nodes (node, record) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["bytea", "bytea"])
                for row in rows:
                    copy.write_row(row)
            tx.execute(
                b"INSERT INTO nodes (ws, node, record) SELECT %s, node, record"
                b" FROM tf_stage_nodes ON CONFLICT DO NOTHING",
                (wid,),
            )
            tx.execute(b"TRUNCATE tf_stage_nodes")  # a second batch in one unit starts empty

    def get_nodes(self, ws: WorkspaceId, node_ids: Sequence[NodeId]) -> dict[NodeId, NodeRecord]:
        """Batch lookup with ``= ANY`` arrays; missing IDs are absent."""
        wid = self._ws(ws)
        keys = {raw: n for n in node_ids if (raw := _key(n)) is not None}
        found: dict[NodeId, bytes] = {}
        for chunk in _chunks(list(keys)):
            for node, rec in self._all(
                "SELECT node, record FROM nodes WHERE ws = %s AND node = ANY(%s::bytea[])",
                (wid, list(chunk)),
            ):
                found[keys[bytes(node)]] = bytes(rec)
        return {n: self._parse_node(found[n]) for n in node_ids if n in found}

    # -- current tree, path index and root history --------------------------
    def current_root(self, ws: WorkspaceId) -> RootEntry | None:
        """Newest root-history entry."""
        entries = self.root_history(ws, 1)
        return entries[0] if entries else None

    def root_history(
        self, ws: WorkspaceId, limit: int, before_seq: int | None = None
    ) -> list[RootEntry]:
        """Up to ``limit`` history entries, newest first, older than ``before_seq``."""
        wid = self._ws(ws)
        rows = self._all(
            "SELECT seq, root, created_at FROM root_history WHERE ws = %s AND seq < %s"
            " ORDER BY seq DESC LIMIT %s",
            (wid, _MAX_SEQ if before_seq is None else before_seq, max(limit, 0)),
        )
        return [RootEntry(int(s), NodeId(bytes(r).hex()), c) for s, r, c in rows]

    def lookup_paths(self, ws: WorkspaceId, paths: Sequence[str]) -> dict[str, NodeId]:
        """Batch form of :meth:`lookup_path`."""
        wid = self._ws(ws)
        found: dict[str, NodeId] = {}
        for chunk in _chunks(list(dict.fromkeys(paths))):
            for path, node in self._all(
                "SELECT path, node FROM paths WHERE ws = %s AND path = ANY(%s::text[])",
                (wid, list(chunk)),
            ):
                found[path] = NodeId(bytes(node).hex())
        return {p: found[p] for p in paths if p in found}

    def begin_scan(self, ws: WorkspaceId) -> str:
        """Open a staging area in the database (it survives until commit or abort)."""
        wid = self._ws(ws)
        token = uuid.uuid4().hex
        with self._write() as tx:
            tx.execute(b"INSERT INTO scans (ws, token) VALUES (%s, %s)", (wid, token))
        return token

    def _require_scan(self, tx: psycopg.Connection, wid: int, token: str) -> bool:
        """True for an open scan, False for one superseded (see :data:`SUPERSEDED`)."""
        found = tx.execute(
            b"SELECT token FROM scans WHERE ws = %s AND token IN (%s, %s)",
            (wid, token, SUPERSEDED + token),
        ).fetchone()
        if found is None:
            raise StorageError(
                f"unknown scan token {token!r} (aborted, or dropped after other scans moved the root)"
            )
        return bool(found[0] == token)

    def _supersede_scans(self, tx: psycopg.Connection, wid: int, token: str) -> None:
        """Drop every other scan's staging area: the root moved under them (SUPERSEDED)."""
        tx.execute(b"DELETE FROM scan_staging WHERE ws = %s AND token <> %s", (wid, token))
        tx.execute(b"DELETE FROM scans WHERE ws = %s AND starts_with(token, %s)", (wid, SUPERSEDED))
        tx.execute(
            b"UPDATE scans SET token = %s || token WHERE ws = %s AND token <> %s",
            (SUPERSEDED, wid, token),
        )

    def stage_paths(
        self, ws: WorkspaceId, token: str, entries: Sequence[tuple[str, NodeId | None]]
    ) -> None:
        """Stage path-index changes; a later entry for the same path replaces an earlier one."""
        wid = self._ws(ws)
        latest = {
            path: None if node is None else _require(node, "NodeID") for path, node in entries
        }
        items = list(latest.items())
        with self._write() as tx:
            if not self._require_scan(tx, wid, token):
                return  # superseded: it can only lose, so what it stages is dropped
            for chunk in _chunks(items):
                tx.execute(
                    b"INSERT INTO scan_staging (ws, token, path, node) SELECT %s, %s, p, n"
                    b" FROM unnest(%s::text[], %s::bytea[]) AS t(p, n)"
                    b" ON CONFLICT (ws, token, path) DO UPDATE SET node = EXCLUDED.node",
                    (wid, token, [p for p, _ in chunk], [n for _, n in chunk]),
                )

    def commit_scan(
        self, ws: WorkspaceId, token: str, root: NodeId, expected: NodeId | None, created_at: str
    ) -> RootEntry:
        """Apply the staged paths, move the root and append to history under the root lock."""
        wid = self._ws(ws)
        root_key = _key(root)
        with self._write() as tx:
            tx.execute(b"SELECT pg_advisory_xact_lock(%s)", (_lock_key(b"root", wid),))
            open_ = self._require_scan(tx, wid, token)
            last = tx.execute(
                b"SELECT seq, root FROM root_history WHERE ws = %s ORDER BY seq DESC LIMIT 1",
                (wid,),
            ).fetchone()
            current = None if last is None else bytes(last[1]).hex()
            if current != expected or not open_:
                raise ConcurrentUpdate(
                    "the workspace root moved during the scan; scan again",
                    expected=expected or "",
                    actual=current or "",
                )
            if (
                root_key is None
                or tx.execute(
                    b"SELECT 1 FROM nodes WHERE ws = %s AND node = %s", (wid, root_key)
                ).fetchone()
                is None
            ):
                raise NodeNotFound(f"root node {root} is not stored")
            seq = 1 if last is None else int(last[0]) + 1
            tx.execute(
                b"INSERT INTO path_history (ws, path, seq, node)"
                b" SELECT p.ws, p.path, %s, p.node FROM scan_staging AS s"
                b" JOIN paths AS p ON p.ws = s.ws AND p.path = s.path"
                b" WHERE s.ws = %s AND s.token = %s AND s.node IS DISTINCT FROM p.node",
                (seq, wid, token),
            )
            tx.execute(
                b"DELETE FROM paths AS p USING scan_staging AS s"
                b" WHERE p.ws = %s AND s.ws = p.ws AND s.token = %s AND s.path = p.path"
                b" AND s.node IS NULL",
                (wid, token),
            )
            tx.execute(
                b"INSERT INTO paths (ws, path, node) SELECT ws, path, node FROM scan_staging"
                b" WHERE ws = %s AND token = %s AND node IS NOT NULL"
                b" ON CONFLICT (ws, path) DO UPDATE SET node = EXCLUDED.node",
                (wid, token),
            )
            tx.execute(b"DELETE FROM scan_staging WHERE ws = %s AND token = %s", (wid, token))
            tx.execute(b"DELETE FROM scans WHERE ws = %s AND token = %s", (wid, token))
            self._supersede_scans(tx, wid, token)
            tx.execute(
                b"INSERT INTO root_history (ws, seq, root, created_at) VALUES (%s, %s, %s, %s)",
                (wid, seq, root_key, created_at),
            )
        return RootEntry(seq, root, created_at)

    def abort_scan(self, ws: WorkspaceId, token: str) -> None:
        """Drop a scan's staging area (unknown tokens are ignored)."""
        wid = self._ws(ws)
        with self._write() as tx:
            tx.execute(b"DELETE FROM scan_staging WHERE ws = %s AND token = %s", (wid, token))
            tx.execute(
                b"DELETE FROM scans WHERE ws = %s AND token IN (%s, %s)",
                (wid, token, SUPERSEDED + token),
            )

    # -- agent registry -----------------------------------------------------
    def put_agent(self, ws: WorkspaceId, agent_id: str, record: bytes) -> None:
        """Insert or replace one agent's record."""
        wid = self._ws(ws)
        with self._write() as tx:
            tx.execute(
                b"INSERT INTO agents (ws, agent, record) VALUES (%s, %s, %s)"
                b" ON CONFLICT (ws, agent) DO UPDATE SET record = EXCLUDED.record",
                (wid, agent_id, bytes(record)),
            )

    def get_agent(self, ws: WorkspaceId, agent_id: str) -> bytes | None:
        """One agent's record, or None."""
        wid = self._ws(ws)
        row = self._one("SELECT record FROM agents WHERE ws = %s AND agent = %s", (wid, agent_id))
        return None if row is None else bytes(row[0])

    def list_agents(self, ws: WorkspaceId) -> list[tuple[str, bytes]]:
        """Every agent record, by agent ID (C collation: code-point order)."""
        wid = self._ws(ws)
        rows = self._all("SELECT agent, record FROM agents WHERE ws = %s ORDER BY agent", (wid,))
        return [(agent, bytes(rec)) for agent, rec in rows]

    # -- tokens and ACL -----------------------------------------------------
    @staticmethod
    def _token(row: Sequence[Any]) -> TokenRecord:
        token_id, secret_hash, agent, scope, perms, created, expires, revoked, by = row
        return TokenRecord(
            token_id,
            secret_hash,
            agent,
            None if scope is None else WorkspaceId(bytes(scope).hex()),
            tuple(p for p in perms.split(",") if p),
            created,
            expires,
            revoked,
            by,
        )

    def put_token(self, record: TokenRecord) -> None:
        """Insert a new token row; Conflict if its ID is taken."""
        if not is_token_id(record.token_id):
            raise InvalidId(f"malformed token ID {record.token_id!r}")
        scope = None
        if record.scope is not None:
            self._ws(record.scope)
            scope = _require(record.scope, "workspace ID")
        with self._write() as tx:
            inserted = tx.execute(
                f"INSERT INTO tokens ({_TOKEN_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (token_id) DO NOTHING".encode(),
                (
                    record.token_id,
                    record.secret_hash,
                    record.agent_id,
                    scope,
                    ",".join(record.permissions),
                    record.created_at,
                    record.expires_at,
                    record.revoked_at,
                    record.created_by,
                ),
            )
            if inserted.rowcount != 1:
                raise Conflict(f"token ID {record.token_id} is already taken")

    def get_token(self, token_id: str) -> TokenRecord | None:
        """One token by primary key, or None."""
        if not is_token_id(token_id):
            return None
        row = self._one(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE token_id = %s", (token_id,))
        return None if row is None else self._token(row)

    def list_tokens(
        self, ws: WorkspaceId | None = None, *, after: str | None = None, limit: int = 100
    ) -> list[TokenRecord]:
        """Tokens by ID after ``after``: those scoped to ``ws``, or every one."""
        sql = f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE (%s::text IS NULL OR token_id > %s)"
        params: list[Any] = [after, after]
        if ws is not None:
            raw = _key(ws)
            if raw is None:
                return []
            sql += " AND scope = %s"
            params.append(raw)
        rows = self._all(sql + " ORDER BY token_id LIMIT %s", (*params, max(limit, 0)))
        return [self._token(r) for r in rows]

    def revoke_token(self, token_id: str, revoked_at: str) -> TokenRecord | None:
        """Set ``revoked_at`` unless already set; the record after, or None."""
        if not is_token_id(token_id):
            return None
        with self._write() as tx:
            tx.execute(
                b"UPDATE tokens SET revoked_at = %s WHERE token_id = %s AND revoked_at IS NULL",
                (revoked_at, token_id),
            )
            row = tx.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE token_id = %s".encode(), (token_id,)
            ).fetchone()
        return None if row is None else self._token(row)

    @staticmethod
    def _acl(row: Sequence[Any]) -> AclEntry:
        agent, perms, granted_at, granted_by = row
        return AclEntry(agent, tuple(p for p in perms.split(",") if p), granted_at, granted_by)

    def put_acl(self, ws: WorkspaceId, entry: AclEntry) -> None:
        """Insert or replace one (ws, agent) entry."""
        wid = self._ws(ws)
        with self._write() as tx:
            tx.execute(
                b"INSERT INTO acl (ws, agent, permissions, granted_at, granted_by)"
                b" VALUES (%s, %s, %s, %s, %s) ON CONFLICT (ws, agent) DO UPDATE SET"
                b" permissions = EXCLUDED.permissions, granted_at = EXCLUDED.granted_at,"
                b" granted_by = EXCLUDED.granted_by",
                (
                    wid,
                    entry.agent_id,
                    ",".join(entry.permissions),
                    entry.granted_at,
                    entry.granted_by,
                ),
            )

    def get_acl(self, ws: WorkspaceId, agent_id: str) -> AclEntry | None:
        """One entry, or None."""
        wid = self._ws(ws)
        row = self._one(
            "SELECT agent, permissions, granted_at, granted_by FROM acl"
            " WHERE ws = %s AND agent = %s",
            (wid, agent_id),
        )
        return None if row is None else self._acl(row)

    def delete_acl(self, ws: WorkspaceId, agent_id: str) -> bool:
        """Delete one entry; whether a row went."""
        wid = self._ws(ws)
        with self._write() as tx:
            cursor = tx.execute(b"DELETE FROM acl WHERE ws = %s AND agent = %s", (wid, agent_id))
            return cursor.rowcount > 0

    def list_acl(self, ws: WorkspaceId) -> list[AclEntry]:
        """Every entry of ``ws`` by agent ID."""
        wid = self._ws(ws)
        rows = self._all(
            "SELECT agent, permissions, granted_at, granted_by FROM acl WHERE ws = %s"
            " ORDER BY agent",
            (wid,),
        )
        return [self._acl(r) for r in rows]

    def list_workspaces_of_agent(
        self,
        agent_id: str,
        *,
        include_deleted: bool = False,
        after: str | None = None,
        limit: int = 100,
    ) -> list[WorkspaceInfo]:
        """Owned, ACL-listed or registered workspaces of the agent, by name, in one query."""
        sql = (
            f"SELECT {_INFO} FROM workspaces WHERE id IN ("
            "SELECT id FROM workspaces WHERE owner = %s"
            " UNION SELECT ws FROM acl WHERE agent = %s"
            " UNION SELECT ws FROM agents WHERE agent = %s)"
            " AND (%s::text IS NULL OR name > %s)"
        )
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
        rows = self._all(
            sql + " ORDER BY name LIMIT %s",
            (agent_id, agent_id, agent_id, after, after, max(limit, 0)),
        )
        return [self._info(r) for r in rows]

    # -- content catalog ------------------------------------------------------
    def catalog_insert(
        self, ws: WorkspaceId, digest: ContentHash, codec: str, stored: bytes | None
    ) -> bool:
        """Add the catalog row for ``digest``; False if present (never changed)."""
        wid = self._ws(ws)
        key = _require(digest, "content hash")
        with self._write() as tx:
            cursor = tx.execute(
                b"INSERT INTO contents (ws, hash, codec, data) VALUES (%s, %s, %s, %s)"
                b" ON CONFLICT DO NOTHING",
                (wid, key, codec, None if stored is None else bytes(stored)),
            )
            return cursor.rowcount == 1

    def catalog_get(
        self, ws: WorkspaceId, digests: Sequence[ContentHash]
    ) -> dict[ContentHash, tuple[str, bytes | None]]:
        """``(codec, stored bytes or None)`` of each catalogued digest."""
        wid = self._ws(ws)
        keys = {raw: d for d in digests if (raw := _key(d)) is not None}
        out: dict[ContentHash, tuple[str, bytes | None]] = {}
        for chunk in _chunks(list(keys), 500):
            for digest, codec, data in self._all(
                "SELECT hash, codec, data FROM contents WHERE ws = %s AND hash = ANY(%s::bytea[])",
                (wid, list(chunk)),
            ):
                out[keys[bytes(digest)]] = (codec, None if data is None else bytes(data))
        return out

    def catalog_exists(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Catalogued digests among ``digests``, from the primary key alone."""
        wid = self._ws(ws)
        keys = {raw: d for d in digests if (raw := _key(d)) is not None}
        out: set[ContentHash] = set()
        for chunk in _chunks(list(keys)):
            for (digest,) in self._all(
                "SELECT hash FROM contents WHERE ws = %s AND hash = ANY(%s::bytea[])",
                (wid, list(chunk)),
            ):
                out.add(keys[bytes(digest)])
        return out

    def catalog_iter(self, ws: WorkspaceId) -> Iterator[ContentHash]:
        """Every catalogued digest in ascending order, paged."""
        wid = self._ws(ws)
        sql = "SELECT hash FROM contents WHERE ws = %s AND hash > %s ORDER BY hash LIMIT %s"
        for (digest,) in self._pages(sql, wid, (b"",), 1):
            yield ContentHash(bytes(digest).hex())

    # -- frames -------------------------------------------------------------
    def _frame_at(self, record: bytes, put_seq: int) -> Frame:
        return replace(self._parse_frame(bytes(record)), put_seq=int(put_seq))

    def lock_nodes(self, ws: WorkspaceId, node_ids: Sequence[NodeId]) -> None:
        """Inside a unit of work, take the append locks of ``node_ids`` now, in one global order.

        A unit that appends to several nodes would otherwise take their locks
        one by one while holding the workspace's audit lock (taken by each
        put's audit entry and held to commit), and deadlock with a put or
        another batch on one of those nodes; taking them all first, sorted by
        lock key, before any audit entry, leaves no cycle. The locks are
        re-entrant, so the appends take them again at no cost. Outside a unit
        of work it does nothing (the locks would end with the statement).
        """
        if getattr(self._local, "conn", None) is None or not node_ids:
            return
        wid = self._ws(ws)
        keys = sorted({_lock_key(b"node", wid, _require(n, "NodeID")) for n in node_ids})
        with self._write() as tx:
            for key in keys:
                tx.execute(b"SELECT pg_advisory_xact_lock(%s)", (key,))

    def append_frame(
        self,
        ws: WorkspaceId,
        frame: Frame,
        set_root: SetRootFn,
        created_at: str,
        *,
        expected_head: FrameId | AnyHead | None = ANY_HEAD,
    ) -> Appended:
        """Put a frame in one transaction under its node's lock (see the module docstring)."""
        wid = self._ws(ws)
        frame_key = _require(frame.frame_id, "FrameID")
        node_key = _require(frame.node_id, "NodeID")
        content_key = _require(frame.content_hash, "content hash")
        ref_keys = [_require(ref, "basis reference") for ref in basis_refs(frame)]
        find = (
            "SELECT f.record, f.put_seq, h.frame FROM frames AS f LEFT JOIN heads AS h"
            " ON h.ws = f.ws AND h.node = f.node AND h.type = f.type"
            " WHERE f.ws = %s AND f.frame = %s"
        )
        known = self._one(find, (wid, frame_key))
        if known is not None and known[2] is not None and bytes(known[2]) == frame_key:
            return Appended(self._frame_at(known[0], known[1]), False)  # a retry: no lock needed
        with self._write() as tx:
            tx.execute(b"SELECT pg_advisory_xact_lock(%s)", (_lock_key(b"node", wid, node_key),))
            existing = tx.execute(
                b"SELECT record, put_seq FROM frames WHERE ws = %s AND frame = %s",
                (wid, frame_key),
            ).fetchone()
            row = tx.execute(
                b"SELECT frame FROM heads WHERE ws = %s AND node = %s AND type = %s",
                (wid, node_key, frame.frame_type),
            ).fetchone()
            current = None if row is None else bytes(row[0]).hex()
            if existing is not None and current == frame.frame_id:
                return Appended(self._frame_at(existing[0], existing[1]), False)
            if existing is None:
                checks = tx.execute(
                    b"SELECT EXISTS (SELECT 1 FROM nodes WHERE ws = %s AND node = %s),"
                    b" EXISTS (SELECT 1 FROM contents WHERE ws = %s AND hash = %s)",
                    (wid, node_key, wid, content_key),
                ).fetchone()
                assert checks is not None
                if not checks[0]:
                    raise NodeNotFound(f"node {frame.node_id} does not exist in this workspace")
                if not checks[1]:
                    raise missing_content(frame)
            if not isinstance(expected_head, AnyHead) and current != expected_head:
                raise ConcurrentUpdate(
                    f"head of {frame.frame_type!r} on {frame.node_id} moved",
                    expected=expected_head or "",
                    actual=current or "",
                )
            seq = self._next_seq(tx, wid)
            tx.execute(
                b"INSERT INTO heads (ws, node, type, frame) VALUES (%s, %s, %s, %s)"
                b" ON CONFLICT (ws, node, type) DO UPDATE SET frame = EXCLUDED.frame",
                (wid, node_key, frame.frame_type, frame_key),
            )
            if existing is not None:
                tx.execute(
                    b"UPDATE frames SET put_seq = %s WHERE ws = %s AND frame = %s",
                    (seq, wid, frame_key),
                )
                return Appended(self._frame_at(existing[0], seq), False)
            stored = replace(frame, seq=seq, created_at=created_at, put_seq=seq)
            tx.execute(
                b"INSERT INTO frames (ws, frame, node, type, agent, seq, record, put_seq)"
                b" VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    wid,
                    frame_key,
                    node_key,
                    frame.frame_type,
                    frame.agent_id,
                    seq,
                    stored.to_json(),
                    seq,
                ),
            )
            members = [
                bytes(r[0])
                for r in tx.execute(
                    b"SELECT frame FROM frames WHERE ws = %s AND node = %s", (wid, node_key)
                )
            ]
            tx.execute(
                b"INSERT INTO frame_sets (ws, node, root, count) VALUES (%s, %s, %s, %s)"
                b" ON CONFLICT (ws, node) DO UPDATE SET root = EXCLUDED.root,"
                b" count = EXCLUDED.count",
                (wid, node_key, set_root(members), len(members)),
            )
            if ref_keys:
                tx.execute(
                    b"INSERT INTO basis_refs (ws, ref, seq, frame)"
                    b" SELECT %s, r, %s, %s FROM unnest(%s::bytea[]) AS t(r)",
                    (wid, seq, frame_key, ref_keys),
                )
        return Appended(stored, True)

    def get_frames(self, ws: WorkspaceId, frame_ids: Sequence[FrameId]) -> dict[FrameId, Frame]:
        """Batch lookup; missing IDs are absent."""
        wid = self._ws(ws)
        keys = {raw: f for f in frame_ids if (raw := _key(f)) is not None}
        found: dict[FrameId, Frame] = {}
        for chunk in _chunks(list(keys)):
            for frame, rec, put in self._all(
                "SELECT frame, record, put_seq FROM frames"
                " WHERE ws = %s AND frame = ANY(%s::bytea[])",
                (wid, list(chunk)),
            ):
                found[keys[bytes(frame)]] = self._frame_at(rec, put)
        return {f: found[f] for f in frame_ids if f in found}

    def iter_node_frames(
        self,
        ws: WorkspaceId,
        node_id: NodeId,
        *,
        frame_type: str | None = None,
        agent_id: str | None = None,
    ) -> Iterator[Frame]:
        """A node's frames, most recently put first, in keyset pages (no cursor held open)."""
        wid = self._ws(ws)
        raw = _key(node_id)
        if raw is None:
            return
        sql = "SELECT record, put_seq FROM frames WHERE ws = %s AND node = %s"
        params: list[Any] = [wid, raw]
        if frame_type is not None:
            sql += " AND type = %s"
            params.append(frame_type)
        if agent_id is not None:
            sql += " AND agent = %s"
            params.append(agent_id)
        sql += " AND put_seq < %s ORDER BY put_seq DESC LIMIT %s"
        before, size = _MAX_SEQ, 16
        while True:
            rows = self._all(sql, (*params, before, size))
            for rec, put_seq in rows:
                before = int(put_seq)
                yield self._frame_at(rec, put_seq)
            if len(rows) < size:
                return
            size = min(size * 2, 1024)

    def node_frame_ids(self, ws: WorkspaceId, node_id: NodeId) -> list[FrameId]:
        """All FrameIDs of a node, sorted (bytea order equals lowercase hex order)."""
        wid = self._ws(ws)
        raw = _key(node_id)
        if raw is None:
            return []
        rows = self._all(
            "SELECT frame FROM frames WHERE ws = %s AND node = %s ORDER BY frame", (wid, raw)
        )
        return [FrameId(bytes(r[0]).hex()) for r in rows]

    def get_heads_many(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, dict[str, FrameId]]:
        """Every head of many nodes, one ``= ANY`` query per batch (sorted by type)."""
        wid = self._ws(ws)
        keys = {raw: n for n in node_ids if (raw := _key(n)) is not None}
        out: dict[NodeId, dict[str, FrameId]] = {}
        for chunk in _chunks(list(keys)):
            for node, frame_type, frame in self._all(
                "SELECT node, type, frame FROM heads WHERE ws = %s AND node = ANY(%s::bytea[])"
                " ORDER BY node, type",
                (wid, list(chunk)),
            ):
                out.setdefault(keys[bytes(node)], {})[frame_type] = FrameId(bytes(frame).hex())
        return out

    def path_history_many(
        self, ws: WorkspaceId, paths: Sequence[str], limit: int
    ) -> dict[str, list[tuple[int, NodeId]]]:
        """Batch form of :meth:`path_history`: one ``LATERAL`` probe per path, one query."""
        wid = self._ws(ws)
        out: dict[str, list[tuple[int, NodeId]]] = {}
        unique = list(dict.fromkeys(paths))
        if limit <= 0 or not unique:
            return out
        for chunk in _chunks(unique, 1000):
            for path, seq, node in self._all(
                "SELECT p.path, h.seq, h.node FROM unnest(%s::text[]) AS p(path)"
                " CROSS JOIN LATERAL (SELECT seq, node FROM path_history"
                " WHERE ws = %s AND path = p.path ORDER BY seq DESC LIMIT %s) AS h"
                " ORDER BY p.path, h.seq DESC",
                (list(chunk), wid, limit),
            ):
                out.setdefault(path, []).append((int(seq), NodeId(bytes(node).hex())))
        return out

    def get_frame_sets(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, NodeSetState]:
        """Batch form of :meth:`get_frame_set`."""
        wid = self._ws(ws)
        keys = {raw: n for n in node_ids if (raw := _key(n)) is not None}
        out: dict[NodeId, NodeSetState] = {}
        for chunk in _chunks(list(keys)):
            for node, root, count in self._all(
                "SELECT node, root, count FROM frame_sets WHERE ws = %s"
                " AND node = ANY(%s::bytea[])",
                (wid, list(chunk)),
            ):
                out[keys[bytes(node)]] = NodeSetState(bytes(root).hex(), int(count))
        return out

    def recent_frames(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId], limit: int
    ) -> dict[NodeId, list[Frame]]:
        """The ``limit`` most recently put frames per node: ``LATERAL`` index probes, one query."""
        wid = self._ws(ws)
        keys = {raw: n for n in node_ids if (raw := _key(n)) is not None}
        out: dict[NodeId, list[Frame]] = {}
        if limit <= 0 or not keys:
            return out
        for chunk in _chunks(list(keys), 1000):
            for node, rec, put_seq in self._all(
                "SELECT n.node, f.record, f.put_seq FROM unnest(%s::bytea[]) AS n(node)"
                " CROSS JOIN LATERAL (SELECT record, put_seq FROM frames"
                " WHERE ws = %s AND node = n.node ORDER BY put_seq DESC LIMIT %s) AS f"
                " ORDER BY n.node, f.put_seq DESC",
                (list(chunk), wid, limit),
            ):
                out.setdefault(keys[bytes(node)], []).append(self._frame_at(rec, put_seq))
        return out

    def frames_built_on(
        self, ws: WorkspaceId, ref: str, limit: int, after_seq: int | None = None
    ) -> list[tuple[int, FrameId]]:
        """``(seq, FrameID)`` of dependents of ``ref``, oldest first: one primary-key range."""
        wid = self._ws(ws)
        raw = _key(ref)
        if raw is None:
            return []
        rows = self._all(
            "SELECT seq, frame FROM basis_refs WHERE ws = %s AND ref = %s AND seq > %s"
            " ORDER BY seq LIMIT %s",
            (wid, raw, -1 if after_seq is None else after_seq, max(limit, 0)),
        )
        return [(int(seq), FrameId(bytes(frame).hex())) for seq, frame in rows]

    # -- full iteration: for verify and export only, never for lookups -------
    def _pages(self, sql: str, wid: int, start: tuple[Any, ...], width: int) -> Iterator[Any]:
        """Every row of ``sql`` in key order, by keyset pagination on its first ``width`` columns."""
        after = start
        while True:
            rows = self._all(sql, (wid, *after, _PAGE))
            yield from rows
            if len(rows) < _PAGE:
                return
            after = tuple(rows[-1][:width])

    def iter_all_nodes(self, ws: WorkspaceId) -> Iterator[NodeRecord | Damaged]:
        """Every stored NodeRecord in NodeID order (damaged rows yielded as Damaged)."""
        wid = self._ws(ws)
        sql = "SELECT node, record FROM nodes WHERE ws = %s AND node > %s ORDER BY node LIMIT %s"
        for node, rec in self._pages(sql, wid, (b"",), 1):
            key = bytes(node).hex()
            try:
                parsed = NodeRecord.from_json(bytes(rec))
            except StoreCorrupt as exc:
                yield Damaged("nodes", key, exc.message)
                continue
            if parsed.node_id != key:
                yield Damaged("nodes", key, f"row key disagrees with record ({parsed.node_id})")
            else:
                yield parsed

    def iter_all_frames(self, ws: WorkspaceId) -> Iterator[Frame | Damaged]:
        """Every stored frame in ``seq`` order (damaged rows yielded as Damaged)."""
        wid = self._ws(ws)
        sql = (
            "SELECT seq, frame, node, type, agent, record, put_seq FROM frames"
            " WHERE ws = %s AND seq > %s ORDER BY seq LIMIT %s"
        )
        for seq, frame, node, frame_type, agent, rec, put in self._pages(sql, wid, (0,), 1):
            key = bytes(frame).hex()
            try:
                parsed = Frame.from_json(bytes(rec))
            except StoreCorrupt as exc:
                yield Damaged("frames", key, exc.message)
                continue
            columns = (key, bytes(node).hex(), frame_type, agent, int(seq))
            fields = (parsed.frame_id, parsed.node_id, parsed.frame_type, parsed.agent_id)
            if columns != (*fields, parsed.seq) or put < seq:
                yield Damaged("frames", key, "indexed columns disagree with the frame record")
            else:
                yield replace(parsed, put_seq=int(put))

    def iter_all_frame_sets(self, ws: WorkspaceId) -> Iterator[tuple[NodeId, NodeSetState]]:
        """Every stored frame-set root."""
        wid = self._ws(ws)
        sql = (
            "SELECT node, root, count FROM frame_sets WHERE ws = %s AND node > %s"
            " ORDER BY node LIMIT %s"
        )
        for node, root, count in self._pages(sql, wid, (b"",), 1):
            yield NodeId(bytes(node).hex()), NodeSetState(bytes(root).hex(), int(count))

    def iter_all_heads(self, ws: WorkspaceId) -> Iterator[tuple[NodeId, str, FrameId]]:
        """Every stored head."""
        wid = self._ws(ws)
        sql = (
            "SELECT node, type, frame FROM heads WHERE ws = %s AND (node, type) > (%s, %s)"
            " ORDER BY node, type LIMIT %s"
        )
        for node, frame_type, frame in self._pages(sql, wid, (b"", ""), 2):
            yield NodeId(bytes(node).hex()), frame_type, FrameId(bytes(frame).hex())

    def iter_all_paths(self, ws: WorkspaceId) -> Iterator[tuple[str, NodeId]]:
        """Every entry of the current path index, by path (the root's ``""`` first)."""
        wid = self._ws(ws)
        root = self._one("SELECT node FROM paths WHERE ws = %s AND path = ''", (wid,))
        if root is not None:
            yield "", NodeId(bytes(root[0]).hex())
        sql = "SELECT path, node FROM paths WHERE ws = %s AND path > %s ORDER BY path LIMIT %s"
        for path, node in self._pages(sql, wid, ("",), 1):
            yield path, NodeId(bytes(node).hex())

    def iter_all_path_history(self, ws: WorkspaceId) -> Iterator[tuple[str, int, NodeId]]:
        """Every path-history entry, by path then seq."""
        wid = self._ws(ws)
        sql = (
            "SELECT path, seq, node FROM path_history WHERE ws = %s AND (path, seq) > (%s, %s)"
            " ORDER BY path, seq LIMIT %s"
        )
        for path, seq, node in self._pages(sql, wid, ("", -1), 2):
            yield path, int(seq), NodeId(bytes(node).hex())

    def iter_all_basis_refs(self, ws: WorkspaceId) -> Iterator[tuple[str, FrameId]]:
        """Every basis-index entry, by referenced ID then dependent seq."""
        wid = self._ws(ws)
        sql = (
            "SELECT ref, seq, frame FROM basis_refs WHERE ws = %s AND (ref, seq) > (%s, %s)"
            " ORDER BY ref, seq LIMIT %s"
        )
        for ref, _seq, frame in self._pages(sql, wid, (b"", -1), 2):
            yield bytes(ref).hex(), FrameId(bytes(frame).hex())

    # -- audit log ----------------------------------------------------------
    @staticmethod
    def _audit_entry(ws: WorkspaceId, row: Sequence[Any]) -> AuditEntry:
        seq, time, agent, operation, node, frame, success, error, request_id, prev, digest = row
        return AuditEntry(
            int(seq),
            str(time),
            ws,
            agent,
            str(operation),
            node,
            frame,
            bool(success),
            error,
            request_id,
            str(prev),
            str(digest),
        )

    def append_audit(self, ws: WorkspaceId, draft: AuditDraft) -> AuditEntry:
        """Chain and insert the next entry under the workspace's audit lock."""
        wid = self._ws(ws)
        with self._write() as tx:
            tx.execute(b"SELECT pg_advisory_xact_lock(%s)", (_lock_key(b"audit", wid),))
            row = tx.execute(
                f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE ws = %s"
                " ORDER BY seq DESC LIMIT 1".encode(),
                (wid,),
            ).fetchone()
            entry = chain_entry(ws, draft, None if row is None else self._audit_entry(ws, row))
            self._insert_audit(tx, wid, [entry])
        return entry

    @staticmethod
    def _insert_audit(tx: psycopg.Connection, wid: int, entries: Sequence[AuditEntry]) -> None:
        tx.cursor().executemany(
            f"INSERT INTO audit_log (ws, {_AUDIT_COLUMNS}) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING".encode(),
            [
                (
                    wid,
                    e.seq,
                    e.time,
                    e.agent,
                    e.operation,
                    e.node,
                    e.frame,
                    e.success,
                    e.error,
                    e.request_id,
                    e.prev_hash,
                    e.entry_hash,
                )
                for e in entries
            ],
        )

    def audit_head(self, ws: WorkspaceId) -> AuditEntry | None:
        """The entry with the highest seq."""
        wid = self._ws(ws)
        row = self._one(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE ws = %s ORDER BY seq DESC LIMIT 1",
            (wid,),
        )
        return None if row is None else self._audit_entry(ws, row)

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
        """A keyset page by seq, filtered in SQL."""
        wid = self._ws(ws)
        sql = f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE ws = %s AND seq > %s"
        params: list[Any] = [wid, after_seq or 0]
        for column, value in (("agent", agent), ("operation", operation), ("node", node)):
            if value is not None:
                sql += f" AND {column} = %s"
                params.append(value)
        rows = self._all(sql + " ORDER BY seq LIMIT %s", (*params, max(limit, 0)))
        return [self._audit_entry(ws, r) for r in rows]

    def iter_audit(self, ws: WorkspaceId) -> Iterator[AuditEntry]:
        """Every entry by seq, in pages."""
        wid = self._ws(ws)
        sql = f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE ws = %s AND seq > %s ORDER BY seq LIMIT %s"
        for row in self._pages(sql, wid, (0,), 1):
            yield self._audit_entry(ws, row)

    # -- bulk import (migration and snapshot import only) ---------------------
    def import_workspace(self, info: WorkspaceInfo, next_seq: int) -> None:
        """Create or replace the workspace's metadata; its sequence resumes at least at ``next_seq``."""
        raw = _require(info.workspace_id, "workspace ID")
        with self._write() as tx:
            row = tx.execute(
                b"INSERT INTO workspaces (wsid, name, description, owner, created_at, deleted_at)"
                b" VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (wsid) DO UPDATE SET"
                b" name = EXCLUDED.name, description = EXCLUDED.description,"
                b" owner = EXCLUDED.owner, created_at = EXCLUDED.created_at,"
                b" deleted_at = EXCLUDED.deleted_at RETURNING id",
                (raw, info.name, info.description, info.owner, info.created_at, info.deleted_at),
            ).fetchone()
            assert row is not None
            name = _seq_name(int(row[0]))
            tx.execute(f"CREATE SEQUENCE IF NOT EXISTS {name}".encode())
            state = tx.execute(f"SELECT last_value, is_called FROM {name}".encode()).fetchone()
            assert state is not None
            upcoming = int(state[0]) + (1 if state[1] else 0)
            if next_seq > upcoming:
                tx.execute(b"SELECT setval(%s, %s, false)", (name, next_seq))

    def import_frames(self, ws: WorkspaceId, frames: Sequence[Frame]) -> None:
        """Frames as stored; a present one keeps its record and takes the given ``put_seq``.

        ``put_seq`` is a pointer (the frame's latest put), like on every
        backend: a resumed copy moves it when the source re-put the frame.
        """
        wid = self._ws(ws)
        rows = [
            (
                _require(f.frame_id, "FrameID"),
                _require(f.node_id, "NodeID"),
                f.frame_type,
                f.agent_id,
                f.seq,
                f.to_json(),
                f.put_seq,
            )
            for f in frames
        ]
        with self._write() as tx:
            tx.cursor().executemany(
                b"INSERT INTO frames (ws, frame, node, type, agent, seq, record, put_seq)"
                b" VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                b" ON CONFLICT (ws, frame) DO UPDATE SET put_seq = EXCLUDED.put_seq",
                [(wid, *r) for r in rows],
            )

    def import_frame_sets(
        self, ws: WorkspaceId, sets: Sequence[tuple[NodeId, NodeSetState]]
    ) -> None:
        """Frame-set roots and counts as stored (replacing what is there)."""
        wid = self._ws(ws)
        rows = {_require(n, "NodeID"): (_require(s.root, "set root"), s.count) for n, s in sets}
        with self._write() as tx:
            tx.cursor().executemany(
                b"INSERT INTO frame_sets (ws, node, root, count) VALUES (%s, %s, %s, %s)"
                b" ON CONFLICT (ws, node) DO UPDATE SET root = EXCLUDED.root,"
                b" count = EXCLUDED.count",
                [(wid, n, root, count) for n, (root, count) in rows.items()],
            )

    def import_heads(self, ws: WorkspaceId, heads: Sequence[tuple[NodeId, str, FrameId]]) -> None:
        """(node, type) heads as stored (replacing what is there)."""
        wid = self._ws(ws)
        rows = {(_require(n, "NodeID"), t): _require(f, "FrameID") for n, t, f in heads}
        with self._write() as tx:
            tx.cursor().executemany(
                b"INSERT INTO heads (ws, node, type, frame) VALUES (%s, %s, %s, %s)"
                b" ON CONFLICT (ws, node, type) DO UPDATE SET frame = EXCLUDED.frame",
                [(wid, n, t, f) for (n, t), f in rows.items()],
            )

    def import_roots(self, ws: WorkspaceId, entries: Sequence[RootEntry]) -> None:
        """Root-history entries as stored."""
        wid = self._ws(ws)
        rows = [(wid, e.seq, _require(e.root, "NodeID"), e.created_at) for e in entries]
        with self._write() as tx:
            tx.cursor().executemany(
                b"INSERT INTO root_history (ws, seq, root, created_at) VALUES (%s, %s, %s, %s)"
                b" ON CONFLICT DO NOTHING",
                rows,
            )

    def import_paths(self, ws: WorkspaceId, entries: Sequence[tuple[str, NodeId]]) -> None:
        """Current path-index entries (replacing what is there)."""
        wid = self._ws(ws)
        rows = {path: _require(node, "NodeID") for path, node in entries}
        with self._write() as tx:
            for chunk in _chunks(list(rows.items())):
                tx.execute(
                    b"INSERT INTO paths (ws, path, node) SELECT %s, p, n"
                    b" FROM unnest(%s::text[], %s::bytea[]) AS t(p, n)"
                    b" ON CONFLICT (ws, path) DO UPDATE SET node = EXCLUDED.node",
                    (wid, [p for p, _ in chunk], [n for _, n in chunk]),
                )

    def import_path_history(
        self, ws: WorkspaceId, entries: Sequence[tuple[str, int, NodeId]]
    ) -> None:
        """Path-history entries as stored."""
        wid = self._ws(ws)
        rows = [(wid, p, s, _require(n, "NodeID")) for p, s, n in entries]
        with self._write() as tx:
            tx.cursor().executemany(
                b"INSERT INTO path_history (ws, path, seq, node) VALUES (%s, %s, %s, %s)"
                b" ON CONFLICT DO NOTHING",
                rows,
            )

    def import_basis_refs(
        self, ws: WorkspaceId, entries: Sequence[tuple[str, int, FrameId]]
    ) -> None:
        """Basis-index entries as stored."""
        wid = self._ws(ws)
        rows = [
            (wid, _require(r, "basis reference"), s, _require(f, "FrameID")) for r, s, f in entries
        ]
        with self._write() as tx:
            tx.cursor().executemany(
                b"INSERT INTO basis_refs (ws, ref, seq, frame) VALUES (%s, %s, %s, %s)"
                b" ON CONFLICT DO NOTHING",
                rows,
            )

    def import_audit(self, ws: WorkspaceId, entries: Sequence[AuditEntry]) -> None:
        """Audit entries exactly as stored (never re-chained)."""
        wid = self._ws(ws)
        with self._write() as tx:
            self._insert_audit(tx, wid, entries)
