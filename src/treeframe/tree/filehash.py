"""Hash regular files for a scan (content hash and file NodeID), in-process or in worker processes.

A file is hashed only if it still is the file the walk saw: it is opened
without following symlinks and without blocking (``O_NOFOLLOW | O_NONBLOCK``:
a file swapped for a FIFO or a device must not hang the scan), ``fstat``-ed
before and after reading, and any difference in type, size, mtime, inode or
mode from the walk's ``lstat`` (or its disappearance) fails the scan with
:class:`FileChangedDuringScan`. Hashing a file that is being written would
record content that never existed as a whole. A file that cannot be read
(no permission, an I/O error) is not a failure: its result says so and the
scan skips it.

The file's NodeID and its record's canonical JSON are computed next to its
content hash, in the worker: on a cold scan the walking process is the
bottleneck, and neither needs anything the worker does not already have
(path, content hash, size, executable bit), so the walking process only
passes the encoded record on to the store.

Why processes and not threads: reading many small files is dominated by
per-call Python overhead under the GIL, so two threads are slower than one.
Work goes to workers in batches (about a hundred files per task) so that
pickling and task dispatch stay small next to the reads.

The worker processes belong to a :class:`HashPool`. A scan given none starts
and stops a private one (the CLI: one scan per process); a long-lived process
(the server) owns one through its runtime and lends it to every scan, so the
workers start once and are reused.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing.context import BaseContext

from treeframe.errors import FileChangedDuringScan, ScanError, from_os_error, os_error_reason
from treeframe.hashing.ids import content_hasher, file_node_id
from treeframe.ids import ContentHash, NodeId
from treeframe.tree.records import file_record_json

__all__ = [
    "CHUNK_SIZE",
    "SLOW_START_FACTOR",
    "SYSTEM_ERRNOS",
    "Batch",
    "BatchHasher",
    "FileUnreadable",
    "HashJob",
    "HashPool",
    "HashQueue",
    "HashResult",
    "Hashed",
    "Unreadable",
    "hash_batch",
    "hash_file",
]

CHUNK_SIZE = 1 << 20
"""Files are read and hashed in pieces of this many bytes (bounded memory)."""

SLOW_START_FACTOR = 10
"""Without ``fork``, the pool starts only past this multiple of the threshold."""

HashJob = tuple[str, str, int, int, int, int]
"""(absolute path, workspace-relative path, size, mtime_ns, inode, mode) as seen by the walk."""

Hashed = tuple[ContentHash, NodeId, bytes]
"""A file's content hash, its NodeID and its record's canonical JSON (``NodeRecord.to_json``)."""

Unreadable = tuple[None, str]
"""A file that could not be read: ``(None, reason)``, e.g. ``(None, "permission denied")``."""

HashResult = Hashed | Unreadable
"""What hashing one file gives."""

BatchHasher = Callable[[Sequence[HashJob]], list[HashResult]]
"""Hashes a batch of files, returning their results in job order."""

SYSTEM_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
"""OS errors that say nothing about the entry (the system ran short): they fail a scan
instead of skipping the entry, since a retry may well succeed."""

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class FileUnreadable(ScanError):
    """A file the walk saw cannot be read (:func:`hash_batch` turns it into :data:`Unreadable`)."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def _changed(rel: str) -> FileChangedDuringScan:
    return FileChangedDuringScan(f"file changed during scan: {rel}; scan again")


def _unreadable(exc: OSError, rel: str) -> ScanError:
    if exc.errno in SYSTEM_ERRNOS:
        return from_os_error(exc, f"cannot read {rel}", ScanError)
    error = from_os_error(exc, f"cannot read {rel}", FileUnreadable)
    error.reason = os_error_reason(exc)
    return error


