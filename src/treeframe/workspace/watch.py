"""Watch mode: filesystem events -> incremental rescan -> stale report -> optional regeneration.

The loop (:func:`watch`) takes batches of changed paths from watchfiles'
Rust notifier; :class:`Watcher` turns each batch into work, so tests can
drive it with batches of their own:

1. :class:`PathFilter` maps every absolute path to a workspace-relative one
   and drops what a scan would never record: the workspace's state directory
   (``.treeframe/``: store, ``-wal``/``-shm``, stat cache), the files of a
   store or blob directory configured elsewhere inside the tree, ``.git/``,
   and whatever the ignore files exclude. Treeframe's own writes are never
   seen, so a rescan or a regeneration cannot trigger the next one.
2. The batch is coalesced into a set and rescanned with
   :meth:`Workspace.scan(paths=...) <treeframe.workspace.Workspace.scan>`,
   the code path of ``scan --paths``: a path that vanished before the rescan
   is a deletion, a changed ignore file rescans its whole directory, and a
   batch of more than ``max_paths`` paths rescans the whole tree instead.
3. If the root moved, the engine's stale report for the changed paths' lowest
   common node (recursive; the engine adds the ancestors' syntheses and
   everything built on a stale frame) is reported, and with ``regenerate``
   that scope is regenerated (writes go to the store only).

A failing step is an ``error`` event, never the end of the loop: a failed
rescan keeps its paths for the next batch, or is retried after a backoff
when no batch comes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import unquote_to_bytes

from treeframe.engine.principal import Principal
from treeframe.errors import ConfigError, InvalidPath, InvalidRequest, TreeframeError
from treeframe.tree.ignore import (
    BUILTIN_IGNORED_DIRS,
    IGNORE_FILE_NAMES,
    IgnoreRules,
    parse_ignore_file,
)
from treeframe.tree.paths import normalize_name, parent_path
from treeframe.workspace.layout import STATE_DIR
from treeframe.workspace.settings import store_url

if TYPE_CHECKING:
    from treeframe.engine.types import RegenerationReport, StaleFrame
    from treeframe.tree.scan import ScanResult
    from treeframe.workspace.workspace import Workspace

__all__ = [
    "DEFAULT_DEBOUNCE",
    "DEFAULT_MAX_PATHS",
    "PathFilter",
    "WatchEvent",
    "WatchReport",
    "Watcher",
    "common_scope",
    "own_paths",
    "parse_interval",
    "stop_on_signals",
    "watch",
]

DEFAULT_DEBOUNCE = 0.2
"""Seconds without a new event that close a batch (``--debounce``)."""

DEFAULT_MAX_PATHS = 5000
"""Above this many changed paths in one batch the whole tree is rescanned (``--max-paths``)."""

MAX_BATCH_FACTOR = 10
"""A batch closes at the latest this many debounce intervals after its first event."""

RETRY_FIRST = 1.0
RETRY_MAX = 30.0
"""Seconds before a failed rescan is retried when no new batch comes (doubling, capped)."""

_INTERVAL = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)")
_MAX_INTERVAL = 3600.0
_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")

EventKind = Literal["ready", "rescan", "stale", "regenerated", "error"]


def parse_interval(text: str) -> float:
    """``200ms``, ``1s``, ``0.5s`` in seconds (more than 0, at most an hour); InvalidRequest otherwise."""
    match = _INTERVAL.fullmatch(text.strip())
    seconds = 0.0
    if match is not None:
        seconds = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
    if match is None or not 0 < seconds <= _MAX_INTERVAL:
        raise InvalidRequest(
            f"invalid interval {text[:40]!r}: use a number and ms or s, e.g. 200ms, 1s, 0.5s "
            "(more than 0, at most 3600s)"
        )
    return seconds


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One thing the watcher did, in the order it did them (see docs/CLI.md ``watch``)."""

    kind: EventKind
    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"event": kind, ...data}``."""
        return {"event": self.kind, **self.data}


class WatchReport(Protocol):
    """Where events go: each as it happens, then every batch's events together."""

    def event(self, event: WatchEvent) -> None:
        """One event, as soon as it happened."""

    def batch(self, events: Sequence[WatchEvent]) -> None:
        """Every event of one batch, after its last."""


