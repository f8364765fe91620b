"""The CLI's remote mode: a server workspace behind the interface its commands already call.

:class:`RemoteContextAPI` has the methods of
:class:`~treeframe.engine.context_api.ContextAPI` the commands use, with the
same signatures and the same engine value types, answered by API v1;
:class:`RemoteWorkspace` does the same for the few
:class:`~treeframe.workspace.Workspace` methods (``resolve``, ``view``,
``children``, ...) and store reads (``ws.store``) of the commands. So
``treeframe get --server URL`` runs the command's own formatting code on
values that came over HTTP, and prints what the local command prints.

The server decides who acts: the token's agent authors every write, and the
``principal`` arguments (which the CLI builds from ``--agent``/``--as``)
are not sent. Paths given relative to the current directory are resolved
against the local workspace directory when there is one (as locally),
otherwise taken as workspace-relative.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from treeframe.client.client import Client
from treeframe.client.convert import frame_context, frame_of, record_of, stale_frame
from treeframe.config.settings import Settings
from treeframe.engine.composition import ComposedContext, ComposedFrame, CompositionPolicy
from treeframe.engine.file_contents import FileContents, GivenFileContents, checked_file_bytes
from treeframe.engine.generation import GeneratedEntry, GenerateOptions, GenerateReport
from treeframe.engine.principal import Principal
from treeframe.engine.types import (
    FrameContext,
    FrameInput,
    NodeContext,
    PutResult,
    RegenerationReport,
    StaleReport,
    SynthesisResult,
)
from treeframe.errors import NodeNotFound, RegenerationFailed, SchemaValidationFailed
from treeframe.frames import merkle_set
from treeframe.frames.frame import DEFAULT_CONTENT_TYPE
from treeframe.frames.views import ViewPolicy
from treeframe.ids import FrameId, NodeId, WorkspaceId, parse_hex_id
from treeframe.observability.progress import ProgressFn
from treeframe.storage.values import NodeSetState
from treeframe.tree.paths import relative_path
from treeframe.tree.records import NodeRecord
from treeframe.wire.frames import FrameSpec
from treeframe.wire.nodes import BasisRecord, FrameView, Heads, NodeView, ViewSpec
from treeframe.wire.operations import (
    ComposeRequest,
    GenerateRequest,
    RegenerateRequest,
    SynthesizeRequest,
)
from treeframe.workspace.working_tree import WorkingTreeContents
from treeframe.workspace.workspace import frame_input

__all__ = ["RemoteContextAPI", "RemoteStoreView", "RemoteWorkspace", "view_spec"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_SENT_FILE = 8 << 20
"""Largest file whose bytes a remote ``generate`` sends (bigger ones are reported by the server)."""
_BATCH = 500
M = TypeVar("M", bound=BaseModel)


def _request(cls: type[M], **fields: Any) -> M:
    """``cls(**fields)``, a bad field being ``schema_validation_failed`` as the server says it."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        errors = tuple(
            {
                "field": ".".join(str(p) for p in e["loc"]),
                "location": "body",
                "message": e["msg"],
            }
            for e in exc.errors()
        )
        names = ", ".join(e["field"] or "body" for e in errors)
        raise SchemaValidationFailed(
            f"request does not match the schema: {names}", errors=errors
        ) from None


def view_spec(policy: ViewPolicy, include_previous: bool = False) -> ViewSpec:
    """The wire form of ``policy``: the server rebuilds exactly this policy from it.

    Its rule (and ``treeframe get``'s): ``priority`` ranks the ordering's
    field, and the type or agent filters rank the other one.
    """
    priority = {"type": policy.type_priority, "agent": policy.agent_priority}.get(
        policy.ordering, ()
    )
    return _request(
        ViewSpec,
        max_frames=policy.max_frames,
        ordering=policy.ordering,
        types=list(policy.types),
        agents=list(policy.agents),
        priority=list(priority),
        max_bytes=policy.max_bytes,
        include_previous=include_previous,
    )


def _context(view: NodeView) -> NodeContext:
    return NodeContext(
        record_of(view.node_record),
        tuple(frame_context(f) for f in view.frames),
        view.frame_count,
        view.truncated,
    )