def hash_file(job: HashJob) -> ContentHash:
    """Content hash of one file, verified to match the walk's ``lstat``.

    Raises:
        FileChangedDuringScan: The file vanished, or is no longer the regular
            file the walk saw (another type, size, mtime, inode or mode).
        FileUnreadable: It cannot be opened or read (no permission, I/O error).
        ScanError: The system ran short (too many open files, no memory).
    """
    path, rel, size, mtime_ns, ino, mode = job
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        raise _changed(rel) from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):  # now a symlink, or a socket/device
            raise _changed(rel) from None
        raise _unreadable(exc, rel) from exc
    try:
        before = os.fstat(fd)
        # The mode comparison includes the file type: a FIFO or device opened
        # (without blocking) in place of the walk's regular file fails here.
        if (
            before.st_mode != mode
            or before.st_ino != ino
            or before.st_size != size
            or before.st_mtime_ns != mtime_ns
        ):
            raise _changed(rel)
        hasher = content_hasher()
        remaining = size
        while remaining > 0:
            chunk = os.read(fd, min(remaining, CHUNK_SIZE))
            if not chunk:
                raise _changed(rel)
            hasher.update(chunk)
            remaining -= len(chunk)
        after = os.fstat(fd)
    except OSError as exc:
        raise _unreadable(exc, rel) from exc
    finally:
        os.close(fd)
    if after.st_size != size or after.st_mtime_ns != mtime_ns:
        raise _changed(rel)
    return ContentHash(hasher.hexdigest())


