"""Scan a directory into NodeRecords, streamed into a store, then move the workspace root atomically.

How a scan runs (bounded memory, one pass):

1. A depth-first walk lists each directory (``os.scandir``, entries sorted by
   name, ``lstat`` never following symlinks; a name is taken as its bytes on
   disk and decoded as strict UTF-8 whatever the locale, symlink targets are
   read as bytes), applies the ignore rules
   (:mod:`treeframe.tree.ignore`) and, per regular file, either takes the
   content hash from the stat cache (:mod:`treeframe.tree.statcache`, a
   machine-local :class:`~treeframe.tree.statcache.StatCache` the caller
   passes, never the store) or
   queues the file for hashing (:mod:`treeframe.tree.filehash`, in worker
   processes for large scans).
2. When a directory's whole subtree has been walked it becomes a pending job;
   jobs are finalized in that (post-)order once their hashes are in, or
   forcibly when more than :data:`WINDOW` files are held, so workers stay busy
   while the walk continues and memory stays bounded by the window plus the
   walk's stack, whatever the size of the tree.
3. Finalizing a directory builds its children's records and its own, and
   diffs them against the same directory in the previous tree (reached
   through the parent's old record, one ``get_node`` per directory that
   existed before): only new records are written, only changed paths are
   staged in the path index (removed subtrees are enumerated from the old
   records), an unchanged subtree costs nothing. The directory's (name, NodeID) goes to its parent
   and everything else is dropped.
4. ``commit_scan`` moves the root, applies the staged paths and appends to
   the root history in one transaction (compare-and-set against the root seen
   at the start). If the root did not change, nothing is committed and no
   history entry is added: the staging area is dropped and the current entry
   is returned with ``changed=False``.

Entries that cannot be represented or read are skipped, never fatal: each
becomes one :class:`Skipped` (escaped path, reason code, message) in the
result and is simply not in the tree, so the root is a function of the tree
minus the skipped set. The reasons: ``non_utf8_name``,
``non_utf8_symlink_target``, ``nfc_collision`` (every entry of a directory
whose NFC name equals another's), ``unassigned_code_point``,
``unreadable_file``, ``unreadable_directory`` (cannot be listed, its entries
cannot be examined, or its ignore file cannot be read) and ``special_file``.
Ignored entries are never reported. The scanned directory itself must be
readable (otherwise :class:`ScanError`). A file that changes between the
walk's ``lstat`` and its hashing (including one swapped for a FIFO) is not a
skip but :class:`FileChangedDuringScan`: the walk saw something else.

On any error the staging area is aborted and the error re-raised, so the
current root, path index and root history never move. A scan killed
outright (``kill -9``) cannot abort: its staging area stays in the store until
the next scan that moves the root drops it (the store marks it superseded,
:data:`~treeframe.storage.values.SUPERSEDED`). NodeRecords sent to
the store and stat-cache blobs sent to the cache before the error may
remain: the scanner buffers :data:`NODE_BATCH` records and :data:`STAT_BATCH`
directories before writing, so only a failure after that many have been
finalized leaves any.
Records are immutable, content-addressed facts and stat-cache entries
describe files as they were when hashed, so neither can make a later scan
wrong. A strict scan (``strict=True``) raises :class:`EntrySkipped` at the
first skip, the moment it is found (while listing, or when the hash of an
unreadable file comes back), under the same guarantee.

The stat cache can never fail a scan or change what it writes to the store:
a read it cannot answer is a miss (the file is hashed), a write it cannot
take is dropped, and the first such trouble is reported as one warning.
"""

from __future__ import annotations

import contextlib
import errno
import operator
import os
import stat
import time
import unicodedata
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from treeframe.clock import SYSTEM_CLOCK, Clock
from treeframe.errors import (
    EntrySkipped,
    FileChangedDuringScan,
    ScanError,
    from_os_error,
    os_error_reason,
)
from treeframe.ids import ContentHash, NodeId, WorkspaceId
from treeframe.observability import events
from treeframe.observability.progress import ProgressFn
from treeframe.storage.base import RootEntry, ScanRows, StorageBackend
from treeframe.tree.filehash import (
    SYSTEM_ERRNOS,
    Batch,
    BatchHasher,
    HashPool,
    HashQueue,
    HashResult,
    hash_batch,
)
from treeframe.tree.ignore import (
    BUILTIN_IGNORED_DIRS,
    IGNORE_FILE_NAMES,
    IgnoreRules,
    parse_ignore_file,
)
from treeframe.tree.paths import UNICODE_VERSION, child_path, escape_bytes, has_unassigned
from treeframe.tree.records import NodeRecord
from treeframe.tree.statcache import (
    RACY_MARGIN_NS,
    StatCache,
    StatCacheError,
    StatDir,
    StatEntry,
    decode_stat_dir,
    encode_stat_dir,
)

__all__ = [
    "BATCH_FILES",
    "PHASES",
    "POOL_THRESHOLD",
    "WINDOW",
    "ScanResult",
    "SkipReason",
    "Skipped",
    "scan_tree",
]

WINDOW = 4096
"""Files (plus directories) held by walked-but-unfinalized directories before the walk waits."""

POOL_THRESHOLD = 2000
"""Below this many files to hash, hashing stays in-process (no worker start-up cost)."""

BATCH_FILES = 128
"""Files per hashing task; large enough to amortize dispatch, small enough to balance."""

BATCH_BYTES = 32 << 20
"""A hashing task is also closed once its files add up to this many bytes."""

NODE_BATCH = 8192
PATH_BATCH = 8192
STAT_BATCH = 256
PROGRESS_INTERVAL = 0.1

PHASES = ("files", "hashed", "bytes")
"""Progress phases: files seen, files hashed (not in the stat cache), bytes hashed."""