class RemoteContextAPI:
    """The ContextAPI methods the CLI calls, over a :class:`Client` and one workspace ID."""

    def __init__(self, client: Client, ws: WorkspaceId) -> None:
        self.client = client
        self.ws = ws

    def agent_principal(self, agent_id: str) -> Principal:
        """A stand-in principal: over HTTP the token, not this, says who acts."""
        return Principal(agent_id, self.ws, frozenset())

    def resolve(self, node: str, *, principal: Principal) -> NodeRecord:
        """A NodeRecord by NodeID or workspace-relative path (the server's rule)."""
        if _HEX64.fullmatch(node):
            try:
                return record_of(self.client.get_node_record(self.ws, node))
            except NodeNotFound:
                pass  # a file may be named like a hash: try it as a path
        view = self.client.get_node_by_path(self.ws, node, view=ViewSpec(max_frames=1))
        return record_of(view.node_record)

    def get_node(
        self,
        node: str,
        view: ViewPolicy | None = None,
        *,
        include_previous: bool = False,
        principal: Principal,
    ) -> NodeContext:
        """GetNode: the record and a bounded view of its frames with ``stale`` flags."""
        spec = view_spec(view or ViewPolicy(), include_previous)
        if _HEX64.fullmatch(node):
            try:
                return _context(self.client.get_node(self.ws, node, view=spec))
            except NodeNotFound:
                pass
        return _context(self.client.get_node_by_path(self.ws, node, view=spec))

    def get_nodes_batch(
        self, nodes: Sequence[str], view: ViewPolicy | None = None, *, principal: Principal
    ) -> list[NodeContext]:
        """GetNode for many nodes, in order, in batches of 500."""
        spec = view_spec(view or ViewPolicy())
        out: list[NodeContext] = []
        for start in range(0, len(nodes), _BATCH):
            chunk = list(nodes[start : start + _BATCH])
            found = self.client.get_nodes_batch(self.ws, chunk, view=spec).nodes
            out.extend(_context(found[ref]) for ref in chunk)
        return out

    def heads(self, node: str, *, principal: Principal) -> dict[str, FrameId]:
        """The node's current frame of each type."""
        answer = self.client.get_heads(self.ws, self.resolve(node, principal=principal).node_id)
        return {t: FrameId(f) for t, f in answer.heads.items()}

    def get_frames_batch(
        self, frame_ids: Sequence[str], *, principal: Principal
    ) -> list[FrameContext]:
        """Frames with content and freshness by FrameID (order kept)."""
        out = []
        for fid in frame_ids:
            resource = self.client.get_frame(self.ws, fid, fresh=True)
            out.append(frame_context(FrameView.model_validate(resource.model_dump(by_alias=True))))
        return out

    def put_frame_record(self, node: str, frame: FrameInput, *, principal: Principal) -> PutResult:
        """PutFrame, authored by the token's agent; the frame as stored and whether it is new."""
        spec = _frame_spec(frame)
        result = self.client.put_frame(self.ws, node, spec)
        return PutResult(frame_of(result.frame), result.created)

    def put_frame(self, node: str, frame: FrameInput, *, principal: Principal) -> FrameId:
        """:meth:`put_frame_record`'s FrameID."""
        return self.put_frame_record(node, frame, principal=principal).frame_id

    def synthesize_branch(
        self,
        directory: str,
        frame_type: str,
        policy: str | None = None,
        *,
        principal: Principal,
        params: Mapping[str, object] | None = None,
        recursive: bool = False,
        missing: str | None = None,
        output_type: str | None = None,
    ) -> SynthesisResult:
        """Synthesis by the server, authored by the token's agent."""
        request = _request(
            SynthesizeRequest,
            node=directory,
            frame_type=frame_type,
            policy=policy,
            params=dict(params or {}),
            recursive=recursive,
            missing=missing,
            output_type=output_type,
        )
        answer = self.client.synthesize(self.ws, request)
        return SynthesisResult(
            tuple(frame_of(f) for f in answer.frames),
            tuple(answer.skipped),
            tuple(answer.without_inputs),
        )

    def stale(self, node: str, recursive: bool = False, *, principal: Principal) -> StaleReport:
        """Every stale head frame in scope."""
        answer = self.client.stale(self.ws, node, recursive=recursive)
        return StaleReport(NodeId(answer.node_id), tuple(stale_frame(f) for f in answer.frames))

    def regenerate(
        self,
        node: str,
        recursive: bool = False,
        dry_run: bool = False,
        *,
        principal: Principal,
        progress: ProgressFn | None = None,
        agents: bool = False,
    ) -> RegenerationReport:
        """Regeneration by the server (``dry_run``: what it would do; ``agents``: model agents too).

        ``progress`` (the local signature's) sees only the end of phase
        ``frames``, from the report: one synchronous request shows nothing
        in between.
        """
        request = RegenerateRequest(node=node, recursive=recursive, dry_run=dry_run, agents=agents)
        answer = self.client.regenerate(self.ws, request)
        if progress is not None:
            progress("frames", answer.regenerated_count, answer.regenerated_count)
        return RegenerationReport(
            node_id=NodeId(answer.node_id),
            regenerated_count=answer.regenerated_count,
            frame_ids=tuple(FrameId(f) for f in answer.frame_ids),
            stale_unrecomputable=tuple(stale_frame(f) for f in answer.stale_unrecomputable),
            duration_ms=answer.duration_ms,
            dry_run=answer.dry_run,
        )

    def generate(
        self,
        node: str,
        options: GenerateOptions,
        *,
        principal: Principal,
        progress: ProgressFn | None = None,
        files: FileContents | None = None,
    ) -> GenerateReport:
        """Generation by the server, as the token's agent, with its providers.

        The server has no tree: ``files`` (a :class:`GivenFileContents`, see
        :meth:`RemoteWorkspace.scope_contents`) are sent along. ``progress``
        sees only the end of each phase.
        """
        given = files.contents if isinstance(files, GivenFileContents) else {}
        request = GenerateRequest(
            node=node,
            frame_type=options.frame_type,
            recursive=options.recursive,
            dry_run=options.dry_run,
            force=options.force,
            directories=options.directories,  # type: ignore[arg-type]
            contents={path: base64.b64encode(data).decode("ascii") for path, data in given.items()},
        )
        answer = self.client.generate(self.ws, request)
        report = GenerateReport(
            node_id=NodeId(answer.node_id),
            agent_id=answer.agent_id,
            provider=answer.provider,
            model=answer.model,
            frame_type=answer.frame_type,
            dry_run=answer.dry_run,
            entries=tuple(
                GeneratedEntry(
                    path=e.path,
                    node_id=NodeId(e.node_id),
                    kind=e.kind,
                    status=e.status,
                    frame_id=FrameId(e.frame_id) if e.frame_id else None,
                    reason=e.reason,
                    code=e.code or "",
                    input_tokens=e.input_tokens,
                    output_tokens=e.output_tokens,
                )
                for e in answer.entries
            ),
            cost=answer.cost,
            duration_ms=answer.duration_ms,
        )
        if progress is not None:
            progress("files", answer.generated, answer.generated)
        return report

    def compose(
        self, node: str, policy: CompositionPolicy, *, principal: Principal
    ) -> ComposedContext:
        """Composition by the server; it rebuilds ``policy`` from the request."""
        ranked = policy.agent_priority if policy.ordering == "agent" else policy.type_priority
        request = _request(
            ComposeRequest,
            node=node,
            sources=list(policy.sources),
            related=list(policy.related),
            types=list(policy.types),
            agents=list(policy.agents),
            ordering=policy.ordering,
            priority=list(ranked),
            max_frames=policy.max_frames,
        )
        answer = self.client.compose(self.ws, request)
        frames = tuple(
            ComposedFrame(f.source, f.path, f.score, frame_context(f)) for f in answer.frames
        )
        return ComposedContext(answer.node_id, frames, answer.candidates)


