"""Workspace: a directory tree bound to a store and a workspace ID.

This is what the CLI drives. Nodes are addressed by NodeID (64 hex) or by a
path in the current root, relative to the caller's directory like git.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from treeframe.config.loading import load_settings
from treeframe.config.settings import Settings
from treeframe.engine.principal import Principal
from treeframe.engine.types import FrameInput, NodeContext, PutResult
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import (
    InvalidPath,
    NodeNotFound,
    StorageError,
    WorkspaceNotFound,
)
from treeframe.frames import merkle_set
from treeframe.frames.frame import DEFAULT_CONTENT_TYPE, Basis
from treeframe.frames.views import ViewPolicy
from treeframe.hashing.ids import workspace_id
from treeframe.ids import FrameId, NodeId, WorkspaceId, parse_hex_id
from treeframe.observability.progress import ProgressFn
from treeframe.storage.base import RootEntry, StorageBackend
from treeframe.storage.cache import cache_prefix, stamping_store
from treeframe.storage.registry import open_store
from treeframe.tree.paths import relative_path
from treeframe.tree.records import NodeRecord
from treeframe.workspace.layout import STATE_DIR, find_root
from treeframe.workspace.settings import store_content, store_url
from treeframe.workspace.working_tree import WorkingTreeContents

if TYPE_CHECKING:
    # Imported where used: opening a workspace (``status``) needs none of them.
    from treeframe.engine.diagnostics import DiskDiff, DoctorReport
    from treeframe.tree.scan import ScanResult
    from treeframe.workspace.verify import VerifyReport

__all__ = ["Workspace", "frame_input"]

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _utf8_dir(root: Path) -> Path:
    """``root``, refused when its path is not valid UTF-8 (it is printed and put in URLs)."""
    try:
        str(root).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(root).decode("utf-8", errors="backslashreplace")
        raise InvalidPath(f"workspace directory {shown} is not valid UTF-8") from None
    return root


def frame_input(
    node: NodeRecord,
    frame_type: str,
    content: bytes,
    content_type: str = DEFAULT_CONTENT_TYPE,
    metadata: Mapping[str, str] | None = None,
    basis_frame: FrameId | None = None,
) -> FrameInput:
    """The frame ``put`` appends: based on the node, or on the node and ``basis_frame``.

    Shared with the CLI's remote mode (:mod:`treeframe.client.remote`).
    """
    basis = Basis.node(node.node_id)
    if basis_frame is not None:
        # An unknown basis frame is the engine's invalid_frame, like any bad basis.
        parse_hex_id(basis_frame, "FrameID")
        basis = Basis.node_frame(node.node_id, basis_frame)
    return FrameInput(frame_type, content, content_type, dict(metadata or {}), basis)


class Workspace:
    """One workspace: its root directory, its store, its settings and its context API."""

    def __init__(
        self,
        root: Path,
        store: StorageBackend,
        *,
        settings: Settings | None = None,
        create: bool = False,
    ):
        """Bind ``root`` to ``store``; ``create`` adds the workspace to the store if absent.

        Without ``create`` a workspace name the store does not hold is
        ``workspace_not_found``: only ``init`` creates workspaces.
        """
        self.root = _utf8_dir(root.absolute())
        self.settings = settings or Settings()
        self.store = store
        self.name = self.settings.workspace
        self.service = WorkspaceService(
            store, self.settings, files=lambda _info: WorkingTreeContents(self.root)
        )
        if create:
            self.service.create(self.name)
        try:
            self.info = self.service.find(self.name)
        except WorkspaceNotFound as exc:
            if store.get_workspace(workspace_id(self.name)) is not None:
                raise  # tombstoned: the service's message says so
            raise WorkspaceNotFound(
                f"no workspace {self.name!r} in store {store.url} "
                f"(run 'treeframe init --workspace {self.name}')"
            ) from exc
        self.ws: WorkspaceId = self.info.workspace_id
        self.api = self.service.open(self.ws)

    # -- lifecycle ----------------------------------------------------------
    @classmethod
    def init(
        cls,
        path: Path,
        *,
        cli: Mapping[str, Any] | None = None,
        flags: Mapping[str, str] | None = None,
    ) -> Workspace:
        """Create ``.treeframe/`` under ``path``, the store and the workspace (idempotent)."""
        root = _utf8_dir(path.absolute())
        if not root.is_dir():
            raise InvalidPath(f"not a directory: {root}")
        state = root / STATE_DIR
        if state.exists() and not state.is_dir():
            raise InvalidPath(f"cannot make a workspace: {state} exists and is not a directory")
        try:
            state.mkdir(exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {state}: {exc.strerror}") from exc
        return cls.at(root, cli=cli, flags=flags, create=True)

    @classmethod
    def open(
        cls,
        start: Path,
        *,
        cli: Mapping[str, Any] | None = None,
        flags: Mapping[str, str] | None = None,
        read_only: bool = False,
    ) -> Workspace:
        """Open the existing workspace at or above ``start`` with its layered configuration.

        ``cli`` holds command-line overrides by dotted key (``store.url``, ...)
        and ``flags`` the flag that set each (for ``config show`` sources).
        ``read_only`` opens the store for reading only (read-only mounts).
        """
        return cls.at(find_root(start), cli=cli, flags=flags, read_only=read_only)

    @classmethod
    def at(
        cls,
        root: Path,
        *,
        cli: Mapping[str, Any] | None = None,
        flags: Mapping[str, str] | None = None,
        create: bool = False,
        read_only: bool = False,
    ) -> Workspace:
        """Open the workspace rooted at ``root`` (which holds ``.treeframe/``).

        ``create`` creates the store and the workspace in it when absent; without
        it a missing store is ``store_not_found``, never silently recreated.
        """
        settings = load_settings(root, cli=cli, cli_flags=flags).settings
        store = open_store(
            store_url(root, settings),
            create=create,
            read_only=read_only,
            content=store_content(settings),
        )
        # Servers caching heads in Redis must see this process's writes too.
        store = stamping_store(
            store, settings.cache.url, prefix=cache_prefix(settings.cache.namespace)
        )
        try:
            return cls(root, store, settings=settings, create=create)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- tree ---------------------------------------------------------------
    def scan(
        self,
        *,
        workers: int | None = None,
        progress: ProgressFn | None = None,
        strict: bool = False,
        paths: Sequence[str] | None = None,
    ) -> ScanResult:
        """Scan the directory tree and move the current root (``strict``: fail rather than skip).

        ``paths`` (given relative to the current directory, each inside the
        workspace; they need not exist any more) rescans only those and their
        ancestors, as :func:`~treeframe.tree.scan.scan_tree` describes.
        """
        from treeframe.tree.scan import scan_tree
        from treeframe.tree.statcache_sqlite import CACHE_FILE, SqliteStatCache

        wanted = None if paths is None else [self.path_of(p) for p in paths]
        chosen = workers if workers is not None else self.settings.scan.workers
        # The stat cache is this machine's, beside the tree: never in the (maybe shared) store.
        with SqliteStatCache(self.root / STATE_DIR / CACHE_FILE) as cache:
            return scan_tree(
                self.root,
                self.store,
                self.ws,
                workers=chosen,
                progress=progress,
                strict=strict,
                stat_cache=cache,
                clock=self.api.runtime.clock,
                paths=wanted,
            )

    def current_root(self) -> RootEntry | None:
        """The current root entry, or None before the first scan."""
        return self.store.current_root(self.ws)

    def history(self, limit: int = 20) -> list[RootEntry]:
        """The newest ``limit`` root-history entries."""
        return self.store.root_history(self.ws, limit)

    def path_of(self, target: str, cwd: Path | None = None) -> str:
        """Workspace-relative canonical path of ``target`` given relative to ``cwd``."""
        return relative_path(self.root, target, cwd=cwd)

    def resolve(self, ref: str, cwd: Path | None = None) -> NodeRecord:
        """The node named by ``ref``: a NodeID (64 hex) or a path in the current root.

        A 64-hex ``ref`` is taken as a NodeID when such a node exists; otherwise
        it is tried as a path, so a file named like a hash stays reachable.
        """
        if _HEX64.fullmatch(ref):
            record = self.store.get_node(self.ws, NodeId(ref))
            if record is not None:
                return record
        path = self.path_of(ref, cwd)
        if self.current_root() is None:
            raise NodeNotFound("nothing scanned yet: run 'treeframe scan' first")
        node_id = self.store.lookup_path(self.ws, path)
        if node_id is None:
            if _HEX64.fullmatch(ref):
                raise NodeNotFound(f"no node with ID {ref} and no path {ref!r} in the current tree")
            raise NodeNotFound(f"no node at path {path or '.'!r} in the current tree")
        record = self.store.get_node(self.ws, node_id)
        if record is None:
            raise NodeNotFound(f"path index names node {node_id}, which is not stored")
        return record

    def children(self, record: NodeRecord) -> list[NodeRecord]:
        """Child records of a directory (empty for files and links), in name order."""
        ids = [child for _, child in record.children]
        found = self.store.get_nodes(self.ws, ids)
        return [found[i] for i in ids if i in found]

    # -- frames -------------------------------------------------------------
    def put_frame(
        self,
        node: NodeRecord,
        frame_type: str,
        content: bytes,
        *,
        principal: Principal,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: Mapping[str, str] | None = None,
        basis_frame: FrameId | None = None,
    ) -> PutResult:
        """Put a frame through the context API, authored by ``principal`` (which must write).

        The basis is the node, or the node and ``basis_frame``.
        """
        request = frame_input(node, frame_type, content, content_type, metadata, basis_frame)
        return self.api.put_frame_record(node.node_id, request, principal=principal)

    def view(
        self,
        node: NodeRecord,
        policy: ViewPolicy,
        *,
        include_previous: bool = False,
        principal: Principal,
    ) -> NodeContext:
        """A bounded view of a node's frames with contents and freshness flags."""
        return self.api.get_node(
            node.node_id, policy, include_previous=include_previous, principal=principal
        )

    def heads(self, node: NodeRecord, *, principal: Principal) -> dict[str, FrameId]:
        """Every head of a node, by frame type."""
        return self.api.heads(node.node_id, principal=principal)

    def prove(self, node: NodeRecord, frame_id: str) -> tuple[merkle_set.MembershipProof, str]:
        """Membership proof of a frame in a node's frame set, with the stored set root."""
        fid = FrameId(parse_hex_id(frame_id, "FrameID"))
        state = self.store.get_frame_set(self.ws, node.node_id)
        members = self.store.node_frame_ids(self.ws, node.node_id)
        proof = merkle_set.prove(members, fid)
        return proof, state.root if state else merkle_set.EMPTY_ROOT

    # -- integrity ----------------------------------------------------------
    def verify(
        self,
        progress: ProgressFn | None = None,
        *,
        since: str | None = None,
        max_duration: float | None = None,
    ) -> VerifyReport:
        """Recompute the stored hashes of this workspace; see :mod:`treeframe.workspace.verify`.

        ``since`` names a root (hash, prefix, ``HEAD~N``): only what was added
        after it is checked. ``max_duration`` (seconds) stops the checks then.
        """
        from treeframe.engine.diagnostics import resolve_root
        from treeframe.workspace.verify import verify_store

        resolved = resolve_root(self.store, self.ws, since) if since is not None else None
        deadline = time.monotonic() + max_duration if max_duration is not None else None
        return verify_store(self.store, self.ws, progress, since=resolved, deadline=deadline)

    # -- diagnostics ----------------------------------------------------------
    def diff_disk(self, *, workers: int | None = None) -> DiskDiff:
        """The stored current root against the directory as it is now; writes nothing.

        The stat cache is read (unchanged files are not re-read) but never
        written, and the store is not touched.
        """
        from treeframe.engine.diagnostics import diff_disk
        from treeframe.tree.statcache_sqlite import CACHE_FILE, ReadOnlySqliteStatCache

        chosen = workers if workers is not None else self.settings.scan.workers
        with ReadOnlySqliteStatCache(self.root / STATE_DIR / CACHE_FILE) as cache:
            return diff_disk(self.store, self.ws, self.root, stat_cache=cache, workers=chosen)

    def doctor(self, *, workers: int | None = None) -> DoctorReport:
        """Rescan twice in memory (every file hashed) and compare with the stored root."""
        from treeframe.engine.diagnostics import doctor

        chosen = workers if workers is not None else self.settings.scan.workers
        return doctor(self.store, self.ws, self.root, workers=chosen)