def _local_path(url: str, scheme: str) -> Path | None:
    """The filesystem path in a ``scheme://`` URL (None: another scheme)."""
    prefix = f"{scheme}://"
    if not url.startswith(prefix):
        return None
    rest = url[len(prefix) :].partition("?")[0]
    return Path(os.fsdecode(unquote_to_bytes(rest))) if rest.startswith("/") else None


def own_paths(workspace: Workspace) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """``(directories, files)`` treeframe itself writes for this workspace, wherever they are.

    The state directory (store, stat cache), an LMDB store's directory, a
    ``file://`` blob store's directory, and a SQLite store file with its
    ``-wal``, ``-shm`` and ``-journal`` siblings.
    """
    settings = workspace.settings
    dirs = [workspace.root / STATE_DIR]
    url = store_url(workspace.root, settings)
    lmdb = _local_path(url, "lmdb")
    if lmdb is not None:
        dirs.append(lmdb)
    if settings.store.blobs is not None:
        blobs = _local_path(settings.store.blobs, "file")
        if blobs is not None:
            dirs.append(blobs)
    files: list[Path] = []
    database = _local_path(url, "sqlite")
    if database is not None:
        files.extend(Path(f"{database}{suffix}") for suffix in _SQLITE_SIDE_FILES)
    return tuple(dirs), tuple(files)


class PathFilter:
    """Which changed paths a rescan must look at: inside the tree, not ignored, not treeframe's own.

    Ignore rules are read from the ignore files on disk as the scanner reads
    them and kept per directory until :meth:`forget_rules` (a batch that
    touches an ignore file calls it first).
    """

    def __init__(
        self,
        root: Path,
        own_dirs: Iterable[Path] = (),
        own_files: Iterable[Path] = (),
        outputs: Iterable[int] = (),
    ) -> None:
        """``outputs`` are file descriptors (stdout redirected into the tree) never rescanned."""
        self.root = os.path.normpath(os.path.abspath(root))
        # Some notifiers (FSEvents) report real paths: /private/var/... for /var/...
        self._real_root = os.path.realpath(self.root)
        self._own_dirs = tuple(os.path.normpath(os.path.abspath(d)) for d in own_dirs)
        self._own_files = frozenset(os.path.normpath(os.path.abspath(f)) for f in own_files)
        self._own_inodes: set[tuple[int, int]] = set()
        for fd in outputs:
            with contextlib.suppress(OSError):
                info = os.fstat(fd)
                if stat.S_ISREG(info.st_mode):
                    self._own_inodes.add((info.st_dev, info.st_ino))
        self._rules: dict[str, IgnoreRules] = {}

    @classmethod
    def of(cls, workspace: Workspace, outputs: Iterable[int] = ()) -> PathFilter:
        """The filter of a workspace: its root, its state directory, its store's files, ``outputs``."""
        dirs, files = own_paths(workspace)
        return cls(workspace.root, dirs, files, outputs)

    def forget_rules(self) -> None:
        """Read the ignore files again on the next lookup (one of them changed)."""
        self._rules.clear()

    def relative(self, path: str) -> str | None:
        """The workspace-relative path to rescan for a changed absolute ``path``; None: drop it.

        A name that is not valid UTF-8 gives its directory (the scanner skips
        the name there); a changed ignore file gives its directory, whose
        membership it decides.
        """
        absolute = os.path.normpath(path)
        real = self._real_root
        if real != self.root and (absolute == real or absolute.startswith(real + os.sep)):
            absolute = self.root + absolute[len(real) :]
        if absolute in self._own_files or any(
            absolute == d or absolute.startswith(d + os.sep) for d in self._own_dirs
        ):
            return None
        if absolute == self.root:
            return ""
        if not absolute.startswith(self.root + os.sep):
            return None
        parts = absolute[len(self.root) + 1 :].split(os.sep)
        if any(part in BUILTIN_IGNORED_DIRS for part in parts[:-1]):
            return None
        names: list[str] = []
        for part in parts:
            try:
                names.append(normalize_name(part))
            except InvalidPath:
                return "/".join(names)
        rel = "/".join(names)
        try:
            info = os.lstat(absolute)
        except OSError:
            info = None  # gone: a deletion
        if info is not None and (info.st_dev, info.st_ino) in self._own_inodes:
            return None
        is_dir = None if info is None else stat.S_ISDIR(info.st_mode)
        if names[-1] in BUILTIN_IGNORED_DIRS and is_dir is True:
            return None
        if self._ignored(names, is_dir):
            return None
        if names[-1] in IGNORE_FILE_NAMES and is_dir is not True:
            return parent_path(rel)
        return rel

    def _ignored(self, names: list[str], is_dir: bool | None) -> bool:
        """The scanner's decision; a vanished path is dropped only if ignored either way."""
        rules = self._rules_of("")
        for depth in range(len(names) - 1):
            directory = "/".join(names[: depth + 1])
            if rules.is_ignored(directory, is_dir=True):
                return True
            rules = self._rules_of(directory, rules)
        rel = "/".join(names)
        if is_dir is None:
            return rules.is_ignored(rel, is_dir=False) and rules.is_ignored(rel, is_dir=True)
        return rules.is_ignored(rel, is_dir=is_dir)

    def _rules_of(self, directory: str, inherited: IgnoreRules | None = None) -> IgnoreRules:
        """The rules for ``directory``'s contents: its parent's plus its own ignore files."""
        found = self._rules.get(directory)
        if found is not None:
            return found
        lines: list[str] = []
        for name in IGNORE_FILE_NAMES:
            # Unreadable or missing: the scanner decides (it skips an unreadable directory).
            with contextlib.suppress(OSError):
                lines.extend(parse_ignore_file(Path(self.root, directory, name).read_bytes()))
        rules = (inherited or IgnoreRules()).with_directory(directory, lines)
        self._rules[directory] = rules
        return rules