def _frame_spec(frame: FrameInput) -> FrameSpec:
    """The wire form of a frame to put (text when the content is UTF-8, else base64)."""
    fields: dict[str, Any] = {
        "frame_type": frame.frame_type,
        "content_type": frame.content_type,
        "metadata": dict(frame.metadata),
    }
    if frame.basis is not None:
        fields["basis"] = _request(BasisRecord, **frame.basis.to_dict())
    try:
        fields["content"] = frame.content.decode("utf-8")
    except UnicodeDecodeError:
        fields["content_b64"] = base64.b64encode(frame.content).decode("ascii")
    return _request(FrameSpec, **fields)


class RemoteStoreView:
    """The store reads the commands make (``ws.store.…``), answered by the node routes.

    Heads answers are kept for the life of the view (one command), so
    ``treeframe node`` asks for a node's frame set and heads once.
    """

    def __init__(self, client: Client, ws: WorkspaceId) -> None:
        self.client = client
        self.ws = ws
        self._heads: dict[str, Heads] = {}

    def heads_of(self, node_id: str) -> Heads:
        """The heads answer of a node (cached)."""
        if node_id not in self._heads:
            self._heads[node_id] = self.client.get_heads(self.ws, node_id)
        return self._heads[node_id]

    def get_node(self, ws: WorkspaceId, node_id: NodeId) -> NodeRecord | None:
        """The record a NodeID names, or None."""
        try:
            return record_of(self.client.get_node_record(ws, node_id))
        except NodeNotFound:
            return None

    def lookup_path(self, ws: WorkspaceId, path: str) -> NodeId | None:
        """The NodeID at ``path`` in the current root, or None."""
        try:
            view = self.client.get_node_by_path(ws, path, view=ViewSpec(max_frames=1))
        except NodeNotFound:
            return None
        return NodeId(view.node_id)

    def get_frame_set(self, ws: WorkspaceId, node_id: NodeId) -> NodeSetState | None:
        """The node's frame-set root and count, or None when it has no frame."""
        answer = self.heads_of(node_id)
        if answer.frame_set_root is None:
            return None
        return NodeSetState(answer.frame_set_root, answer.frame_count)

    def get_frame_sets(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, NodeSetState]:
        """:meth:`get_frame_set` of many nodes (the nodes without frames left out)."""
        found = {n: self.get_frame_set(ws, n) for n in dict.fromkeys(node_ids)}
        return {n: state for n, state in found.items() if state is not None}