SkipReason = Literal[
    "non_utf8_name",
    "non_utf8_symlink_target",
    "nfc_collision",
    "unassigned_code_point",
    "unreadable_file",
    "unreadable_directory",
    "special_file",
]
"""Why a scan left an entry out of the tree (stable codes, listed in docs/CLI.md)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    r"""An entry a scan left out of the tree.

    ``path`` is the workspace-relative path as :func:`~treeframe.tree.paths.escape_bytes`
    shows it: its directory's (NFC) path, ``/``, then the entry's name exactly
    as on disk, with non-UTF-8 bytes and control characters as ``\xNN`` and
    ``\`` as ``\\``.
    """

    path: str
    reason: SkipReason
    message: str

    def to_dict(self) -> dict[str, str]:
        """The ``--json`` shape: ``{"path", "reason", "message"}``."""
        return {"path": self.path, "reason": self.reason, "message": self.message}


_S_IXUSR = stat.S_IXUSR
_S_IFMT = 0o170000  # stat.S_IFMT as a mask; inline tests beat function calls per file
_S_IFREG = stat.S_IFREG
_S_IFDIR = stat.S_IFDIR
_S_IFLNK = stat.S_IFLNK


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a scan found and did.

    ``changed`` is False when the tree's root equals the workspace's current
    root; then nothing was committed and ``entry`` is the existing entry.
    ``skipped`` lists the entries left out (sorted by raw path bytes);
    ``warnings`` the other things worth telling (bad ignore patterns, an empty
    tree from a non-empty directory, a stat cache that could not be used).
    """

    root: NodeId
    entry: RootEntry
    changed: bool
    files: int
    dirs: int
    symlinks: int
    files_hashed: int
    files_reused: int
    bytes_hashed: int
    nodes_written: int
    paths_staged: int
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...]
    duration_ms: int


FileSlot = tuple[str, os.stat_result, Batch, int, str]

Focus = dict[str, "Focus | None"]
"""The names a partial scan looks at in one directory: None scans that entry whole,
a nested Focus looks into it (an ancestor of a given path)."""


def focus_of(paths: Sequence[str]) -> Focus | None:
    """The trie of ``paths`` (normalized workspace-relative), or None when one is the root.

    A path below another given path is covered by the walk of that one.
    """
    top: Focus = {}
    for path in sorted(set(paths)):
        if path == "":
            return None
        node: Focus = top
        parts = path.split("/")
        for index, part in enumerate(parts):
            if part in node and node[part] is None:
                break  # an ancestor is scanned whole already
            if index == len(parts) - 1:
                node[part] = None
            else:
                below = node.get(part)
                if below is None:
                    below = node[part] = {}
                node = below
    return top


def _nfc(name: str) -> str:
    return name if name.isascii() else unicodedata.normalize("NFC", name)


"""A file to hash: (name, lstat, its batch, its index in the batch, its absolute path).

Stat-cache hits are kept as bare names (``_Dir.hits``): their cache entry
already holds everything finalizing needs, and most files of a rescan are hits.
"""


class _Dir:
    """A directory between being listed and being finalized."""

    __slots__ = (
        "abs",
        "batches",
        "files",
        "focus",
        "hits",
        "kept",
        "links",
        "name",
        "old",
        "old_children",
        "old_dirs",
        "old_id",
        "parent",
        "path",
        "rules",
        "statdir",
        "subdirs",
        "todo",
    )

    def __init__(
        self,
        path: str,
        abs_path: str,
        parent: _Dir | None,
        name: str,
        old: NodeRecord | None,
        rules: IgnoreRules,
        focus: Focus | None = None,
        old_id: NodeId | None = None,
    ) -> None:
        self.path = path
        self.abs = abs_path
        self.parent = parent
        self.name = name
        # The directory at this path in the previous tree: its record, or only
        # its NodeID (``old_id`` without ``old``) until the record is needed.
        self.old = old
        self.old_id = old.node_id if old is not None else old_id
        self.old_children: dict[str, NodeId] = dict(old.children) if old is not None else {}
        # The old subdirectories by name, from a stat-cache blob that names the
        # old directory (set instead of loading ``old``; see Scanner.list_dir).
        self.old_dirs: dict[str, str] | None = None
        self.rules = rules
        self.statdir: StatDir | None = None
        self.files: list[FileSlot] = []
        self.hits: list[str] = []
        self.links: list[NodeRecord] = []
        self.subdirs: list[tuple[str, NodeId]] = []
        self.todo: list[tuple[str, str]] = []
        self.batches: list[Batch] = []
        # A partial directory (``scan --paths``): only the names in ``focus`` are
        # looked at; every other child of the old record is kept as it was.
        self.focus = focus
        self.kept: list[tuple[str, NodeId]] = (
            [(n, i) for n, i in self.old_children.items() if n not in focus]
            if focus is not None
            else []
        )


class _Cache:
    """The scan's side of its stat cache: decoded reads, batched writes, trouble kept as a warning."""

    def __init__(self, cache: StatCache | None) -> None:
        self._cache = cache
        self._pending: list[tuple[str, bytes]] = []
        self.enabled = cache is not None
        self.warning: str | None = None

    def get(self, dir_path: str) -> StatDir | None:
        """The directory's decoded entries; None when absent, unparsable or unreadable."""
        if self._cache is None:
            return None
        try:
            return decode_stat_dir(self._cache.get_dir(dir_path))
        except StatCacheError as exc:
            self.note(exc)
            return None

    def put(self, dir_path: str, blob: bytes) -> None:
        self._pending.append((dir_path, blob))
        if len(self._pending) >= STAT_BATCH:
            self.flush()

    def flush(self) -> None:
        if self._cache is not None and self._pending:
            try:
                self._cache.put_dirs(self._pending)
            except StatCacheError as exc:
                self.note(exc)
        self._pending = []

    def note(self, exc: StatCacheError) -> None:
        """Keep the first trouble only: one warning per scan, however many calls failed."""
        if self.warning is None:
            self.warning = str(exc)