def common_scope(paths: Iterable[str]) -> str:
    """The lowest common ancestor (or the path itself) of workspace-relative paths."""
    common: list[str] | None = None
    for path in paths:
        parts = path.split("/") if path else []
        if common is None:
            common = parts
            continue
        size = 0
        for mine, theirs in zip(common, parts, strict=False):
            if mine != theirs:
                break
            size += 1
        del common[size:]
    return "/".join(common or [])


@dataclass(slots=True)
class _Pending:
    """Paths a failed rescan still owes (``full``: the whole tree)."""

    paths: set[str] = field(default_factory=set)
    full: bool = False
    retry_at: float | None = None
    delay: float = RETRY_FIRST


class Watcher:
    """Turns batches of changed paths into rescans, stale reports and regenerations.

    ``principal`` reads the stale report and regenerates (the local owner
    for the command line).
    """

    def __init__(
        self,
        workspace: Workspace,
        report: WatchReport,
        *,
        principal: Principal,
        regenerate: bool = False,
        debounce: float = DEFAULT_DEBOUNCE,
        max_paths: int = DEFAULT_MAX_PATHS,
        path_filter: PathFilter | None = None,
        agents: bool = False,
    ) -> None:
        self.workspace = workspace
        self.report = report
        self.principal = principal
        self.regenerate = regenerate or agents
        self.agents = agents
        """Regeneration also asks model agents again (``regenerate --agents``)."""
        self.debounce = debounce
        self.max_paths = max_paths
        self.filter = path_filter or PathFilter.of(workspace)
        self.rescans = 0
        self._pending = _Pending()

    def start(self, target: str = "") -> None:
        """Bring the store up to the disk (a rescan of ``target``, "" for all) and say ``ready``.

        Unlike a batch's, an error here is raised: there is nothing to watch from.
        """
        result = self.workspace.scan(paths=None if target == "" else [self._absolute(target)])
        self._emit(
            "ready",
            {
                "path": target,
                "root": result.root,
                "seq": result.entry.seq,
                "changed": result.changed,
                "debounce_ms": round(self.debounce * 1000),
                "max_paths": self.max_paths,
                "regenerate": self.regenerate,
            },
        )

    @property
    def retry_in(self) -> float | None:
        """Seconds until a failed rescan is retried without a new batch (None: nothing owed)."""
        if self._pending.retry_at is None:
            return None
        return max(0.0, self._pending.retry_at - time.monotonic())

    def handle(self, changed: Iterable[str]) -> list[WatchEvent]:
        """Process one batch of changed absolute paths (empty: retry what a failed rescan owes)."""
        raw = set(changed)
        if any(os.path.basename(p) in IGNORE_FILE_NAMES for p in raw):
            self.filter.forget_rules()
        wanted = {rel for rel in map(self.filter.relative, raw) if rel is not None}
        pending = self._pending
        wanted |= pending.paths
        full = pending.full or "" in wanted or len(wanted) > self.max_paths
        if not wanted and not full:
            return []
        events: list[WatchEvent] = []
        result = self._rescan(sorted(wanted), full, events)
        if result is not None and result.changed:
            scope = self._scope(None if full else wanted)
            stale = self._stale(scope, events) if scope is not None else None
            if scope is not None and stale and self.regenerate:
                self._regenerate(scope, stale, events)
        self.report.batch(events)
        return events

    # -- steps ------------------------------------------------------------------
    def _rescan(self, paths: list[str], full: bool, events: list[WatchEvent]) -> ScanResult | None:
        self.rescans += 1
        try:
            result = self.workspace.scan(paths=None if full else [self._absolute(p) for p in paths])
        except TreeframeError as exc:
            pending = self._pending
            pending.paths, pending.full = set(paths), full
            pending.retry_at = time.monotonic() + pending.delay
            pending.delay = min(pending.delay * 2, RETRY_MAX)
            self._emit("error", self._error("rescan", exc, retry=True), events)
            return None
        self._pending = _Pending()
        self._emit(
            "rescan",
            {
                "paths": None if full else paths,
                "full": full,
                "root": result.root,
                "seq": result.entry.seq,
                "changed": result.changed,
                "files": result.files,
                "files_hashed": result.files_hashed,
                "nodes_written": result.nodes_written,
                "skipped": len(result.skipped),
                "warnings": list(result.warnings),
                "duration_ms": result.duration_ms,
            },
            events,
        )
        return result

    def _scope(self, paths: set[str] | None) -> tuple[str, str] | None:
        """``(path, node_id)`` of the lowest node of the current tree above every changed path."""
        ws = self.workspace
        scope = "" if paths is None else common_scope(paths)
        while True:
            node_id = ws.store.lookup_path(ws.ws, scope)
            if node_id is not None:
                return scope, node_id
            if scope == "":
                return None
            scope = parent_path(scope)

    def _stale(self, scope: tuple[str, str], events: list[WatchEvent]) -> tuple[StaleFrame, ...]:
        """Report the stale frames in ``scope`` and return them (none after an error)."""
        path, node_id = scope
        try:
            report = self.workspace.api.stale(node_id, recursive=True, principal=self.principal)
        except TreeframeError as exc:
            self._emit("error", self._error("stale", exc, retry=False), events)
            return ()
        self._emit("stale", {"scope": path, **report.to_dict()}, events)
        return report.frames

    def _regenerate(
        self, scope: tuple[str, str], stale: Sequence[StaleFrame], events: list[WatchEvent]
    ) -> None:
        """Regenerate ``scope`` recursively, then each node outside it that ``stale`` names.

        Those are the ancestors' syntheses (and frames elsewhere built on a
        stale one): regenerating the scope alone never reaches them, and the
        whole tree would cost a walk of every node. Deepest first, so a
        synthesis is rebuilt after its children.
        """
        path, node_id = scope
        below = f"{path}/" if path else ""
        outside = {f.path for f in stale if f.path != path and not f.path.startswith(below)}
        targets = [(node_id, True)]
        for other in sorted(outside, key=lambda p: (-p.count("/") - bool(p), p)):
            found = self.workspace.store.lookup_path(self.workspace.ws, other)
            if found is not None:
                targets.append((found, False))
        reports: list[RegenerationReport] = []
        try:
            for target, recursive in targets:
                reports.append(self._regenerate_node(target, recursive))
        except TreeframeError as exc:
            self._emit("error", self._error("regenerate", exc, retry=False), events)
        if not reports:
            return
        waiting = {f.frame_id: f for r in reports for f in r.stale_unrecomputable}
        data = {
            "scope": path,
            "node_id": node_id,
            "regenerated_count": sum(r.regenerated_count for r in reports),
            "frame_ids": [fid for r in reports for fid in r.frame_ids],
            "stale_unrecomputable": [f.to_dict() for f in waiting.values()],
            "duration_ms": sum(r.duration_ms for r in reports),
        }
        self._emit("regenerated", data, events)

    def _regenerate_node(self, node_id: str, recursive: bool) -> RegenerationReport:
        """The one call of the engine's regeneration: options of ``regenerate`` go here."""
        return self.workspace.api.regenerate(
            node_id, recursive=recursive, principal=self.principal, agents=self.agents
        )

    # -- helpers ----------------------------------------------------------------
    def _absolute(self, rel: str) -> str:
        """``Workspace.scan`` takes paths as a command line gives them; absolute ones need no cwd."""
        return str(self.workspace.root / rel) if rel else str(self.workspace.root)

    def _emit(
        self, kind: EventKind, data: Mapping[str, Any], events: list[WatchEvent] | None = None
    ) -> None:
        event = WatchEvent(kind, data)
        if events is not None:
            events.append(event)
        self.report.event(event)

    @staticmethod
    def _error(stage: str, exc: TreeframeError, *, retry: bool) -> dict[str, Any]:
        return {"stage": stage, "code": exc.code, "message": exc.message, "retry": retry}


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (the loop ends after the current batch) while inside.

    Only the main thread can install handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def _notifier(target: Path) -> Any:
    """The Rust notifier of watchfiles on ``target``, watching once this returns."""
    try:
        from watchfiles._rust_notify import RustNotify
    except ImportError as exc:
        raise ConfigError(
            "watch mode needs the watchfiles package: pip install 'treeframe[watch]'"
        ) from exc
    # Arguments: paths, debug, force_polling, poll_delay_ms, recursive, ignore_permission_denied.
    return RustNotify([str(target)], False, False, 300, True, True)


