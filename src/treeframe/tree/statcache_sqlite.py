"""The workspace's own stat cache: a small SQLite file beside the tree, never the shared store.

A workspace keeps its stat cache in ``.treeframe/statcache.sqlite`` (the
caller picks the path; :data:`CACHE_FILE` is the name): one table keyed by
directory path, one :mod:`~treeframe.tree.statcache` blob per directory, and
``PRAGMA user_version`` naming the layout. It is keyed by nothing else (no
workspace ID, no store URL): its entries describe this machine's files, which
stay true whichever store the workspace points at (see the
:mod:`~treeframe.tree.statcache` docstring for why a store switch cannot make
a scan skip a record).

The file is a cache, so it may never fail a scan, and every trouble becomes
one :class:`~treeframe.tree.statcache.StatCacheError` that the scanner turns
into a warning:

* a file that is not a database or is damaged (``SQLITE_NOTADB``,
  ``SQLITE_CORRUPT``), or holds an unknown layout, is deleted and created
  anew, so this very scan rebuilds it;
* a file that stays locked past the busy timeout (another process writing a
  long time) is not used for the rest of the scan: a failed read stops reads
  and writes, a failed write stops writes only, so no later call waits again;
* a file that cannot be written (a read-only mount or file) is still read;
  one that cannot be opened at all leaves the scan without a cache.

It uses SQLite's default rollback journal rather than WAL: at rest it is one
file (``rm .treeframe/statcache*`` clears it), and a read-only workspace can
still read it (WAL needs a writable ``-shm`` beside it). Concurrent scans of
one tree from two processes are serialized by SQLite's locks; each write is
one short transaction of complete blobs, so neither sees a torn entry.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, NoReturn

from treeframe.tree.statcache import StatCacheError

__all__ = ["BUSY_TIMEOUT_MS", "CACHE_FILE", "ReadOnlySqliteStatCache", "SqliteStatCache"]

CACHE_FILE = "statcache.sqlite"
"""The file name a workspace gives its stat cache inside its ``.treeframe/`` directory."""

BUSY_TIMEOUT_MS = 2000
"""How long one read or write waits for another process's lock before the cache is skipped."""

_LAYOUT = 1
"""``PRAGMA user_version`` of the layout below; any other non-empty file is rebuilt."""

_SCHEMA = "CREATE TABLE IF NOT EXISTS stat_dirs (dir TEXT PRIMARY KEY, entries BLOB NOT NULL)"

_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_READ_ONLY = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM}


class _Damaged(Exception):
    """The file holds something other than a stat cache of this layout."""