class _Sink:
    """Buffers a scan's writes and sends them to the store in batches.

    A store with the :class:`~treeframe.storage.base.ScanRows` methods gets
    rows (raw NodeIDs, record JSON): hashed files' records arrive encoded
    from the hashing workers and are passed through untouched. Any other
    store gets :class:`NodeRecord` objects.
    """

    def __init__(self, store: StorageBackend, ws: WorkspaceId, token: str) -> None:
        self._store = store
        self._rows: ScanRows | None = store if isinstance(store, ScanRows) else None
        self.encoded = self._rows is not None
        """Whether hashed files go in as :meth:`node_rows` (else as records)."""
        self._ws = ws
        self._token = token
        self._nodes: list[NodeRecord] = []
        self._node_rows: list[tuple[bytes, bytes]] = []
        self._paths: list[tuple[str, NodeId | None]] = []
        self.nodes_written = 0
        self.paths_staged = 0

    def nodes(self, records: list[NodeRecord]) -> None:
        if self.encoded:
            fromhex = bytes.fromhex
            self._node_rows.extend((fromhex(r.node_id), r.to_json()) for r in records)
        else:
            self._nodes.extend(records)
        if len(self._nodes) + len(self._node_rows) >= NODE_BATCH:
            self._flush_nodes()

    def node_rows(self, rows: list[tuple[NodeId, bytes]]) -> None:
        """Hashed files' records as the workers encoded them (only when :attr:`encoded`)."""
        fromhex = bytes.fromhex
        self._node_rows.extend((fromhex(node_id), record) for node_id, record in rows)
        if len(self._node_rows) >= NODE_BATCH:
            self._flush_nodes()

    def paths(self, entries: list[tuple[str, NodeId | None]]) -> None:
        self._paths.extend(entries)
        if len(self._paths) >= PATH_BATCH:
            self._flush_paths()

    def _flush_nodes(self) -> None:
        if self._nodes:
            self._store.put_nodes(self._ws, self._nodes)
            self.nodes_written += len(self._nodes)
            self._nodes = []
        if self._node_rows:
            assert self._rows is not None
            self._rows.put_node_rows(self._ws, self._node_rows)
            self.nodes_written += len(self._node_rows)
            self._node_rows = []

    def _flush_paths(self) -> None:
        if not self._paths:
            return
        if self._rows is not None:
            fromhex = bytes.fromhex
            rows = [(p, None if n is None else fromhex(n)) for p, n in self._paths]
            self._rows.stage_path_rows(self._ws, self._token, rows)
        else:
            self._store.stage_paths(self._ws, self._token, self._paths)
        self.paths_staged += len(self._paths)
        self._paths = []

    def flush(self) -> None:
        self._flush_nodes()
        self._flush_paths()


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"


def _changed(path: str) -> FileChangedDuringScan:
    return FileChangedDuringScan(f"file changed during scan: {path}; scan again")


_BY_NAME = operator.attrgetter("name")
"""Sort key of directory entries: raw byte order (every filesystem encoding preserves it)."""

_EMPTY_DIR = NodeRecord.directory("", []).node_id
_NOTHING: dict[str, str] = {}


def _raw_path(prefix: str, abs_path: str) -> bytes:
    """A skipped entry's path bytes: its directory's workspace path, then its name as on disk."""
    return prefix.encode() + os.fsencode(abs_path).rpartition(b"/")[2]