def hash_batch(jobs: Sequence[HashJob]) -> list[HashResult]:
    """Hash several files, computing their NodeIDs and records; the default :data:`BatchHasher`.

    An unreadable file gives :data:`Unreadable` and the rest of the batch is
    still hashed; a changed file fails the whole batch.
    """
    out: list[HashResult] = []
    for job in jobs:
        try:
            digest = hash_file(job)
        except FileUnreadable as exc:
            out.append((None, exc.reason))
            continue
        executable = bool(job[5] & stat.S_IXUSR)
        node_id = file_node_id(job[1], digest, executable)
        out.append((digest, node_id, file_record_json(node_id, job[1], digest, job[2], executable)))
    return out


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle (one line, exit 130).

    A terminal sends SIGINT to the whole process group; workers that took it
    would each print a traceback. The parent stops them instead. SIGINT is
    blocked while workers start (:func:`_sigint_blocked`), so it can only be
    unblocked here, once it is ignored.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while it may start workers; a pending one arrives after."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not (
        threading.main_thread()
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _pool_context() -> BaseContext:
    """``fork`` when it is safe, else ``forkserver``/``spawn``.

    ``fork`` starts a worker in about a millisecond and re-imports nothing,
    but copying a process that has other threads can copy a lock held by one
    of them and deadlock the child; so it is used only while this process is
    single-threaded (the usual CLI case), and the slower ``forkserver``
    (``spawn`` where that is missing) otherwise.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


class HashPool:
    """Hashing worker processes, started on first use and reused until :meth:`close`.

    Scans borrow the pool through :class:`HashQueue`; results never depend on
    it. The first scan that needs workers decides their number and start
    method (:func:`_pool_context`); later scans reuse them as they are. A pool
    whose worker died (``BrokenProcessPool``) is dropped, and the next scan
    starts a fresh one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        """Whether worker processes are running."""
        return self._executor is not None

    def executor(self, workers: int, context: BaseContext) -> ProcessPoolExecutor:
        """The running executor, or a new one of ``workers`` processes started with ``context``."""
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=workers, mp_context=context, initializer=_ignore_sigint
                )
            return self._executor

    def discard(self, executor: ProcessPoolExecutor) -> None:
        """Forget a broken ``executor`` (if still current), so the next use starts a new one."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self, *, abort: bool = False) -> None:
        """Stop the workers; ``abort`` terminates them at once instead of letting them finish.

        The pool may be used again afterwards: it starts new workers then.
        """
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        if abort:
            # ProcessPoolExecutor has no public terminate before Python 3.14.
            for process in list(executor._processes.values()):
                process.terminate()
        executor.shutdown(wait=True, cancel_futures=True)


class Batch:
    """Files hashed together; their results become available all at once."""

    __slots__ = ("future", "jobs", "nbytes", "results")

    def __init__(self) -> None:
        self.jobs: list[HashJob] = []
        self.nbytes = 0
        self.future: Future[list[HashResult]] | None = None
        self.results: list[HashResult] | None = None

    def done(self) -> bool:
        """True when the results can be taken without waiting."""
        return self.results is not None or (self.future is not None and self.future.done())


class HashQueue:
    """Collects files to hash and decides where they are hashed.

    Hashing starts "undecided": batches wait until either more than
    ``pool_threshold`` files need hashing (then a pool of ``workers``
    processes starts and takes every waiting batch; :data:`SLOW_START_FACTOR`
    times more when ``fork`` cannot be used) or somebody needs a result (then
    that batch is hashed in-process). Small rescans thus
    never pay for starting processes, and large cold scans hash while the
    walk goes on. ``workers <= 1`` never starts a pool.

    ``pool`` lends a shared :class:`HashPool` (already running workers are
    used at once); without one the queue starts a private pool and stops it
    in :meth:`close`.
    """

    def __init__(
        self,
        *,
        workers: int,
        pool_threshold: int,
        batch_files: int,
        batch_bytes: int,
        hasher: BatchHasher,
        pool: HashPool | None = None,
    ) -> None:
        self._workers = workers
        self._threshold = pool_threshold
        self._batch_files = batch_files
        self._batch_bytes = batch_bytes
        self._hasher = hasher
        self._open = Batch()
        self._waiting: list[Batch] = []
        self._owned = pool is None
        self._hash_pool = pool if pool is not None else HashPool()
        self._pool: ProcessPoolExecutor | None = None
        """The executor this queue submits to, once it decided to use workers."""
        self._pending: set[Future[list[HashResult]]] = set()
        """Submitted futures whose results were not taken yet (cancelled on abort)."""
        self.queued = 0
        """Files handed to :meth:`add` so far."""
        self.files_hashed = 0
        self.bytes_hashed = 0

    @property
    def pooled(self) -> bool:
        """Whether a worker pool was started."""
        return self._pool is not None

    def add(self, job: HashJob) -> tuple[Batch, int]:
        """Queue one file; returns its batch and its index within that batch."""
        batch = self._open
        index = len(batch.jobs)
        batch.jobs.append(job)
        batch.nbytes += job[2]
        self.queued += 1
        if index + 1 >= self._batch_files or batch.nbytes >= self._batch_bytes:
            self._close_open()
        return batch, index

    def _close_open(self) -> None:
        batch = self._open
        self._open = Batch()
        if self._pool is not None:
            self._submit(batch)
            return
        self._waiting.append(batch)
        if self._workers > 1 and not self._owned and self._hash_pool.started:
            # A shared pool's workers are already running: nothing to amortize.
            self._start_pool(_pool_context())
        elif self._workers > 1 and self.queued > self._threshold:
            context = _pool_context()
            # forkserver/spawn workers cost a few hundred ms to start (fresh
            # interpreter, imports); only a much larger backlog repays that.
            slow = context.get_start_method() != "fork"
            if not slow or self.queued > self._threshold * SLOW_START_FACTOR:
                self._start_pool(context)

    def _start_pool(self, context: BaseContext) -> None:
        self._pool = self._hash_pool.executor(self._workers, context)
        waiting, self._waiting = self._waiting, []
        for batch in waiting:
            if batch.results is None:
                self._submit(batch)

    def _submit(self, batch: Batch) -> None:
        assert self._pool is not None
        # A submit may start a worker (and the pool's threads): they inherit the mask.
        with _sigint_blocked():
            batch.future = self._pool.submit(self._hasher, batch.jobs)
        self._pending.add(batch.future)

    def results(self, batch: Batch) -> list[HashResult]:
        """The batch's results, hashing or waiting for them as needed."""
        if batch.results is not None:
            return batch.results
        if batch is self._open and batch.jobs:
            self._close_open()
        if batch.future is not None:
            self._pending.discard(batch.future)
            try:
                results = batch.future.result()
            except BrokenProcessPool as exc:
                if self._pool is not None:
                    self._hash_pool.discard(self._pool)
                raise ScanError(f"a hashing worker process died: {exc}") from exc
        else:
            results = self._hasher(batch.jobs)
        batch.results = results
        self.files_hashed += len(batch.jobs)
        self.bytes_hashed += batch.nbytes
        batch.jobs = []
        return results

    def close(self, *, abort: bool = False) -> None:
        """Stop using the workers; pending work is cancelled (call it on success and on error).

        ``abort`` (the scan passes it for Ctrl-C only) terminates a private
        pool's workers at once instead of letting them finish the batches they
        are hashing; other errors let them finish, because a worker terminated
        mid-write leaves a torn result that hangs the executor's shutdown. A
        shared pool is left running for other scans: only this queue's
        batches that have not started are cancelled.
        """
        pool, self._pool = self._pool, None
        pending, self._pending = self._pending, set()
        if pool is None:
            return
        if self._owned:
            self._hash_pool.close(abort=abort)
            return
        for future in pending:
            future.cancel()