def watch(
    workspace: Workspace,
    report: WatchReport,
    *,
    target: str = "",
    debounce: float = DEFAULT_DEBOUNCE,
    max_paths: int = DEFAULT_MAX_PATHS,
    regenerate: bool = False,
    agents: bool = False,
    principal: Principal,
    stop: threading.Event,
    outputs: Iterable[int] = (),
) -> None:
    """Watch ``target`` (workspace-relative, "" for the whole tree) until ``stop`` is set.

    ``outputs`` are the file descriptors the report writes to: a file they
    name inside the tree (``watch > log``) is never rescanned, or every line
    would cause the next.

    The notifier is watching before the first scan, so nothing changed
    during it is missed; ``ready`` is reported after that scan. A batch closes
    once ``debounce`` seconds pass without a new event, or at the latest
    :data:`MAX_BATCH_FACTOR` times that after its first one.
    """
    watcher = Watcher(
        workspace,
        report,
        principal=principal,
        regenerate=regenerate,
        debounce=debounce,
        max_paths=max_paths,
        path_filter=PathFilter.of(workspace, outputs),
        agents=agents,
    )
    step_ms = max(1, round(debounce * 1000))
    with _notifier(workspace.root / target if target else workspace.root) as notifier:
        watcher.start(target)
        while not stop.is_set():
            wait = watcher.retry_in
            timeout_ms = 0 if wait is None else max(1, round(wait * 1000))
            changes = notifier.watch(step_ms * MAX_BATCH_FACTOR, step_ms, timeout_ms, stop)
            if changes in ("stop", "signal"):
                break
            watcher.handle(() if changes == "timeout" else (path for _, path in changes))