class RemoteWorkspace:
    """A server's workspace with the Workspace interface the CLI commands use.

    ``root`` is the local workspace directory the command runs in, if any:
    paths relative to the current directory are resolved against it as
    locally. ``settings`` are the local ones (view defaults, limits), so a
    command builds the same request it would build locally.
    """

    def __init__(
        self,
        client: Client,
        ws: WorkspaceId,
        *,
        name: str,
        settings: Settings,
        root: Path | None = None,
    ) -> None:
        self.client = client
        self.ws = ws
        self.name = name
        self.settings = settings
        self.root = root
        self.api = RemoteContextAPI(client, ws)
        self.store = RemoteStoreView(client, ws)
        self._owner = Principal.owner(ws)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def __enter__(self) -> RemoteWorkspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def path_of(self, target: str, cwd: Path | None = None) -> str:
        """Workspace-relative path of ``target``: from ``cwd`` inside a local workspace, else as given."""
        if self.root is not None:
            return relative_path(self.root, target, cwd=cwd)
        return "/".join(part for part in target.split("/") if part not in ("", "."))

    def resolve(self, ref: str, cwd: Path | None = None) -> NodeRecord:
        """The node named by ``ref``: a NodeID when such a node exists, else a path."""
        if _HEX64.fullmatch(ref):
            record = self.store.get_node(self.ws, NodeId(ref))
            if record is not None:
                return record
        return self.api.resolve(self.path_of(ref, cwd), principal=self._owner)

    def scope_contents(self, record: NodeRecord, recursive: bool) -> GivenFileContents:
        """The local bytes of the scope's files that match the server's records (for ``generate``).

        The server's tree says which files are in scope; a local file whose
        bytes differ from the pushed record (or that is missing, or larger
        than :data:`MAX_SENT_FILE`) is not sent, and the server reports it.
        """
        if self.root is None:
            return GivenFileContents({})
        local = WorkingTreeContents(self.root)
        found: dict[str, bytes] = {}
        pending = [record]
        while pending:
            current = pending.pop()
            if current.kind == "dir" and (recursive or current is record):
                pending.extend(self.children(current) if recursive else [])
                continue
            if current.kind != "file" or current.size > MAX_SENT_FILE:
                continue
            try:
                found[current.path] = checked_file_bytes(local, current)
            except RegenerationFailed:
                continue
        return GivenFileContents(found)

    def children(self, record: NodeRecord) -> list[NodeRecord]:
        """Child records of a directory in name order (batched reads)."""
        ids = [child for _, child in record.children]
        contexts = self.api.get_nodes_batch(ids, ViewPolicy(max_frames=1), principal=self._owner)
        return [c.node_record for c in contexts]

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
        """Put a frame on ``node`` (basis: the node, or the node and ``basis_frame``)."""
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
        return {t: FrameId(f) for t, f in self.store.heads_of(node.node_id).heads.items()}

    def prove(self, node: NodeRecord, frame_id: str) -> tuple[merkle_set.MembershipProof, str]:
        """The server's membership proof and set root (the command verifies it here)."""
        fid = FrameId(parse_hex_id(frame_id, "FrameID"))
        answer = self.client.get_proof(self.ws, node.node_id, fid)
        proof = merkle_set.MembershipProof.from_dict(
            {"frame_id": answer.frame_id, "steps": [s.model_dump() for s in answer.steps]}
        )
        return proof, answer.root