class _Unlistable(Exception):
    """A directory below the root cannot be listed or examined (a skip, not a failure)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _entry_is(entry: os.DirEntry[str], kind: int, where: str) -> bool:
    """``entry.is_dir()``/``is_file()`` (no symlinks followed); _Unlistable if it must stat and cannot.

    The type usually comes free with the listing; on filesystems that do not
    report it the check needs an ``lstat``, which fails in a directory that is
    readable but not searchable.
    """
    try:
        if kind == _S_IFDIR:
            return entry.is_dir(follow_symlinks=False)
        return entry.is_file(follow_symlinks=False)
    except OSError as exc:
        raise _Unlistable(
            f"cannot examine the entries of directory {where}: {os_error_reason(exc)}"
        ) from exc


class _Scanner:
    """One scan's state: the walk, the pending jobs and the counters."""

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        sink: _Sink,
        cache: _Cache,
        hashes: HashQueue,
        progress: ProgressFn | None,
        strict: bool,
    ) -> None:
        self.store = store
        self.ws = ws
        self.sink = sink
        self.cache = cache
        self.hashes = hashes
        self.progress = progress
        self.strict = strict
        self.started_ns = time.time_ns()
        self.ready: deque[_Dir] = deque()
        self.held = 0
        self.root_id: NodeId | None = None
        self.warnings: list[str] = []
        self.skipped: list[tuple[bytes, Skipped]] = []
        self.top_entries = 0
        self.files = 0
        self.dirs = 0
        self.symlinks = 0
        self.files_reused = 0
        self._next_tick = time.monotonic() + PROGRESS_INTERVAL

    # -- progress -----------------------------------------------------------
    def tick(self) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + PROGRESS_INTERVAL
            self.progress("files", self.files, None)
            self.progress("hashed", self.hashes.files_hashed, None)
            self.progress("bytes", self.hashes.bytes_hashed, None)

    # -- skips --------------------------------------------------------------
    def skip(self, raw_path: bytes, reason: SkipReason, message: str) -> None:
        """Leave one entry out of the tree; a strict scan fails here instead."""
        entry = Skipped(escape_bytes(raw_path), reason, message)
        if self.strict:
            raise EntrySkipped(
                f"strict scan: {entry.path}: {message} ({reason}); nothing was recorded",
                path=entry.path,
                reason=reason,
            )
        self.skipped.append((raw_path, entry))

    def sorted_skips(self) -> tuple[Skipped, ...]:
        """The skips in raw path order (the walk finds them in a timing-dependent order)."""
        return tuple(entry for _, entry in sorted(self.skipped, key=operator.itemgetter(0)))

    # -- the walk -----------------------------------------------------------
    def walk(
        self, root_abs: str, old_root: NodeRecord | None, focus: Focus | None = None
    ) -> NodeId:
        """Walk the tree depth-first, finalizing directories as their hashes arrive.

        ``focus`` (``scan --paths``) restricts the walk to those paths and
        their ancestors; None walks everything.
        """
        top = _Dir("", root_abs, None, "", old_root, IgnoreRules(), focus)
        try:
            self.list_dir(top)
        except _Unlistable as exc:
            raise ScanError(exc.message) from exc.__cause__
        stack = [top]
        while stack:
            job = stack[-1]
            if job.todo:
                name, abs_path = job.todo.pop()
                focus = job.focus.get(name) if job.focus is not None else None
                child = _Dir(
                    child_path(job.path, name),
                    abs_path,
                    job,
                    name,
                    self.old_subdir(job, name, focus),
                    job.rules,
                    focus,
                    self.old_subdir_id(job, name),
                )
                try:
                    self.list_dir(child)
                except _Unlistable as exc:
                    raw = _raw_path(job.path + "/" if job.path else "", abs_path)
                    self.skip(raw, "unreadable_directory", exc.message)
                    continue
                stack.append(child)
                continue
            stack.pop()
            self.ready.append(job)
            self.held += 1 + len(job.files) + len(job.hits)
            self.drain()
        while self.ready:
            self.finalize(self.ready.popleft())
        assert self.root_id is not None
        if self.root_id == _EMPTY_DIR and self.top_entries:
            self.warnings.append(
                f"the scanned tree is empty although the directory holds {self.top_entries} "
                "entries: all of them are ignored or skipped (a pattern like '/*' or '*' in "
                ".gitignore or .treeframeignore?)"
            )
        return self.root_id

    def old_subdir(self, parent: _Dir, name: str, focus: Focus | None) -> NodeRecord | None:
        """The directory at the same path in the previous tree, if there was one.

        None also when the parent knows its old subdirectories from the stat
        cache (``old_dirs``): the child then gets only the old NodeID and reads
        its record when it turns out to be needed (a partial directory: now).
        """
        if parent.old_dirs is not None:
            child_id = parent.old_dirs.get(name)
            if child_id is None or focus is None:
                return None
        else:
            child_id = parent.old_children.get(name)
            if child_id is None:
                return None
        record = self.store.get_node(self.ws, NodeId(child_id))
        return record if record is not None and record.kind == "dir" else None

    @staticmethod
    def old_subdir_id(parent: _Dir, name: str) -> NodeId | None:
        """The old NodeID of a subdirectory, when the parent knows it from the stat cache."""
        if parent.old_dirs is None:
            return None
        child_id = parent.old_dirs.get(name)
        return NodeId(child_id) if child_id is not None else None

    def load_old(self, job: _Dir) -> None:
        """Read the old record of a directory known so far only by its NodeID."""
        if job.old is None and job.old_id is not None:
            record = self.store.get_node(self.ws, job.old_id)
            if record is None or record.kind != "dir":
                job.old_id = None
            else:
                job.old = record
                job.old_children = dict(record.children)

    def drain(self) -> None:
        """Finalize ready jobs in order: those whose hashes are in, or any when over the window."""
        ready = self.ready
        while ready:
            job = ready[0]
            if self.held <= WINDOW and not all(batch.done() for batch in job.batches):
                return
            ready.popleft()
            self.held -= 1 + len(job.files) + len(job.hits)
            self.finalize(job)

    def list_dir(self, job: _Dir) -> None:
        """List one directory: ignore rules, names, stats, cache hits and hash jobs.

        Raises _Unlistable when the directory cannot be listed or its entries
        cannot be examined (no read or no search permission, an I/O error).
        """
        shown = job.path or "."
        try:
            with os.scandir(job.abs) as listing:
                entries = sorted(listing, key=_BY_NAME)
        except (FileNotFoundError, NotADirectoryError):
            raise FileChangedDuringScan(
                f"directory changed during scan: {shown}; scan again"
            ) from None
        except OSError as exc:
            if exc.errno in SYSTEM_ERRNOS:
                raise from_os_error(exc, f"cannot read directory {shown}", ScanError) from exc
            raise _Unlistable(f"cannot read directory {shown}: {os_error_reason(exc)}") from exc
        if job.parent is None:
            self.top_entries = sum(
                1
                for entry in entries
                if entry.name not in BUILTIN_IGNORED_DIRS or not _entry_is(entry, _S_IFDIR, shown)
            )

        rules = self.read_ignore_files(job, entries)
        job.rules = rules
        patterns = rules.has_patterns
        prefix = job.path + "/" if job.path else ""
        statdir = self.cache.get(job.path)
        job.statdir = statdir
        if job.old_id is not None:
            if (
                statdir is not None
                and statdir.dirs is not None
                and job.focus is None
                and statdir.dir_id == bytes.fromhex(job.old_id)
            ):
                # The blob describes the old directory itself (its NodeID
                # commits to every child): its subdirectories are the old
                # ones, so the walk goes on without old records.
                job.old_dirs = statdir.dirs
            else:
                self.load_old(job)
        cached = statdir.entries if statdir is not None else {}
        # Names the blob lists were not ignored under the rules it was written
        # with; while those rules are the same, they need no second check.
        if patterns and statdir is not None and statdir.rules == rules.fingerprint:
            known_files: dict[str, StatEntry] = cached
            known_dirs = statdir.dirs or _NOTHING
            known_links = statdir.links or _NOTHING
        else:
            known_files, known_dirs, known_links = {}, _NOTHING, _NOTHING
        # statcache.is_racy, hoisted: an entry is trusted only below this mtime.
        racy_limit = statdir.written_ns - RACY_MARGIN_NS if statdir is not None else 0
        hashes = self.hashes
        files = job.files
        hits = job.hits
        todo = job.todo
        # Non-ASCII names that made it into the lists, as (NFC name, raw name):
        # only they can collide. Such an entry's ``name`` is a new string, so
        # ``name is not entry.name`` tells the branches that drop an entry to
        # drop it here too, at no cost to the (ASCII) hot path.
        unusual: list[tuple[str, bytes]] = []
        focus = job.focus
        if focus is not None:  # a partial directory: only the focused names are looked at
            entries = [entry for entry in entries if _nfc(entry.name) in focus]

        for entry in entries:
            name = entry.name
            if not name.isascii():
                raw = os.fsencode(name)
                maybe = self.checked_name(job, entry, raw, prefix)
                if maybe is None:
                    continue
                name = maybe
                unusual.append((name, raw))
            try:
                # One lstat for every entry (directories included) is cheaper
                # in Python than asking the DirEntry for its type first.
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                raise _changed(prefix + name) from None
            except OSError as exc:
                # Without search permission no entry can be examined.
                if exc.errno in SYSTEM_ERRNOS:
                    raise from_os_error(exc, f"cannot examine {prefix + name}", ScanError) from exc
                raise _Unlistable(
                    f"cannot examine the entries of directory {shown}: {os_error_reason(exc)}"
                ) from exc
            mode = st.st_mode
            kind = mode & _S_IFMT
            if kind == _S_IFREG:
                if (
                    patterns
                    and name not in known_files
                    and rules.is_ignored(prefix + name, is_dir=False)
                ):
                    if name is not entry.name:
                        unusual.pop()
                    continue
                hit = cached.get(name)
                # Field order: see statcache.StatEntry. The mtime must also be
                # older than the racy limit for the cached digest to be trusted.
                if (
                    hit is not None
                    and hit[1] == st.st_mtime_ns
                    and hit[0] == st.st_size
                    and hit[2] == st.st_ctime_ns
                    and hit[3] == st.st_ino
                    and hit[5] == mode
                    and hit[1] < racy_limit
                ):
                    hits.append(name)
                    continue
                abs_path = entry.path
                batch, index = hashes.add(
                    (abs_path, prefix + name, st.st_size, st.st_mtime_ns, st.st_ino, mode)
                )
                files.append((name, st, batch, index, abs_path))
                if not job.batches or job.batches[-1] is not batch:
                    job.batches.append(batch)
                if not hashes.queued & 255:
                    self.tick()
            elif kind == _S_IFDIR:
                if name in BUILTIN_IGNORED_DIRS or (
                    patterns
                    and name not in known_dirs
                    and rules.is_ignored(prefix + name, is_dir=True)
                ):
                    if name is not entry.name:
                        unusual.pop()
                    continue
                todo.append((name, entry.path))
            elif (
                patterns
                and not (kind == _S_IFLNK and name in known_links)
                and rules.is_ignored(prefix + name, is_dir=False)
            ):
                if name is not entry.name:
                    unusual.pop()
            elif kind == _S_IFLNK:
                record = self.symlink(entry.path, prefix, name)
                if record is not None:
                    job.links.append(record)
                elif name is not entry.name:
                    unusual.pop()
            else:
                if name is not entry.name:
                    unusual.pop()
                self.skip(
                    _raw_path(prefix, entry.path),
                    "special_file",
                    f"{_special_kind(mode)}: only regular files, directories and symlinks "
                    "are scanned",
                )
        if unusual:
            self.drop_collisions(job, unusual)
        self.dirs += 1
        self.files += len(files) + len(hits)
        self.files_reused += len(hits)
        todo.reverse()  # a stack: pop() yields subdirectories in name order
        self.tick()

    def read_ignore_files(self, job: _Dir, entries: list[os.DirEntry[str]]) -> IgnoreRules:
        """The rules for this directory's contents: the inherited ones plus its own files.

        An ignore file that cannot be read makes the directory's membership
        unknowable, so the directory is skipped (_Unlistable) rather than
        scanned without those rules.
        """
        where = job.path or "."
        found = {
            entry.name: entry
            for entry in entries
            if entry.name in IGNORE_FILE_NAMES and _entry_is(entry, _S_IFREG, where)
        }
        if not found:
            return job.rules
        lines: list[str] = []
        for file_name in IGNORE_FILE_NAMES:
            entry = found.get(file_name)
            if entry is None:
                continue
            rel = child_path(job.path, file_name)
            try:
                with open(entry.path, "rb") as handle:
                    lines.extend(parse_ignore_file(handle.read()))
            except FileNotFoundError:
                raise _changed(rel) from None
            except OSError as exc:
                if exc.errno in SYSTEM_ERRNOS:
                    raise from_os_error(exc, f"cannot read {rel}", ScanError) from exc
                raise _Unlistable(
                    f"cannot read {rel}: {os_error_reason(exc)}; its rules decide what the "
                    "directory holds"
                ) from exc
        return job.rules.with_directory(job.path, lines, self.warnings)

    def checked_name(
        self, job: _Dir, entry: os.DirEntry[str], raw: bytes, prefix: str
    ) -> str | None:
        """The NFC name of a non-ASCII entry, or None when it is skipped (or ignored).

        ``raw`` is the name's bytes on disk: it is decoded here as strict
        UTF-8 whatever the locale's filesystem encoding. A name that is not
        UTF-8 is matched against the ignore rules in its surrogate-escape form,
        so ``.treeframeignore`` can name it with the same raw bytes; one with a
        code point unassigned in this Unicode version is matched in its NFC
        form. Only names that are not ignored are reported.
        """
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            escaped = raw.decode("utf-8", errors="surrogateescape")
            if not self.ignored(job, entry, prefix + escaped):
                self.skip(prefix.encode() + raw, "non_utf8_name", "name is not valid UTF-8")
            return None
        name = unicodedata.normalize("NFC", decoded)
        if has_unassigned(name):
            if not self.ignored(job, entry, prefix + name):
                first = next(char for char in name if unicodedata.category(char) == "Cn")
                self.skip(
                    prefix.encode() + raw,
                    "unassigned_code_point",
                    f"name holds U+{ord(first):04X}, unassigned in Unicode {UNICODE_VERSION} "
                    "(NFC of it is not stable)",
                )
            return None
        return name

    def ignored(self, job: _Dir, entry: os.DirEntry[str], path: str) -> bool:
        """The ignore decision for an entry whose name is not representable."""
        return job.rules.is_ignored(path, is_dir=_entry_is(entry, _S_IFDIR, job.path or "."))

    def drop_collisions(self, job: _Dir, unusual: list[tuple[str, bytes]]) -> None:
        """Skip every entry whose NFC name equals another entry's in the same directory.

        Only possible when some raw name is not ASCII (``unusual`` lists those,
        as (NFC name, raw name)); an ASCII name can still collide with one of
        them (U+212A KELVIN SIGN normalizes to "K"). All of the colliding
        entries are skipped, not one kept: which one would win is arbitrary.
        """
        names = [slot[0] for slot in job.files]
        names.extend(job.hits)
        names.extend(record.name for record in job.links)
        names.extend(name for name, _ in job.todo)
        if len(set(names)) == len(names):
            return
        seen: set[str] = set()
        twice: set[str] = set()
        for name in names:
            if name in seen:
                twice.add(name)
            seen.add(name)
        prefix = (job.path + "/" if job.path else "").encode()
        for name in sorted(twice):
            raws = sorted(raw for nfc, raw in unusual if nfc == name)
            if len(raws) < names.count(name):
                raws.insert(0, name.encode())  # the ASCII spelling: it sorts first
            for raw in raws:
                self.skip(
                    prefix + raw,
                    "nfc_collision",
                    f"{len(raws)} entries are named '{escape_bytes(name.encode())}' after "
                    "Unicode NFC normalization; all of them are skipped",
                )
        job.files[:] = [slot for slot in job.files if slot[0] not in twice]
        job.hits[:] = [name for name in job.hits if name not in twice]
        kept = [record for record in job.links if record.name not in twice]
        self.symlinks -= len(job.links) - len(kept)
        job.links[:] = kept
        job.todo[:] = [item for item in job.todo if item[0] not in twice]

    def symlink(self, abs_path: str, prefix: str, name: str) -> NodeRecord | None:
        """Record a symlink by its target; None when the target is not UTF-8 (skipped).

        The target is read as bytes and decoded as strict UTF-8, never through
        the locale; it is never followed.
        """
        path = prefix + name
        try:
            target = os.readlink(os.fsencode(abs_path))
        except (FileNotFoundError, NotADirectoryError):
            raise _changed(path) from None
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # no longer a symlink
                raise _changed(path) from None
            raise from_os_error(exc, f"cannot read symlink {path}", ScanError) from exc
        try:
            text = target.decode("utf-8")
        except UnicodeDecodeError:
            self.skip(
                _raw_path(prefix, abs_path),
                "non_utf8_symlink_target",
                f"symlink target is not valid UTF-8: {escape_bytes(target)}",
            )
            return None
        self.symlinks += 1
        return NodeRecord.symlink(path, text)

    # -- finalizing ---------------------------------------------------------
    def finalize(self, job: _Dir) -> None:
        """Build the directory's records, diff them against the old tree, emit and drop."""
        if job.old is None and job.old_id is not None:  # known from the stat cache
            if self.unchanged_cached(job):
                if self.outdated(job.statdir, job):
                    assert job.statdir is not None
                    self.write_cache(job, job.old_id, list(job.statdir.entries.items()))
                self.link(job, job.old_id)
                return
            self.load_old(job)
        sink = self.sink
        path = job.path
        prefix = path + "/" if path else ""
        old = job.old
        old_children = job.old_children
        statdir = job.statdir
        # The cached hashes are the ones the old tree was built from only if
        # the blob names the old directory; then unchanged files keep their
        # old NodeIDs without hashing anything.
        trusted = (
            old is not None and statdir is not None and statdir.dir_id == bytes.fromhex(old.node_id)
        )
        if old is not None and self.unchanged(job, trusted):
            if self.outdated(statdir, job):
                assert statdir is not None
                self.write_cache(job, old.node_id, list(statdir.entries.items()))
            self.link(job, old.node_id)
            return
        same = old is not None
        matched = 0
        children: list[tuple[str, NodeId]] = []
        new_records: list[NodeRecord] = []
        staged: list[tuple[str, NodeId | None]] = []
        replaced: list[NodeId] = []
        cache: list[tuple[str, StatEntry]] = []
        encoded = sink.encoded
        new_rows: list[tuple[NodeId, bytes]] = []

        cached_entries = statdir.entries if statdir is not None else {}
        for name in job.hits:
            entry = cached_entries[name]
            old_id = old_children.get(name)
            if trusted and old_id is not None:
                node_id = old_id
            else:
                record = NodeRecord.file(
                    prefix + name, ContentHash(entry[6].hex()), entry[0], bool(entry[5] & _S_IXUSR)
                )
                node_id = record.node_id
                if node_id != old_id:
                    new_records.append(record)
            cache.append((name, entry))
            children.append((name, node_id))

        last_batch: Batch | None = None
        results: list[HashResult] = []
        for name, st, batch, index, abs_path in job.files:
            # Hashed in this scan; the hasher computed the NodeID too.
            if batch is not last_batch:
                results = self.hashes.results(batch)
                last_batch = batch
            result = results[index]
            if result[0] is None:  # unreadable; the reason comes second
                self.files -= 1
                self.skip(
                    _raw_path(prefix, abs_path), "unreadable_file", f"cannot read: {result[1]}"
                )
                continue
            content, node_id, record_json = result
            if node_id != old_children.get(name):
                if encoded:
                    new_rows.append((node_id, record_json))
                else:
                    executable = bool(st.st_mode & _S_IXUSR)
                    new_records.append(
                        NodeRecord(node_id, prefix + name, "file", content, st.st_size, executable)
                    )
            cache.append(
                (
                    name,
                    (
                        st.st_size,
                        st.st_mtime_ns,
                        st.st_ctime_ns,
                        st.st_ino,
                        st.st_dev,
                        st.st_mode,
                        bytes.fromhex(content),
                    ),
                )
            )
            children.append((name, node_id))

        if old_children:
            for name, node_id in children:
                old_id = old_children.get(name)
                if old_id is not None:
                    matched += 1
                if node_id != old_id:
                    same = False
                    staged.append((prefix + name, node_id))
                    if old_id is not None:
                        replaced.append(old_id)
        elif children:  # a new (or formerly empty) directory, as in a first scan: all new
            same = False
            staged = [(prefix + name, node_id) for name, node_id in children]

        for record in job.links:
            name = record.name
            old_id = old_children.get(name)
            children.append((name, record.node_id))
            if old_id is not None:
                matched += 1
            if record.node_id != old_id:
                same = False
                new_records.append(record)
                staged.append((record.path, record.node_id))
                if old_id is not None:
                    replaced.append(old_id)

        for name, node_id in job.kept:  # untouched by a partial scan: as they were
            children.append((name, node_id))
            matched += 1

        for name, node_id in job.subdirs:
            old_id = old_children.get(name)
            children.append((name, node_id))
            if old_id is not None:
                matched += 1
            if node_id != old_id:
                same = False
                staged.append((prefix + name, node_id))
                # An old non-directory here needs no cleanup; an old directory
                # was diffed by the child itself.

        if matched != len(old_children):
            same = False
            current = {name for name, _ in children}
            for name, old_id in old_children.items():
                if name not in current:
                    staged.append((prefix + name, None))
                    replaced.append(old_id)
        if staged:
            sink.paths(staged)
        if replaced:
            self.delete_old_subtrees(replaced)

        if same and len(children) == len(old_children):
            assert old is not None
            dir_id = old.node_id
        else:
            dir_record = NodeRecord.directory(path, children)
            dir_id = dir_record.node_id
            new_records.append(dir_record)
        if new_rows:
            sink.node_rows(new_rows)
        if new_records:
            sink.nodes(new_records)

        # A partial directory saw only some files: no stat-cache blob is written for it
        # (the old one names the old directory, so a later scan does not trust it blindly).
        if self.cache.enabled and job.focus is None:
            stale = (
                statdir is None
                or statdir.dirs is None
                or statdir.rules != job.rules.fingerprint
                or bool(job.files)
                or len(statdir.entries) != len(job.hits)
                or statdir.dir_id != bytes.fromhex(dir_id)
            )
            if stale:
                self.write_cache(job, dir_id, cache)

        self.link(job, dir_id)

    def outdated(self, statdir: StatDir | None, job: _Dir) -> bool:
        """Whether an unchanged directory's blob lacks what this format version keeps."""
        return (
            statdir is not None
            and self.cache.enabled
            and job.focus is None
            and (statdir.dirs is None or statdir.rules != job.rules.fingerprint)
        )

    def write_cache(self, job: _Dir, dir_id: NodeId, entries: list[tuple[str, StatEntry]]) -> None:
        """Queue the directory's stat-cache blob: its files, subdirectories and symlinks."""
        self.cache.put(
            job.path,
            encode_stat_dir(
                self.started_ns,
                bytes.fromhex(dir_id),
                entries,
                job.subdirs,
                [(record.name, record.node_id) for record in job.links],
                job.rules.fingerprint,
            ),
        )

    def link(self, job: _Dir, dir_id: NodeId) -> None:
        """Hand a finalized directory's NodeID to its parent (or make it the root)."""
        if job.parent is not None:
            job.parent.subdirs.append((job.name, dir_id))
        else:
            self.root_id = dir_id
        self.tick()

    def unchanged(self, job: _Dir, trusted: bool) -> bool:
        """Fast path: is the directory provably identical to its old version?

        Every file was a stat-cache hit in a blob that names the old
        directory, and there are as many files as the blob has entries, so
        the files are exactly the old ones; the symlinks and subdirectories
        are compared by NodeID, and the counts rule out removed entries.
        """
        statdir = job.statdir
        if job.files:
            return False
        if job.hits:
            if not trusted:
                return False
            assert statdir is not None
            if len(job.hits) != len(statdir.entries):
                return False
        elif statdir is not None:
            return False
        old_children = job.old_children
        if job.focus is not None:
            return False  # decided child by child in finalize
        if len(job.hits) + len(job.links) + len(job.subdirs) != len(old_children):
            return False
        for record in job.links:
            if old_children.get(record.name) != record.node_id:
                return False
        return all(old_children.get(name) == node_id for name, node_id in job.subdirs)

    def unchanged_cached(self, job: _Dir) -> bool:
        """:meth:`unchanged` for a directory whose old children are known from its blob only.

        The blob names the old directory, so its entries, subdirectories and
        symlinks are exactly the old children: every file a hit, the same
        counts, the same NodeIDs for the rest.
        """
        statdir = job.statdir
        assert statdir is not None
        assert statdir.dirs is not None
        assert statdir.links is not None
        if job.files or len(job.hits) != len(statdir.entries):
            return False
        links, dirs = statdir.links, statdir.dirs
        if len(job.links) != len(links) or len(job.subdirs) != len(dirs):
            return False
        if any(links.get(record.name) != record.node_id for record in job.links):
            return False
        return all(dirs.get(name) == node_id for name, node_id in job.subdirs)

    def delete_old_subtrees(self, old_ids: list[NodeId]) -> None:
        """Stage deletes for every path below old directories that left the tree.

        The directories' own paths were already staged (deleted or replaced);
        their contents are enumerated from the old records, one batch per directory.
        """
        records = self.store.get_nodes(self.ws, old_ids)
        stack = [record for record in records.values() if record.kind == "dir"]
        while stack:
            record = stack.pop()
            prefix = record.path + "/" if record.path else ""
            self.sink.paths([(prefix + name, None) for name, _ in record.children])
            child_ids = [child_id for _, child_id in record.children]
            if child_ids:
                found = self.store.get_nodes(self.ws, child_ids)
                stack.extend(child for child in found.values() if child.kind == "dir")


