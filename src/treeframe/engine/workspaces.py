"""WorkspaceService: every workspace of one store, opened by WorkspaceId.

This is what a server holds per store (and what the CLI's directory-bound
workspace sits on): workspace metadata lives in the store, agents in the
store's registry plus configuration, limits in configuration. Nothing here
knows about a directory; where a workspace has a working tree, the edge hands
in a :class:`~treeframe.engine.file_contents.FileContents` for it.

Opened context APIs are cached per workspace, but every ``open`` re-reads the
workspace's metadata (one primary-key lookup), so a workspace tombstoned by
another process is refused at once and one restored or created since is
served fresh: the cache never outlives what the store says.

Create, delete and restore are audited in the workspace's own log
(:mod:`treeframe.engine.audit`): a create that made the workspace, a delete
or restore, and any of them refused once the workspace exists. A repeated
create changes nothing and is not logged; a refused create of a workspace
that does not exist (a bad name) has no log to go to.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from threading import Lock

from treeframe.config.settings import Settings
from treeframe.engine.agents import AgentRecord
from treeframe.engine.audit import Auditor, Operation
from treeframe.engine.context_api import ContextAPI, EngineLimits
from treeframe.engine.file_contents import FileContents
from treeframe.engine.models import ModelAgents
from treeframe.engine.principal import Permission, Principal, authorize
from treeframe.engine.runtime import Runtime, default_runtime
from treeframe.errors import (
    AccessDenied,
    InvalidRequest,
    WorkspaceDeleted,
    WorkspaceNotFound,
)
from treeframe.hashing.ids import workspace_id
from treeframe.ids import WorkspaceId, parse_hex_id
from treeframe.storage.base import StorageBackend, WorkspaceInfo

__all__ = [
    "MAX_NAME_CHARS",
    "WorkspaceService",
    "configured_agents",
    "engine_limits",
]

MAX_NAME_CHARS = 256
"""Longest workspace name ``create`` accepts (names are shown in URLs and listings)."""

FilesFor = Callable[[WorkspaceInfo], FileContents | None]
"""The edge's source of file bytes for a workspace (None: generators cannot run there)."""


def engine_limits(settings: Settings) -> EngineLimits:
    """Operator limits for every context API of the store."""
    return EngineLimits(
        hard_max_frames=settings.view.hard_max_frames,
        max_frame_bytes=settings.limits.max_frame_bytes,
        max_batch=settings.limits.max_batch,
        path_history=settings.limits.path_history,
        max_children=settings.synthesis.max_children,
        summary_max_bytes=settings.synthesis.summary_max_bytes,
        max_prompt_file_bytes=settings.generate.max_file_bytes,
    )


def configured_agents(settings: Settings) -> dict[str, AgentRecord]:
    """Agents declared in configuration (the store's registry overrides them per workspace).

    Their ``provider`` mapping names the model provider and model they
    generate with (names only: secrets stay in configuration).
    """
    return {
        agent_id: AgentRecord(
            agent_id,
            agent.role,
            tuple(sorted(agent.capabilities)),
            provider={"provider": agent.provider}
            | ({"model": agent.model} if agent.model is not None else {}),
        )
        for agent_id, agent in settings.agents.items()
    }