def _primary(exc: sqlite3.Error) -> int:
    """The primary result code of a SQLite error (extended codes carry it in the low byte)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else -1


class SqliteStatCache:
    """A :class:`~treeframe.tree.statcache.StatCache` in a SQLite file, opened on first use.

    Construction touches nothing, so a scan that never reads the cache never
    creates the file; the first :meth:`get_dir` or :meth:`put_dirs` opens
    (creating or rebuilding) it. Use it for one scan at a time from one thread
    and close it afterwards (or use it as a context manager).
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self._timeout = busy_timeout_ms / 1000
        self._conn: sqlite3.Connection | None = None
        self._opened = False
        self._reads = True
        self._writes = True

    def __enter__(self) -> SqliteStatCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the StatCache seam --------------------------------------------------
    def get_dir(self, dir_path: str) -> bytes | None:
        """The directory's blob, or None (also once reading has failed)."""
        conn = self._connection()
        if conn is None or not self._reads:
            return None
        try:
            row = conn.execute(
                "SELECT entries FROM stat_dirs WHERE dir = ?", (dir_path,)
            ).fetchone()
        except sqlite3.Error as exc:
            self._reads = self._writes = False
            self._recover(exc, "read")
        return bytes(row[0]) if row is not None else None

    def put_dirs(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Replace the directories' blobs in one transaction (dropped once writing has failed)."""
        conn = self._connection()
        if conn is None or not self._writes or not items:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO stat_dirs (dir, entries) VALUES (?, ?)", items
                )
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._writes = False
            self._recover(exc, "written")

    def close(self) -> None:
        """Close the file (idempotent); nothing is pending, every write is committed."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        self._reads = self._writes = False

    # -- opening and recovering ----------------------------------------------
    def _connection(self) -> sqlite3.Connection | None:
        """The open connection; the first call opens (or rebuilds) the file."""
        if not self._opened:
            self._opened = True
            try:
                self._conn = self._open()
            except _Damaged as exc:
                self._rebuild(str(exc))
            except sqlite3.Error as exc:
                self._reads = self._writes = False
                if _primary(exc) in _DAMAGED:
                    self._rebuild(str(exc))
                raise self._error(f"cannot open it ({exc}); scanning without it") from exc
        return self._conn

    def _open(self) -> sqlite3.Connection:
        """Connect and check (or lay down) the layout; _Damaged when the file is something else."""
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == _LAYOUT:
                return conn
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if version != 0 or tables:
                raise _Damaged(f"unknown layout (user_version {version}, {tables} objects)")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {_LAYOUT}")
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _rebuild(self, why: str) -> NoReturn:
        """Delete the damaged file and start an empty one; always raises StatCacheError."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        try:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._conn = self._open()
        except (OSError, sqlite3.Error, _Damaged) as exc:
            self._reads = self._writes = False
            raise self._error(f"is damaged ({why}) and cannot be rebuilt ({exc})") from exc
        self._reads = self._writes = True
        raise self._error(f"was damaged ({why}); rebuilt it, unchanged files are hashed again")

    def _recover(self, exc: sqlite3.Error, action: Literal["read", "written"]) -> NoReturn:
        """Turn a failed read or write into StatCacheError, rebuilding a damaged file first."""
        code = _primary(exc)
        if code in _DAMAGED:
            self._rebuild(str(exc))
        if code in _BUSY:
            raise self._error(
                f"is locked by another process ({exc}); not used for the rest of this scan"
            ) from exc
        if code in _READ_ONLY and action == "written":
            raise self._error(f"cannot be written ({exc}); not updated by this scan") from exc
        raise self._error(
            f"cannot be {action} ({exc}); not used for the rest of this scan"
        ) from exc

    def _error(self, what: str) -> StatCacheError:
        return StatCacheError(f"stat cache {self.path} {what}")


class ReadOnlySqliteStatCache:
    """The workspace's stat cache opened for reading only: diagnostics never change it.

    Unlike :class:`SqliteStatCache` it never creates, lays out, rebuilds or
    writes the file (SQLite's ``mode=ro``): a missing, damaged, locked or
    foreign file just answers every read with a miss, and :meth:`put_dirs`
    drops its argument. ``diff --disk`` scans with it so that unchanged files
    are not re-read, and the file's bytes stay as they were.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self._timeout = busy_timeout_ms / 1000
        self._conn: sqlite3.Connection | None = None
        self._opened = False

    def __enter__(self) -> ReadOnlySqliteStatCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def get_dir(self, dir_path: str) -> bytes | None:
        """The directory's blob, or None (absent, or the file cannot be read as a cache)."""
        conn = self._connection()
        if conn is None:
            return None
        try:
            row = conn.execute(
                "SELECT entries FROM stat_dirs WHERE dir = ?", (dir_path,)
            ).fetchone()
        except sqlite3.Error:
            self.close()
            return None
        return bytes(row[0]) if row is not None else None

    def put_dirs(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Dropped: this cache is never written."""

    def close(self) -> None:
        """Close the file (idempotent); later reads miss."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        self._opened = True

    def _connection(self) -> sqlite3.Connection | None:
        if self._opened:
            return self._conn
        self._opened = True
        if not self.path.is_file():
            return None
        try:
            conn = sqlite3.connect(
                f"{self.path.absolute().as_uri()}?mode=ro",
                uri=True,
                timeout=self._timeout,
                isolation_level=None,
            )
        except sqlite3.Error:
            return None
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error:
            version = None
        if version != _LAYOUT:
            conn.close()
            return None
        self._conn = conn
        return conn