def scan_tree(
    root: Path,
    store: StorageBackend,
    ws: WorkspaceId,
    *,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    pool_threshold: int = POOL_THRESHOLD,
    batch_files: int = BATCH_FILES,
    hasher: BatchHasher = hash_batch,
    strict: bool = False,
    stat_cache: StatCache | None = None,
    clock: Clock = SYSTEM_CLOCK,
    hash_pool: HashPool | None = None,
    paths: Sequence[str] | None = None,
) -> ScanResult:
    """Scan ``root`` into ``store`` as workspace ``ws``'s new current tree.

    Args:
        root: The directory to scan; its absolute location never enters a hash.
        store: Where records and the path index go. The workspace must
            already exist in it. Stat-cache entries never go there.
        ws: The workspace whose root moves.
        workers: Hashing processes (default ``os.cpu_count()``); ``1`` hashes
            in-process. Results never depend on it.
        progress: Called as ``progress(phase, done, None)`` for the phases
            ``files`` (seen), ``hashed`` (files hashed) and ``bytes`` (bytes
            hashed), at most about ten times a second; at the end once per
            phase with ``total == done``.
        pool_threshold: Start worker processes only once more than this many
            files need hashing.
        batch_files: Files per hashing task.
        hasher: The batch hashing function (tests substitute a wrapper; it
            must be picklable to run in worker processes).
        strict: Fail with :class:`EntrySkipped` instead of skipping an entry.
        stat_cache: Where unchanged files' hashes are looked up and recorded
            (the caller owns it and closes it). None: every file is hashed.
            Its trouble is one warning in the result, never an error.
        clock: Stamps the root-history entry's ``created_at``.
        hash_pool: Worker processes to reuse (a runtime's); None starts and
            stops a private pool for this scan.
        paths: Rescan only these workspace-relative paths (normalized; files,
            directories, or names that no longer exist) and their ancestors;
            every other entry keeps its NodeID from the current root, whatever
            is on disk. The root is the one a full scan gives when nothing
            else changed, at a cost in the given paths (plus listing their
            ancestor directories), not in the tree's size. None, a path that
            is the root, or a workspace without a root yet: a full scan.

    Returns:
        What the scan found and did, including the entries it skipped. If the
        root is unchanged nothing is committed and no history entry is
        appended (``changed=False``).

    Raises:
        EntrySkipped: ``strict`` and an entry would have been skipped.
        FileChangedDuringScan: A file or directory changed while being read.
        ScanError: The directory itself could not be read, or the system
            failed (e.g. too many open files).
        ConcurrentUpdate: Another scan moved the root meanwhile.
    """
    began = time.monotonic()
    root_abs = os.path.abspath(root)
    if not os.path.isdir(root_abs):
        raise ScanError(f"not a directory: {root}")
    previous = store.current_root(ws)
    old_root = store.get_node(ws, previous.root) if previous is not None else None
    token = store.begin_scan(ws)
    hashes = HashQueue(
        workers=workers if workers is not None else (os.cpu_count() or 1),
        pool_threshold=pool_threshold,
        batch_files=batch_files,
        batch_bytes=BATCH_BYTES,
        hasher=hasher,
        pool=hash_pool,
    )
    sink = _Sink(store, ws, token)
    cache = _Cache(stat_cache)
    scanner = _Scanner(store, ws, sink, cache, hashes, progress, strict)
    try:
        try:
            focus = focus_of(paths) if paths is not None and old_root is not None else None
            root_id = scanner.walk(root_abs, old_root, focus)
        except BaseException as exc:
            # Only Ctrl-C terminates the workers: a worker terminated while it
            # writes a result leaves a torn message that hangs the pool's
            # shutdown for ever (CPython has no safe terminate before 3.14), so
            # an ordinary error lets the batches in flight finish instead.
            hashes.close(abort=isinstance(exc, KeyboardInterrupt))
            raise
        hashes.close()
        cache.flush()
        if previous is not None and root_id == previous.root:
            sink.flush()
            store.abort_scan(ws, token)
            entry, changed = previous, False
        else:
            sink.paths([("", root_id)])
            sink.flush()
            expected = previous.root if previous is not None else None
            entry = store.commit_scan(ws, token, root_id, expected, clock.now())
            changed = True
    except BaseException:
        # The original error matters more than a failed cleanup.
        with contextlib.suppress(Exception):
            store.abort_scan(ws, token)
        raise
    if progress is not None:
        for phase, count in zip(
            PHASES, (scanner.files, hashes.files_hashed, hashes.bytes_hashed), strict=True
        ):
            progress(phase, count, count)
    if cache.warning is not None:
        scanner.warnings.append(cache.warning)
    if changed:
        events.emit(
            "scan",
            workspace=ws,
            root=root_id,
            previous_root=previous.root if previous is not None else None,
            files=scanner.files,
            files_hashed=hashes.files_hashed,
            paths_staged=sink.paths_staged,
        )
    return ScanResult(
        root=root_id,
        entry=entry,
        changed=changed,
        files=scanner.files,
        dirs=scanner.dirs,
        symlinks=scanner.symlinks,
        files_hashed=hashes.files_hashed,
        files_reused=scanner.files_reused,
        bytes_hashed=hashes.bytes_hashed,
        nodes_written=sink.nodes_written,
        paths_staged=sink.paths_staged,
        skipped=scanner.sorted_skips(),
        warnings=tuple(scanner.warnings),
        duration_ms=int((time.monotonic() - began) * 1000),
    )