def check_name(name: str) -> str:
    """``name`` if a new workspace may be called that; InvalidRequest says why not."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("a workspace name must be a non-empty string")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(f"a workspace name has at most {MAX_NAME_CHARS} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise InvalidRequest("a workspace name may not contain control or format characters")
    return name


class WorkspaceService:
    """Create, list, open, tombstone and restore the workspaces of one store."""

    def __init__(
        self,
        store: StorageBackend,
        settings: Settings | None = None,
        *,
        files: FilesFor | None = None,
        runtime: Runtime | None = None,
        cache_size: int = 256,
        on_cache: Callable[[bool], None] | None = None,
        models: ModelAgents | None = None,
    ) -> None:
        self.store = store
        self._on_cache = on_cache
        self.runtime = runtime or default_runtime()
        self.settings = settings or Settings()
        self.limits = engine_limits(self.settings)
        self.agents = configured_agents(self.settings)
        self.models = models or ModelAgents(self.settings)
        """Model agents of every workspace (providers are per process, not per workspace)."""
        self._files = files
        self._cache_size = max(1, cache_size)
        self._cache: OrderedDict[WorkspaceId, tuple[WorkspaceInfo, ContextAPI]] = OrderedDict()
        self._lock = Lock()
        self.auditor = Auditor(store, self.runtime.clock)

    # -- metadata -------------------------------------------------------------
    def create(
        self, name: str, *, description: str = "", owner: str | None = None
    ) -> tuple[WorkspaceInfo, bool]:
        """The workspace called ``name``, created if absent: ``(info, created)``.

        Idempotent: the ID is derived from the name, so a second create
        returns the stored workspace (its description and owner win) with
        ``created`` False. A tombstoned name is ``workspace_deleted``: restore
        it rather than silently reviving its data under a new owner (the
        refusal is audited in that workspace's log, as ``owner``).
        """
        if not isinstance(description, str):
            raise InvalidRequest("a workspace description must be a string")
        info = WorkspaceInfo(
            workspace_id=workspace_id(check_name(name)),
            name=name,
            description=description,
            owner=owner,
            created_at=self.runtime.clock.now(),
            deleted_at=None,
        )
        ws = info.workspace_id
        try:
            with self.store.unit_of_work():
                stored, created = self.store.create_workspace(info)
                if created:
                    self.auditor.run(
                        Operation.WORKSPACE_CREATE, None, lambda: None, workspace=ws, agent=owner
                    )
        except WorkspaceDeleted as exc:
            self.auditor.refused(Operation.WORKSPACE_CREATE, ws, owner, exc)
            raise
        return stored, created

    def info(self, ws: WorkspaceId) -> WorkspaceInfo:
        """A live workspace's metadata; ``workspace_not_found`` if unknown or tombstoned."""
        found = self.store.get_workspace(WorkspaceId(parse_hex_id(ws, "workspace ID")))
        if found is None:
            raise WorkspaceNotFound(f"no workspace {ws} in store {self.store.url}")
        if found.deleted_at is not None:
            raise WorkspaceNotFound(
                f"workspace {found.name!r} was deleted at {found.deleted_at} (an admin can restore it)"
            )
        return found

    def find(self, name: str) -> WorkspaceInfo:
        """A live workspace by name (names map to IDs one-to-one)."""
        try:
            return self.info(workspace_id(name))
        except WorkspaceNotFound:
            raise WorkspaceNotFound(f"no workspace {name!r} in store {self.store.url}") from None

    def list(
        self, *, include_deleted: bool = False, after: str | None = None, limit: int = 100
    ) -> list[WorkspaceInfo]:
        """Up to ``limit`` workspaces by name, after the name ``after`` (keyset paging)."""
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        return self.store.list_workspaces(include_deleted=include_deleted, after=after, limit=limit)

    def delete(self, ws: WorkspaceId, *, principal: Principal, confirm: str) -> WorkspaceInfo:
        """Tombstone a workspace (needs ``admin``; ``confirm`` must be its name). Its data is kept."""
        info = self.info(ws)
        with self.auditor.session(
            Operation.WORKSPACE_DELETE, principal, workspace=info.workspace_id
        ) as audit:
            self._require_admin(principal, info)
            if confirm != info.name:
                raise InvalidRequest(
                    f"deleting workspace {info.name!r} needs its name as confirmation"
                )
            deleted = audit.write(
                lambda: self.store.set_workspace_deleted(
                    info.workspace_id, self.runtime.clock.now()
                )
            )
        self._forget(info.workspace_id)
        return deleted

    def restore(self, ws: WorkspaceId, *, principal: Principal) -> WorkspaceInfo:
        """Bring a tombstoned workspace back as it was (needs ``admin``)."""
        found = self.store.get_workspace(WorkspaceId(parse_hex_id(ws, "workspace ID")))
        if found is None:
            raise WorkspaceNotFound(f"no workspace {ws} in store {self.store.url}")
        with self.auditor.session(
            Operation.WORKSPACE_RESTORE, principal, workspace=found.workspace_id
        ) as audit:
            self._require_admin(principal, found)
            if found.deleted_at is None:
                return found
            restored = audit.write(
                lambda: self.store.set_workspace_deleted(found.workspace_id, None)
            )
        self._forget(found.workspace_id)
        return restored

    @staticmethod
    def _require_admin(principal: Principal, info: WorkspaceInfo) -> None:
        if principal.workspace != info.workspace_id:
            raise AccessDenied(f"{principal} belongs to another workspace")
        authorize(principal, Permission.ADMIN)

    # -- context APIs -----------------------------------------------------------
    def open(self, ws: WorkspaceId) -> ContextAPI:
        """The context API of a live workspace (cached; refused once the workspace is deleted)."""
        info = self.info(ws)
        with self._lock:
            cached = self._cache.get(info.workspace_id)
            if cached is not None and cached[0] == info:
                self._cache.move_to_end(info.workspace_id)
                if self._on_cache is not None:
                    self._on_cache(True)
                return cached[1]
        if self._on_cache is not None:
            self._on_cache(False)
        api = ContextAPI(
            self.store,
            info.workspace_id,
            files=self._files(info) if self._files is not None else None,
            agents=self.agents,
            limits=self.limits,
            runtime=self.runtime,
            models=self.models,
        )
        with self._lock:
            self._cache[info.workspace_id] = (info, api)
            self._cache.move_to_end(info.workspace_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return api

    def _forget(self, ws: WorkspaceId) -> None:
        with self._lock:
            self._cache.pop(ws, None)
