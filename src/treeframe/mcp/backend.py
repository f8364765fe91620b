"""The MCP server's backend seam: one workspace, local (a store) or remote (a server).

Both backends drive the interface the CLI's commands already call, so the
MCP tools answer with the engine's own value types either way:
:class:`LocalBackend` a :class:`~treeframe.workspace.Workspace` and its
:class:`~treeframe.engine.context_api.ContextAPI` (acting as the local
owner, or as a registered agent), :class:`RemoteBackend` a
:class:`~treeframe.client.remote.RemoteWorkspace` over API v1 (the token's
agent acts; agents named in calls are not sent). Only the tree diff
differs: the engine's walk over the store, or the server's diff route.

Paths are workspace-relative (``""`` or ``"."`` is the root) or NodeIDs:
an MCP client has no current directory inside the workspace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from treeframe.client.remote import RemoteContextAPI, RemoteWorkspace
from treeframe.config.settings import Settings
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.diagnostics import diff_roots, resolve_root
from treeframe.engine.principal import Principal
from treeframe.engine.types import (
    NodeContext,
    PutResult,
    RegenerationReport,
    StaleReport,
    SynthesisResult,
)
from treeframe.frames.views import ViewPolicy
from treeframe.ids import FrameId
from treeframe.workspace import Workspace
from treeframe.workspace.workspace import frame_input

__all__ = ["Backend", "LocalBackend", "RemoteBackend"]

_VERSIONS = {"api_version", "schema_version"}
"""Envelope fields of a wire answer that the local ``diff --json`` shape does not have."""


class Backend(Protocol):
    """What the MCP tools need of a workspace; every method may raise a TreeframeError."""

    settings: Settings
    """The local settings: view defaults, synthesis defaults, limits."""

    def context(
        self, node: str, view: ViewPolicy, *, include_previous: bool
    ) -> tuple[NodeContext, dict[str, FrameId]]:
        """GetNode's bounded view of ``node`` and the node's heads by frame type."""
        ...

    def stale(self, node: str, *, recursive: bool) -> StaleReport:
        """Every stale (or incomplete) head frame in scope, and what was built on them."""
        ...

    def put(
        self,
        node: str,
        frame_type: str,
        content: bytes,
        *,
        agent: str | None,
        content_type: str,
        metadata: Mapping[str, str],
        basis_frame: FrameId | None,
    ) -> PutResult:
        """PutFrame on ``node``, based on the node (and ``basis_frame``)."""
        ...

    def synthesize(
        self,
        directory: str,
        frame_type: str,
        *,
        agent: str | None,
        policy: str,
        params: Mapping[str, object],
        recursive: bool,
        missing: str,
        output_type: str | None,
    ) -> SynthesisResult:
        """A directory's synthesis from its children's heads (``recursive``: bottom-up)."""
        ...

    def regenerate(
        self, node: str, *, recursive: bool, dry_run: bool, agents: bool = False
    ) -> RegenerationReport:
        """Recompute what the engine can of the stale frames in scope (``agents``: model agents' too)."""
        ...

    def diff(self, root_a: str, root_b: str) -> dict[str, Any]:
        """The tree diff of two roots in the ``treeframe diff --json`` shape."""
        ...

    def close(self) -> None:
        """Release the store or the client's connections."""
        ...


class _SessionBackend:
    """The methods both backends share: calls into the (local or remote) context API."""

    def __init__(
        self,
        api: ContextAPI | RemoteContextAPI,
        settings: Settings,
        principal: Principal,
    ) -> None:
        self.api = api
        self.settings = settings
        self.principal = principal

    def _acting(self, agent: str | None) -> Principal:
        """``agent`` (a registered one), or who the server runs as."""
        return self.principal if agent is None else self.api.agent_principal(agent)

    def context(
        self, node: str, view: ViewPolicy, *, include_previous: bool
    ) -> tuple[NodeContext, dict[str, FrameId]]:
        """GetNode's bounded view of ``node`` and the node's heads by frame type."""
        found = self.api.get_node(
            node, view, include_previous=include_previous, principal=self.principal
        )
        return found, self.api.heads(found.node_record.node_id, principal=self.principal)

    def stale(self, node: str, *, recursive: bool) -> StaleReport:
        """Every stale (or incomplete) head frame in scope, and what was built on them."""
        return self.api.stale(node, recursive=recursive, principal=self.principal)

    def put(
        self,
        node: str,
        frame_type: str,
        content: bytes,
        *,
        agent: str | None,
        content_type: str,
        metadata: Mapping[str, str],
        basis_frame: FrameId | None,
    ) -> PutResult:
        """PutFrame on ``node``, based on the node (and ``basis_frame``)."""
        principal = self._acting(agent)
        record = self.api.resolve(node, principal=self.principal)
        request = frame_input(record, frame_type, content, content_type, metadata, basis_frame)
        return self.api.put_frame_record(record.node_id, request, principal=principal)

    def synthesize(
        self,
        directory: str,
        frame_type: str,
        *,
        agent: str | None,
        policy: str,
        params: Mapping[str, object],
        recursive: bool,
        missing: str,
        output_type: str | None,
    ) -> SynthesisResult:
        """A directory's synthesis from its children's heads (``recursive``: bottom-up)."""
        return self.api.synthesize_branch(
            directory,
            frame_type,
            policy,
            principal=self._acting(agent),
            params=params,
            recursive=recursive,
            missing=missing,
            output_type=output_type,
        )

    def regenerate(
        self, node: str, *, recursive: bool, dry_run: bool, agents: bool = False
    ) -> RegenerationReport:
        """Recompute what the engine can of the stale frames in scope (``agents``: model agents' too)."""
        return self.api.regenerate(
            node, recursive=recursive, dry_run=dry_run, principal=self.principal, agents=agents
        )


class LocalBackend(_SessionBackend):
    """A workspace's store through its ContextAPI, as ``principal`` (the owner or ``--as``)."""

    def __init__(self, workspace: Workspace, principal: Principal) -> None:
        super().__init__(workspace.api, workspace.settings, principal)
        self.workspace = workspace

    def diff(self, root_a: str, root_b: str) -> dict[str, Any]:
        """The engine's diff walk between two roots of the root history."""
        store, ws = self.workspace.store, self.workspace.ws
        old = resolve_root(store, ws, root_a)
        new = resolve_root(store, ws, root_b)
        return diff_roots(store, ws, old.root, new.root).to_dict()

    def close(self) -> None:
        """Close the store."""
        self.workspace.close()


class RemoteBackend(_SessionBackend):
    """A server's workspace through the Python client; the token's agent acts."""

    def __init__(self, remote: RemoteWorkspace) -> None:
        super().__init__(remote.api, remote.settings, Principal.owner(remote.ws))
        self.remote = remote

    def diff(self, root_a: str, root_b: str) -> dict[str, Any]:
        """The server's diff route, in the local shape (without the version fields)."""
        answer = self.remote.client.diff(self.remote.ws, root_a, root_b)
        return answer.model_dump(mode="json", exclude=_VERSIONS)

    def close(self) -> None:
        """Close the client's connections."""
        self.remote.close()
