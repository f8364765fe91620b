"""Hash regular files for a scan (content hash and file NodeID), in-process or in worker processes.

A file is hashed only if it still is the file the walk saw: it is opened
without following symlinks, ``fstat``-ed before and after reading, and any
difference in size, mtime, inode or mode from the walk's ``lstat`` (or its
disappearance) fails the scan with :class:`FileChangedDuringScan`. Hashing a
file that is being written would record content that never existed as a whole.

The file's NodeID is computed next to its content hash, in the worker: on a
cold scan the walking process is the bottleneck, and the NodeID needs nothing
the worker does not already have (path, content hash, executable bit).

Why processes and not threads: reading many small files is dominated by
per-call Python overhead under the GIL, so two threads are slower than one.
Work goes to workers in batches (about a hundred files per task) so that
pickling and task dispatch stay small next to the reads.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext

from treeframe.errors import FileChangedDuringScan, ScanError
from treeframe.hashing.ids import content_hasher, file_node_id
from treeframe.ids import ContentHash, NodeId

__all__ = [
    "CHUNK_SIZE",
    "SLOW_START_FACTOR",
    "Batch",
    "BatchHasher",
    "HashJob",
    "HashQueue",
    "Hashed",
    "hash_batch",
    "hash_file",
]

CHUNK_SIZE = 1 << 20
"""Files are read and hashed in pieces of this many bytes (bounded memory)."""

SLOW_START_FACTOR = 10
"""Without ``fork``, the pool starts only past this multiple of the threshold."""

HashJob = tuple[str, str, int, int, int, int]
"""(absolute path, workspace-relative path, size, mtime_ns, inode, mode) as seen by the walk."""

Hashed = tuple[ContentHash, NodeId]
"""A file's content hash and its NodeID."""

BatchHasher = Callable[[Sequence[HashJob]], list[Hashed]]
"""Hashes a batch of files, returning their results in job order."""

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _changed(rel: str) -> FileChangedDuringScan:
    return FileChangedDuringScan(f"file changed during scan: {rel}; scan again")


def hash_file(job: HashJob) -> ContentHash:
    """Content hash of one file, verified to match the walk's ``lstat``."""
    path, rel, size, mtime_ns, ino, mode = job
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        raise _changed(rel) from None
    except PermissionError:
        raise ScanError(f"cannot read {rel}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a symlink since the walk saw it
            raise _changed(rel) from None
        raise ScanError(f"cannot read {rel}: {exc.strerror}") from exc
    try:
        before = os.fstat(fd)
        if (
            before.st_size != size
            or before.st_mtime_ns != mtime_ns
            or before.st_ino != ino
            or before.st_mode != mode
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
        raise ScanError(f"cannot read {rel}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if after.st_size != size or after.st_mtime_ns != mtime_ns:
        raise _changed(rel)
    return ContentHash(hasher.hexdigest())


def hash_batch(jobs: Sequence[HashJob]) -> list[Hashed]:
    """Hash several files and compute their NodeIDs; the default :data:`BatchHasher`."""
    out: list[Hashed] = []
    for job in jobs:
        digest = hash_file(job)
        out.append((digest, file_node_id(job[1], digest, bool(job[5] & stat.S_IXUSR))))
    return out


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


class Batch:
    """Files hashed together; their results become available all at once."""

    __slots__ = ("future", "jobs", "nbytes", "results")

    def __init__(self) -> None:
        self.jobs: list[HashJob] = []
        self.nbytes = 0
        self.future: Future[list[Hashed]] | None = None
        self.results: list[Hashed] | None = None

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
    """

    def __init__(
        self,
        *,
        workers: int,
        pool_threshold: int,
        batch_files: int,
        batch_bytes: int,
        hasher: BatchHasher,
    ) -> None:
        self._workers = workers
        self._threshold = pool_threshold
        self._batch_files = batch_files
        self._batch_bytes = batch_bytes
        self._hasher = hasher
        self._open = Batch()
        self._waiting: list[Batch] = []
        self._pool: ProcessPoolExecutor | None = None
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
        if self._workers > 1 and self.queued > self._threshold:
            context = _pool_context()
            # forkserver/spawn workers cost a few hundred ms to start (fresh
            # interpreter, imports); only a much larger backlog repays that.
            slow = context.get_start_method() != "fork"
            if not slow or self.queued > self._threshold * SLOW_START_FACTOR:
                self._start_pool(context)

    def _start_pool(self, context: BaseContext) -> None:
        self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context)
        waiting, self._waiting = self._waiting, []
        for batch in waiting:
            if batch.results is None:
                self._submit(batch)

    def _submit(self, batch: Batch) -> None:
        assert self._pool is not None
        batch.future = self._pool.submit(self._hasher, batch.jobs)

    def results(self, batch: Batch) -> list[Hashed]:
        """The batch's results, hashing or waiting for them as needed."""
        if batch.results is not None:
            return batch.results
        if batch is self._open and batch.jobs:
            self._close_open()
        if batch.future is not None:
            try:
                results = batch.future.result()
            except BrokenProcessPool as exc:
                raise ScanError(f"a hashing worker process died: {exc}") from exc
        else:
            results = self._hasher(batch.jobs)
        batch.results = results
        self.files_hashed += len(batch.jobs)
        self.bytes_hashed += batch.nbytes
        batch.jobs = []
        return results

    def close(self) -> None:
        """Stop the workers; pending work is cancelled (call it on success and on error)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
