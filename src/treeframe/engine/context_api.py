"""ContextAPI: the library contract of one workspace, which the REST API exposes one-to-one.

Stateless between calls: every call reads what it needs from the store.
Nothing is synthesized or regenerated implicitly. Nodes are addressed by
NodeID or by path in the current root. Every frame served carries ``stale``.

Every operation is authorized first, in one place (``_authorize``, which
calls :func:`~treeframe.engine.principal.authorize`): reads need ``read``,
puts ``write``, synthesis ``write`` and ``synthesize``, regeneration
``synthesize``, agent registration ``admin``. Every method takes the
caller as a required ``principal`` (a
:class:`~treeframe.engine.principal.Principal`), never as a bare agent ID:
the edge builds it — the CLI from the local agent registry
(:meth:`ContextAPI.agent_principal`, or ``Principal.owner``), the REST layer
from a token. Frames are authored by the principal's agent.

Every write is audited (:mod:`treeframe.engine.audit`): an accepted one
commits with its audit entry in one unit of work, a refused one (any
TreeframeError from the write method, an authorization refusal included)
appends a refused entry after its change rolled back. Synthesis and
regeneration compute outside any transaction and wrap each frame write.

Per-process state (the clock, synthesis locks, plugin registries) comes from
a :class:`~treeframe.engine.runtime.Runtime`; without one, the process default.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from treeframe.engine.agents import AgentRecord, AgentRegistry
from treeframe.engine.audit import (
    Auditor,
    AuditReport,
    AuditSession,
    Operation,
    verify_workspace,
)
from treeframe.engine.composition import ComposedContext, CompositionPolicy, compose
from treeframe.engine.contents import verified_contents
from treeframe.engine.file_contents import FileContents, NoFileContents
from treeframe.engine.freshness import INCOMPLETE_KEY, Freshness
from treeframe.engine.generation import FrameGenerator, GenerateOptions, GenerateReport
from treeframe.engine.models import ModelAgents
from treeframe.engine.principal import Permission, Principal, authorize
from treeframe.engine.regeneration import Regenerator, find_stale
from treeframe.engine.runtime import Runtime, default_runtime
from treeframe.engine.synthesis import Synthesizer
from treeframe.engine.types import (
    FrameContext,
    FrameInput,
    NodeContext,
    PutResult,
    RegenerationReport,
    StaleReport,
    SynthesisResult,
)
from treeframe.errors import (
    AccessDenied,
    FrameNotFound,
    InvalidFrame,
    InvalidRequest,
    InvalidViewPolicy,
    NodeNotFound,
    TreeframeError,
)
from treeframe.frames import merkle_set
from treeframe.frames.frame import DEFAULT_MAX_CONTENT_BYTES, Basis, Frame, new_frame
from treeframe.frames.views import HARD_MAX_FRAMES, ViewPolicy, select_view
from treeframe.ids import FrameId, NodeId, WorkspaceId, parse_hex_id
from treeframe.observability import events, tracing
from treeframe.observability.progress import ProgressFn
from treeframe.storage.base import AuditEntry, StorageBackend
from treeframe.storage.values import ANY_HEAD, AnyHead
from treeframe.tree.paths import normalize_path
from treeframe.tree.records import NodeRecord

__all__ = ["ContextAPI", "EngineLimits"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_AUDIT_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """Operator limits (from configuration), never chosen by the caller."""

    hard_max_frames: int = HARD_MAX_FRAMES
    max_frame_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    max_batch: int = 1000
    path_history: int = 16
    max_children: int = 10_000
    """Largest directory a synthesis reads (more children fail with ``synthesis_failed``)."""
    summary_max_bytes: int = 4096
    """``max_bytes`` of the ``summary`` policy when the request does not give one."""
    max_prompt_file_bytes: int = 32 * 1024
    """Most bytes of a file a model agent is shown (``generate.max_file_bytes``)."""


class ContextAPI:
    """get_node / put_frame / batches / synthesis / regeneration / composition for one workspace."""

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        *,
        files: FileContents | None = None,
        agents: Mapping[str, AgentRecord] | None = None,
        limits: EngineLimits | None = None,
        runtime: Runtime | None = None,
        models: ModelAgents | None = None,
    ) -> None:
        self.store = store
        self.ws = ws
        self.files = files or NoFileContents()
        self.limits = limits or EngineLimits()
        self.models = models or ModelAgents()
        """Which provider and prompts each agent generates with (default: all offline)."""
        self.agents = AgentRegistry(store, ws, agents)
        self.runtime = runtime or default_runtime()
        self.auditor = Auditor(store, self.runtime.clock)

    # -- authorization ----------------------------------------------------------
    def agent_principal(self, agent_id: str) -> Principal:
        """The principal acting as the registered agent ``agent_id`` with its current role.

        For edges that trust the local registry (the CLI's ``--as``/``--agent``).
        Unauthorized for an agent that is not registered.
        """
        if not isinstance(agent_id, str):
            raise TypeError(f"an agent ID is a str, not {type(agent_id).__name__}")
        return self.agents.principal(agent_id)

    def _authorize(self, principal: Principal, *needed: Permission) -> Principal:
        """``principal`` if it is one of this workspace holding every permission.

        TypeError for anything but a Principal (a bare agent ID is no proof of
        identity; Python and REST callers are not type-checked), AccessDenied
        for one of another workspace or without a permission.
        """
        if not isinstance(principal, Principal):
            raise TypeError(
                f"principal must be a Principal, not {type(principal).__name__} "
                "(build one with ContextAPI.agent_principal or Principal.owner)"
            )
        if principal.workspace != self.ws:
            raise AccessDenied(f"{principal} belongs to another workspace")
        for permission in needed:
            authorize(principal, permission)
        return principal

    def _author(self, principal: Principal, *needed: Permission) -> str:
        """The agent ID a writing principal authors frames as (the owner authors nothing)."""
        self._authorize(principal, *needed)
        if principal.agent_id is None:
            raise AccessDenied("frames are authored by a registered agent, not the local owner")
        return principal.agent_id

    def register_agent(self, record: AgentRecord, *, principal: Principal) -> AgentRecord:
        """Add or replace an agent's registration (needs ``admin``)."""
        with self.auditor.session(Operation.AGENT_REGISTER, principal, workspace=self.ws) as audit:
            self._authorize(principal, Permission.ADMIN)
            return audit.write(lambda: self.agents.register(record))

    def list_agents(self, *, principal: Principal) -> list[AgentRecord]:
        """Every agent, registered or configured, sorted by ID."""
        self._authorize(principal, Permission.READ)
        return self.agents.list()

    def get_agent(self, agent_id: str, *, principal: Principal) -> AgentRecord | None:
        """One agent's registration, or None."""
        self._authorize(principal, Permission.READ)
        return self.agents.get(agent_id)

    # -- audit ------------------------------------------------------------------
    def audit_log(
        self,
        *,
        principal: Principal,
        after: int | None = None,
        limit: int = 100,
        agent: str | None = None,
        operation: str | None = None,
        node: str | None = None,
    ) -> list[AuditEntry]:
        """A keyset page of the workspace's audit entries by seq (needs ``admin``)."""
        self._authorize(principal, Permission.ADMIN)
        if not 1 <= limit <= _MAX_AUDIT_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {_MAX_AUDIT_PAGE}")
        if operation is not None and operation not in {str(op) for op in Operation}:
            raise InvalidRequest(f"unknown audit operation {operation!r}")
        return self.store.list_audit(
            self.ws, after_seq=after, limit=limit, agent=agent, operation=operation, node=node
        )

    def verify_audit(self, *, principal: Principal, head: str | None = None) -> AuditReport:
        """Recompute the workspace's audit chain (needs ``admin``); see :func:`verify_chain`."""
        self._authorize(principal, Permission.ADMIN)
        return verify_workspace(self.store, self.ws, head=head)

    # -- addressing -----------------------------------------------------------
    def resolve(self, node: str, *, principal: Principal) -> NodeRecord:
        """A NodeRecord by NodeID (64 hex) or by workspace-relative path in the current root.

        A 64-hex string is a NodeID when such a node exists, otherwise a path;
        ``""`` and ``"."`` name the root. Needs ``read``.
        """
        self._authorize(principal, Permission.READ)
        return self._resolve(node)

    def _resolve(self, node: str) -> NodeRecord:
        if _HEX64.fullmatch(node):
            record = self.store.get_node(self.ws, NodeId(node))
            if record is not None:
                return record
        path = normalize_path(node)
        node_id = self.store.lookup_path(self.ws, path)
        record = self.store.get_node(self.ws, node_id) if node_id else None
        if record is None:
            raise NodeNotFound(f"no node with ID or path {node!r} in this workspace")
        return record

    # -- reads ----------------------------------------------------------------
    def get_node(
        self,
        node: str,
        view: ViewPolicy | None = None,
        *,
        include_previous: bool = False,
        principal: Principal,
    ) -> NodeContext:
        """The node's record and a bounded view of its frames, each marked fresh or stale.

        ``include_previous`` (reads by path) adds the head frames of the path's
        previous NodeIDs (newest first, one per frame type not already present),
        always marked stale, within the same ``max_frames`` bound.
        """
        self._authorize(principal, Permission.READ)
        record = self._resolve(node)
        return self._node_context(
            record, view or ViewPolicy(), include_previous, Freshness(self.store, self.ws)
        )

    def get_nodes_batch(
        self, nodes: Sequence[str], view: ViewPolicy | None = None, *, principal: Principal
    ) -> list[NodeContext]:
        """GetNode for many nodes in one call (order kept; unknown nodes raise NodeNotFound).

        The default recency view is served with a constant number of store
        queries for the whole batch (records, frame sets, newest frames per
        node, path currency, contents); filtered views fall back to one view
        query per node.
        """
        self._authorize(principal, Permission.READ)
        self._check_batch(len(nodes))
        policy = view or ViewPolicy()
        records = self._resolve_many(nodes)
        freshness = Freshness(self.store, self.ws)
        freshness.seed(records)
        simple = (
            policy.ordering == "recency"
            and not policy.types
            and not policy.agents
            and policy.max_bytes is None
        )
        if not simple:
            return [self._node_context(r, policy, False, freshness) for r in records]
        if policy.max_frames > self.limits.hard_max_frames:
            raise InvalidViewPolicy(
                f"max_frames must be between 1 and {self.limits.hard_max_frames}, "
                f"got {policy.max_frames}"
            )
        ids = [r.node_id for r in records]
        sets = self.store.get_frame_sets(self.ws, ids)
        recent = self.store.recent_frames(self.ws, ids, policy.max_frames + 1)
        contents = verified_contents(
            self.store,
            self.ws,
            [f for frames in recent.values() for f in frames[: policy.max_frames]],
        )
        out = []
        for record in records:
            frames = recent.get(record.node_id, [])
            state = sets.get(record.node_id)
            served = tuple(
                freshness.serve(f, contents[f.content_hash]) for f in frames[: policy.max_frames]
            )
            out.append(
                NodeContext(
                    record, served, state.count if state else 0, len(frames) > policy.max_frames
                )
            )
        return out

    def _resolve_many(self, nodes: Sequence[str]) -> list[NodeRecord]:
        """Resolve references in order with batched lookups (IDs, then paths)."""
        by_id = self.store.get_nodes(self.ws, [NodeId(n) for n in nodes if _HEX64.fullmatch(n)])
        pending = [n for n in nodes if n not in by_id]
        by_path: dict[str, NodeRecord] = {}
        if pending:
            ids = self.store.lookup_paths(self.ws, pending)
            found = self.store.get_nodes(self.ws, list(ids.values()))
            by_path = {p: found[i] for p, i in ids.items() if i in found}
        return [by_id.get(NodeId(n)) or by_path.get(n) or self._resolve(n) for n in nodes]

    def get_frames_batch(
        self, frame_ids: Sequence[str], *, principal: Principal
    ) -> list[FrameContext]:
        """Frames with content and freshness by FrameID (order kept; unknown IDs raise)."""
        self._authorize(principal, Permission.READ)
        self._check_batch(len(frame_ids))
        ids = [FrameId(parse_hex_id(f, "FrameID")) for f in frame_ids]
        frames = self.store.get_frames(self.ws, ids)
        missing = [f for f in ids if f not in frames]
        if missing:
            raise FrameNotFound(f"no frame {missing[0]} in this workspace")
        contents = verified_contents(self.store, self.ws, [frames[f] for f in ids])
        freshness = Freshness(self.store, self.ws)
        return [freshness.serve(frames[f], contents[frames[f].content_hash]) for f in ids]

    def heads(self, node: str, *, principal: Principal) -> dict[str, FrameId]:
        """The node's current frame of each type (the last put or synthesis), by type."""
        self._authorize(principal, Permission.READ)
        node_id = self._resolve(node).node_id
        return self.store.get_heads_many(self.ws, [node_id]).get(node_id, {})

    def _check_batch(self, n: int) -> None:
        if n > self.limits.max_batch:
            raise InvalidRequest(f"batch of {n} exceeds the limit of {self.limits.max_batch}")

    def _node_context(
        self, record: NodeRecord, policy: ViewPolicy, include_previous: bool, freshness: Freshness
    ) -> NodeContext:
        freshness.seed([record])
        view = select_view(
            self.store, self.ws, record.node_id, policy, hard_cap=self.limits.hard_max_frames
        )
        frames = list(view.frames)
        previous: list[Frame] = []
        if include_previous and len(frames) < policy.max_frames:
            previous = self._previous_heads(record, policy, {f.frame_type for f in frames})
            previous = previous[: policy.max_frames - len(frames)]
        contents = verified_contents(self.store, self.ws, [*frames, *previous])
        served = [freshness.serve(f, contents[f.content_hash]) for f in frames]
        served += [freshness.serve(f, contents[f.content_hash], previous=True) for f in previous]
        return NodeContext(record, tuple(served), view.frame_count, view.truncated)

    def _previous_heads(
        self, record: NodeRecord, policy: ViewPolicy, have: set[str]
    ) -> list[Frame]:
        """Heads of the path's earlier NodeIDs, newest version first, one per type."""
        seen = set(have)
        out: list[Frame] = []
        for _seq, old in self.store.path_history(self.ws, record.path, self.limits.path_history):
            if old == record.node_id:
                continue
            heads = self.store.get_heads_many(self.ws, [old]).get(old, {})
            wanted = [
                fid
                for t, fid in sorted(heads.items())
                if t not in seen and (not policy.types or t in policy.types)
            ]
            frames = self.store.get_frames(self.ws, wanted)
            for fid in wanted:
                frame = frames.get(fid)
                if frame is not None and (not policy.agents or frame.agent_id in policy.agents):
                    out.append(frame)
                    seen.add(frame.frame_type)
        return out

    # -- writes ---------------------------------------------------------------
    def put_frame(self, node: str, frame: FrameInput, *, principal: Principal) -> FrameId:
        """Put a frame authored by the principal's agent (a writer or synthesis agent).

        Idempotent, and the frame becomes current.
        """
        return self.put_frame_record(node, frame, principal=principal).frame_id

    def put_frame_record(
        self,
        node: str,
        frame: FrameInput,
        *,
        principal: Principal,
        expected_head: FrameId | AnyHead | None = ANY_HEAD,
    ) -> PutResult:
        """:meth:`put_frame`, returning the stored frame and whether it is new.

        Putting a stored FrameID again makes it its (node, type) head and the
        most recent frame in recency order (``created`` False, stored
        metadata); putting the current head again changes nothing.
        ``expected_head`` makes the put a compare-and-set on the (node, type)
        head (None: no head yet), as the store's ``append_frame`` does:
        ConcurrentUpdate, nothing written, when the head is another frame.
        Audited as ``frame.put``: the blob, the frame and the entry are one unit.
        """
        with self.auditor.session(Operation.FRAME_PUT, principal, workspace=self.ws) as audit:
            audit.node = node if _HEX64.fullmatch(node or "") else None
            return self._put_frame(node, frame, principal, audit.write, expected_head)

    def lock_for_puts(self, nodes: Sequence[str], *, principal: Principal) -> None:
        """Inside a unit of work about to put frames on ``nodes``: take their write locks now.

        For a store whose appends lock per node (PostgreSQL's ``lock_nodes``):
        a batch that took them one put at a time, each holding the audit lock
        to commit, could deadlock with a concurrent put on a node it reaches
        later. Others need nothing. A reference that names no node is left to
        the put, which reports it; so is a principal without ``write`` (no
        lock is taken for it, and its refused puts are audited as usual).
        """
        lock = getattr(self.store, "lock_nodes", None)
        if lock is None or principal.workspace != self.ws:
            return
        if Permission.WRITE not in principal.permissions:
            return
        found: list[NodeId] = []
        for node in nodes:
            try:
                found.append(self._resolve(node).node_id)
            except (NodeNotFound, InvalidRequest):  # a bad path too
                continue
        lock(self.ws, found)

    def _put_frame(
        self,
        node: str,
        frame: FrameInput,
        principal: Principal,
        write: Callable[..., PutResult],
        expected_head: FrameId | AnyHead | None,
    ) -> PutResult:
        author = self._author(principal, Permission.WRITE)
        if INCOMPLETE_KEY in frame.metadata:
            raise InvalidRequest(f"metadata key {INCOMPLETE_KEY!r} is reserved for the engine")
        record = self._resolve(node)
        basis = frame.basis or Basis.node(record.node_id)
        self._check_basis(basis)
        built = new_frame(
            record.node_id,
            frame.frame_type,
            author,
            frame.content,
            basis=basis,
            content_type=frame.content_type,
            metadata=frame.metadata,
            max_content_bytes=self.limits.max_frame_bytes,
        )

        def store() -> PutResult:
            # Content first (verified by its hash), then the record that names it.
            self.store.blobs.put(self.ws, built.content_hash, frame.content)
            stored = self.store.append_frame(
                self.ws,
                built,
                merkle_set.root_of_raw,
                self.runtime.clock.now(),
                expected_head=expected_head,
            )
            return PutResult(stored.frame, stored.created)

        return write(store, target=lambda r: (r.frame.node_id, r.frame.frame_id))

    def _check_basis(self, basis: Basis) -> None:
        """Every node and frame a basis names must exist in this workspace."""
        if basis.node_id is not None and self.store.get_node(self.ws, basis.node_id) is None:
            raise InvalidFrame(f"basis node {basis.node_id} is not in this workspace")
        refs = [f for f in (basis.frame_id, *basis.child_frames) if f is not None]
        if refs:
            found = self.store.get_frames(self.ws, refs)
            missing = [f for f in refs if f not in found]
            if missing:
                raise InvalidFrame(f"basis frame {missing[0]} is not in this workspace")

    # -- synthesis, staleness, regeneration, composition ----------------------
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
        """Synthesize a directory (or, recursively, its subtree bottom-up) from child heads.

        The frames are authored by the principal's agent. Audited as
        ``branch.synthesize``: one entry per frame written (each in the
        transaction of its write), one refused entry if the request fails.
        """
        with self.auditor.session(
            Operation.BRANCH_SYNTHESIZE, principal, workspace=self.ws
        ) as audit:
            author = self._author(principal, Permission.WRITE, Permission.SYNTHESIZE)
            record = self._resolve(directory)
            audit.node = record.node_id
            synth = Synthesizer(
                self.store,
                self.ws,
                self.limits.max_frame_bytes,
                self.limits.max_children,
                runtime=self.runtime,
                audit=audit,
            )
            with tracing.span("treeframe.synthesize", node=record.node_id, recursive=recursive):
                result = self._synthesize(
                    synth,
                    record,
                    frame_type,
                    author,
                    policy,
                    params,
                    recursive=recursive,
                    missing=missing,
                    output_type=output_type,
                )
        events.emit(
            "synthesis",
            workspace=self.ws,
            agent=author,
            node=record.node_id,
            path=record.path,
            frame_type=frame_type,
            policy=policy or "concat",
            recursive=recursive,
            frames=len(result.frames),
        )
        return result

    def _synthesize(
        self,
        synth: Synthesizer,
        record: NodeRecord,
        frame_type: str,
        author: str,
        policy: str | None,
        params: Mapping[str, object] | None,
        *,
        recursive: bool,
        missing: str | None,
        output_type: str | None,
    ) -> SynthesisResult:
        chosen = policy or "concat"
        request = dict(params or {})
        if chosen == "summary":
            request.setdefault("max_bytes", self.limits.summary_max_bytes)
        return synth.run(
            record,
            frame_type,
            author,
            chosen,
            request,
            recursive=recursive,
            missing=missing or "skip",
            output_type=output_type,
        )

    def stale(self, node: str, recursive: bool = False, *, principal: Principal) -> StaleReport:
        """Every stale head frame in scope, plus frames up the chain that were built on them."""
        self._authorize(principal, Permission.READ)
        record = self._resolve(node)
        frames = find_stale(
            self.store, self.ws, record, recursive, self.limits.path_history, self.agents
        )
        return StaleReport(record.node_id, tuple(frames))

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
        """Recompute the stale frames the engine can recompute, within the requested scope.

        With ``agents``, frames model agents wrote (``generate``) are redone
        too, by asking each one's provider again (a dry run asks none and
        reports them); without it they are reported as needing their agent.

        Needs ``synthesize`` (a dry run only reads: ``read``). Each rebuilt frame
        keeps its author, so it is rebuilt only while that agent still holds
        what authoring it needs (``write``, and ``synthesize`` for a
        synthesis); otherwise it is reported as needing its agent. A real
        run is audited as ``frames.regenerate`` (one entry per frame written,
        or one for a run that had nothing to write); a dry run is not.
        ``progress`` sees phases ``nodes`` and ``frames``
        (:meth:`Regenerator.run <treeframe.engine.regeneration.Regenerator.run>`).
        """
        if dry_run:
            return self._regenerate(node, recursive, True, principal, None, progress, agents)
        with self.auditor.session(
            Operation.FRAMES_REGENERATE, principal, workspace=self.ws
        ) as audit:
            audit.node = node if _HEX64.fullmatch(node or "") else None
            return self._regenerate(node, recursive, False, principal, audit, progress, agents)

    def _regenerate(
        self,
        node: str,
        recursive: bool,
        dry_run: bool,
        principal: Principal,
        audit: AuditSession | None,
        progress: ProgressFn | None,
        agents: bool,
    ) -> RegenerationReport:
        self._authorize(principal, Permission.READ if dry_run else Permission.SYNTHESIZE)
        started = time.perf_counter()
        record = self._resolve(node)
        if audit is not None:
            audit.node = record.node_id
        regen = Regenerator(
            self.store,
            self.ws,
            self.agents,
            self.limits.path_history,
            self.limits.max_frame_bytes,
            self.files,
            runtime=self.runtime,
            max_children=self.limits.max_children,
            audit=audit,
            models=self.models if agents else None,
            max_file_bytes=self.limits.max_prompt_file_bytes,
        )
        with tracing.span("treeframe.regenerate", node=record.node_id, recursive=recursive):
            frame_ids, unrecomputable = regen.run(
                record, recursive=recursive, dry_run=dry_run, progress=progress
            )
        report = RegenerationReport(
            node_id=record.node_id,
            regenerated_count=len(frame_ids),
            frame_ids=tuple(frame_ids),
            stale_unrecomputable=tuple(unrecomputable),
            duration_ms=int((time.perf_counter() - started) * 1000),
            dry_run=dry_run,
        )
        current = None
        if events.listening():  # the root it ran at, for the log; never fails the write
            with contextlib.suppress(TreeframeError):
                current = self.store.current_root(self.ws)
        events.emit(
            "regeneration",
            workspace=self.ws,
            agent=principal.agent_id,
            node=record.node_id,
            path=record.path,
            root=current.root if current is not None else None,
            recursive=recursive,
            dry_run=dry_run,
            regenerated=report.regenerated_count,
            needs_agent=len(unrecomputable),
            duration_ms=report.duration_ms,
        )
        return report

    def generate(
        self,
        node: str,
        options: GenerateOptions,
        *,
        principal: Principal,
        progress: ProgressFn | None = None,
        files: FileContents | None = None,
    ) -> GenerateReport:
        """Frames from the principal's model agent for the node (its subtree when recursive).

        Needs ``write`` (a dry run: ``read``), and ``synthesize`` for
        directory frames (without it they are skipped and said so); the owner
        authors nothing. Files need their bytes: ``files`` if given, else the
        API's own (a caller without a tree gets them reported as failed).
        Audited as ``frames.generate`` (one entry per frame written); a dry
        run asks no model and writes nothing. See
        :mod:`treeframe.engine.generation`.
        """
        source = files or self.files
        if options.dry_run:
            return self._generate(node, options, principal, None, progress, source)
        with self.auditor.session(Operation.FRAMES_GENERATE, principal, workspace=self.ws) as audit:
            audit.node = node if _HEX64.fullmatch(node or "") else None
            return self._generate(node, options, principal, audit, progress, source)

    def _generate(
        self,
        node: str,
        options: GenerateOptions,
        principal: Principal,
        audit: AuditSession | None,
        progress: ProgressFn | None,
        files: FileContents,
    ) -> GenerateReport:
        author = self._author(principal, Permission.READ if options.dry_run else Permission.WRITE)
        record = self._resolve(node)
        if audit is not None:
            audit.node = record.node_id
        registered = self.agents.get(author)
        model = self.models.resolve(author, registered.provider if registered else None)
        synth = Synthesizer(
            self.store,
            self.ws,
            self.limits.max_frame_bytes,
            self.limits.max_children,
            runtime=self.runtime,
            audit=audit,
        )

        def summary(directory: NodeRecord) -> tuple[Frame, bytes] | None:
            policy = self.runtime.policies.get("summary")
            params = policy.check_params({"max_bytes": self.limits.summary_max_bytes})
            frame, content, _ = synth.build(
                directory, options.frame_type, options.frame_type, author, policy, params, "skip"
            )
            return None if directory.children and not frame.basis.child_frames else (frame, content)

        generator = FrameGenerator(
            self.store,
            self.ws,
            model,
            files,
            synth,
            options,
            may_synthesize=Permission.SYNTHESIZE in principal.permissions,
            max_bytes=self.limits.max_frame_bytes,
            summary=summary,
        )
        with tracing.span("treeframe.generate", node=record.node_id, recursive=options.recursive):
            report = generator.run(record, progress)
        events.emit(
            "generation",
            workspace=self.ws,
            agent=author,
            node=record.node_id,
            path=record.path,
            provider=report.provider,
            model=report.model,
            frame_type=options.frame_type,
            recursive=options.recursive,
            dry_run=options.dry_run,
            generated=report.count("generated"),
            failed=report.count("failed"),
            input_tokens=report.input_tokens,
            output_tokens=report.output_tokens,
            duration_ms=report.duration_ms,
        )
        return report

    def compose(
        self, node: str, policy: CompositionPolicy, *, principal: Principal
    ) -> ComposedContext:
        """Read-time composition from the node, its parent, siblings and related nodes."""
        self._authorize(principal, Permission.READ)
        record = self._resolve(node)
        return compose(self, record, policy, principal)
