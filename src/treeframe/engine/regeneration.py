"""Staleness reports and incremental regeneration, by index lookup.

``find_stale`` lists, for a scope, every head frame whose basis is no longer
current, every synthesis that is fresh but incomplete (children without an
input, or with a stale or incomplete one), the heads of the previous NodeIDs
of each path in scope (their node changed), and — through the persisted
basis index — the head frames up the chain that were built on any of those.
``Regenerator`` recomputes what the engine can (synthesis frames; frames of
generator agents whose author still holds the permissions) as new frames on
the current nodes, in post-order, moving heads with compare-and-set; old
frames stay. Agent-authored frames are reported as needing their agent,
never rewritten, and so are incomplete syntheses that a rebuild would only
reproduce. A second run rebuilds nothing and reports what ``stale`` lists.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

from treeframe.engine.agents import AgentRegistry
from treeframe.engine.audit import AuditSession
from treeframe.engine.file_contents import FileContents, NoFileContents, checked_file_bytes
from treeframe.engine.freshness import Freshness, Selection
from treeframe.engine.generation import (
    PROVIDER_POLICY,
    directory_frame,
    directory_request,
    file_frame,
    file_request,
    is_model_frame,
)
from treeframe.engine.models import ModelAgents
from treeframe.engine.principal import Permission
from treeframe.engine.runtime import Runtime
from treeframe.engine.synthesis import Synthesizer
from treeframe.engine.types import StaleFrame
from treeframe.engine.walk import walk_post_order
from treeframe.errors import (
    ConcurrentUpdate,
    InvalidFrame,
    InvalidPolicy,
    ProviderAuthFailed,
    ProviderError,
    RegenerationFailed,
    SynthesisFailed,
)
from treeframe.frames.frame import Basis, Frame, new_frame
from treeframe.ids import FrameId, NodeId, WorkspaceId
from treeframe.observability import events
from treeframe.observability.progress import ProgressFn, throttled
from treeframe.storage.base import StorageBackend
from treeframe.tree.paths import parent_path
from treeframe.tree.records import NodeRecord

__all__ = ["Regenerator", "find_stale"]

DEPENDENTS_PAGE = 1000
"""Basis-index rows read per query when following dependents (every page is read)."""


class Lookahead:
    """Heads and path history of a directory's children, read in two queries per directory.

    Recursive ``stale``/``regenerate`` would otherwise pay two queries per
    node of the scope even where nothing is stale.
    """

    def __init__(self, store: StorageBackend, ws: WorkspaceId, history_limit: int) -> None:
        self.store = store
        self.ws = ws
        self.history_limit = history_limit
        self._heads: dict[NodeId, dict[str, FrameId]] = {}
        self._history: dict[str, list[tuple[int, NodeId]]] = {}
        self._frames: dict[FrameId, Frame] = {}
        self._loaded: set[NodeId] = set()

    def load(self, children: list[NodeRecord]) -> None:
        """Fetch what the walk will ask about these children."""
        ids = [child.node_id for child in children]
        heads = self.store.get_heads_many(self.ws, ids)
        self._heads.update(heads)
        head_ids = [fid for by_type in heads.values() for fid in by_type.values()]
        self._frames.update(self.store.get_frames(self.ws, head_ids))
        paths = [child.path for child in children]
        self._history.update(self.store.path_history_many(self.ws, paths, self.history_limit))
        self._loaded.update(ids)

    def heads(self, node: NodeRecord) -> dict[str, FrameId]:
        """The node's heads (prefetched, or read now)."""
        if node.node_id in self._loaded:
            return dict(self._heads.get(node.node_id, {}))
        return self.store.get_heads_many(self.ws, [node.node_id]).get(node.node_id, {})

    def frames(self, frame_ids: Sequence[FrameId]) -> dict[FrameId, Frame]:
        """Frames by ID, from what was fetched with the heads where possible (frames never change)."""
        missing = [f for f in frame_ids if f not in self._frames]
        if missing:
            self._frames.update(self.store.get_frames(self.ws, missing))
        return {f: self._frames[f] for f in frame_ids if f in self._frames}

    def history(self, node: NodeRecord) -> list[tuple[int, NodeId]]:
        """The path's earlier NodeIDs (prefetched, or read now)."""
        if node.node_id in self._loaded:
            return self._history.get(node.path, [])
        return self.store.path_history(self.ws, node.path, self.history_limit)


def _blocker(frame: Frame, agents: AgentRegistry, models: bool = False) -> str | None:
    """Why the engine may not recompute ``frame`` (None: it may).

    A rebuilt frame keeps its author, so the author must still be registered
    and still hold what authoring it needs today: ``write`` and ``synthesize``
    for a synthesis, ``write`` and a generator for anything else. Frames of
    a removed or demoted agent are never rewritten under its name. A frame a
    model agent wrote (``generate``) is redone only when ``models`` is on
    (``regenerate --agents``), since that asks the agent's model again.
    """
    agent = agents.get(frame.agent_id)
    synthesis = frame.basis.kind == "synthesis"
    if agent is None:
        return f"its agent {frame.agent_id!r} is no longer registered, so it needs its agent"
    if is_model_frame(frame):
        if not models:
            return "needs its agent (a model agent: regenerate --agents asks it again)"
    elif not synthesis and agent.generator is None:
        return "needs its agent"
    needed = (Permission.WRITE, Permission.SYNTHESIZE) if synthesis else (Permission.WRITE,)
    lost = [p for p in needed if p not in agent.permissions]
    if lost:
        return f"its agent {frame.agent_id!r} may no longer {lost[-1]}, so it needs its agent"
    return None


def _recomputable(frame: Frame, agents: AgentRegistry) -> bool:
    return _blocker(frame, agents) is None


def _entry(
    store: StorageBackend,
    ws: WorkspaceId,
    frame: Frame,
    reason: str,
    agents: AgentRegistry,
    recomputable: bool | None = None,
) -> StaleFrame:
    record = store.get_node(ws, frame.node_id)
    return StaleFrame(
        frame.frame_id,
        frame.node_id,
        record.path if record else "",
        frame.frame_type,
        frame.agent_id,
        reason,
        _recomputable(frame, agents) if recomputable is None else recomputable,
    )


def _previous_heads(
    store: StorageBackend,
    ws: WorkspaceId,
    record: NodeRecord,
    history: list[tuple[int, NodeId]],
    have: set[str],
) -> list[Frame]:
    """Heads of the path's earlier NodeIDs (newest first), one per type not in ``have``."""
    seen = set(have)
    out: list[Frame] = []
    for _seq, old in history:
        if old == record.node_id:
            continue
        heads = store.get_heads_many(ws, [old]).get(old, {})
        frames = store.get_frames(ws, [fid for t, fid in sorted(heads.items()) if t not in seen])
        for frame_type, fid in sorted(heads.items()):
            if frame_type in seen or fid not in frames:
                continue
            seen.add(frame_type)
            out.append(frames[fid])
    return out


def _ancestors(store: StorageBackend, ws: WorkspaceId, record: NodeRecord) -> list[NodeRecord]:
    """The current directories above ``record``, nearest first (O(depth) lookups)."""
    out: list[NodeRecord] = []
    path = record.path
    while path:
        path = parent_path(path)
        node_id = store.lookup_path(ws, path)
        parent = store.get_node(ws, node_id) if node_id else None
        if parent is None:
            break
        out.append(parent)
    return out


def _superseded_at_path(store: StorageBackend, ws: WorkspaceId, frame: Frame) -> bool:
    """True when ``frame`` sits on an old NodeID whose path now has a head of its type."""
    record = store.get_node(ws, frame.node_id)
    if record is None:
        return False
    current = store.lookup_path(ws, record.path)
    if current is None or current == frame.node_id:
        return False
    return store.get_head(ws, current, frame.frame_type) is not None


def _dependents(
    store: StorageBackend, ws: WorkspaceId, ref: str, page_size: int
) -> Iterator[Frame]:
    """Every frame whose basis names ``ref``, oldest first, one basis-index page at a time."""
    size = max(1, page_size)
    after: int | None = None
    while True:
        page = store.frames_built_on(ws, ref, size, after_seq=after)
        frames = store.get_frames(ws, [fid for _, fid in page])
        yield from (frames[fid] for _, fid in page if fid in frames)
        if len(page) < size:
            return
        after = page[-1][0]


def find_stale(
    store: StorageBackend,
    ws: WorkspaceId,
    record: NodeRecord,
    recursive: bool,
    history_limit: int,
    agents: AgentRegistry,
    *,
    page_size: int = DEPENDENTS_PAGE,
) -> list[StaleFrame]:
    """Stale head frames in scope plus their dependents up the chain (see module doc).

    Dependents are read from the basis index page by page, so a frame with
    any number of dependents is followed completely in bounded memory per query.
    """
    look = Lookahead(store, ws, history_limit)
    freshness = Freshness(store, ws, frames=look.frames)
    found: dict[FrameId, StaleFrame] = {}
    # Syntheses that are fresh but incomplete in a way rebuilding cannot fix
    # (children without inputs): frames built on them are stuck the same way.
    stuck: set[str] = set()
    refs: deque[str] = deque()

    def entered(children: list[NodeRecord]) -> None:
        look.load(children)
        freshness.seed(children)

    def visit(node: NodeRecord) -> None:
        heads = look.heads(node)
        frames = look.frames(list(heads.values()))
        for frame in frames.values():
            reason = freshness.why_stale(frame)
            fixable: bool | None = None
            if reason is None:
                gaps = freshness.completeness(frame)
                if gaps is None or not gaps.incomplete:
                    continue
                reason = gaps.reason()
                fixable = (
                    not gaps.missing
                    and not gaps.deep
                    and not any(f in stuck for f in gaps.stale_input_ids)
                    and all(found[f].recomputable for f in gaps.stale_input_ids if f in found)
                    and _recomputable(frame, agents)
                )
                if not fixable:
                    stuck.add(frame.frame_id)
            found[frame.frame_id] = _entry(store, ws, frame, reason, agents, fixable)
            refs.append(frame.frame_id)
        for frame in _previous_heads(store, ws, node, look.history(node), set(heads)):
            found.setdefault(frame.frame_id, _entry(store, ws, frame, "node changed", agents))
            refs.extend((frame.frame_id, frame.node_id))

    for node in walk_post_order(store, ws, record, entered) if recursive else [record]:
        visit(node)
    # The ancestor chain: a synthesis above the scope may be built on what changed in it.
    for ancestor in _ancestors(store, ws, record):
        visit(ancestor)
    seen_refs: set[str] = set()
    while refs:
        ref = refs.popleft()
        if ref in seen_refs:
            continue
        seen_refs.add(ref)
        for frame in _dependents(store, ws, ref, page_size):
            if frame.frame_id in found:
                continue
            if store.get_head(ws, frame.node_id, frame.frame_type) != frame.frame_id:
                continue  # superseded history, not something anyone is served
            if _superseded_at_path(store, ws, frame):
                continue
            # Built on a stale (or incomplete) frame: stale through it, even if its own
            # basis still names current heads (reads look one level of inputs deep).
            reason = freshness.why_stale(frame)
            fixable: bool | None = None
            if reason is None and ref in stuck:
                reason = f"incomplete: built on incomplete frame {ref}"
                fixable = False
                stuck.add(frame.frame_id)
            found[frame.frame_id] = _entry(
                store, ws, frame, reason or f"built on stale frame {ref}", agents, fixable
            )
            refs.append(frame.frame_id)
    return sorted(found.values(), key=lambda s: (s.path, s.frame_type, s.frame_id))


class Regenerator:
    """Recomputes stale synthesis and generator frames within a scope.

    The runtime gives the policies and generators, the clock and the
    per-directory synthesis locks (through its :class:`Synthesizer`).
    """

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        agents: AgentRegistry,
        history_limit: int,
        max_bytes: int,
        files: FileContents | None = None,
        *,
        runtime: Runtime,
        max_children: int = 10_000,
        audit: AuditSession | None = None,
        models: ModelAgents | None = None,
        max_file_bytes: int = 32 * 1024,
    ) -> None:
        self.store = store
        self.ws = ws
        self.agents = agents
        self.models = models
        """Set (``regenerate --agents``): frames of model agents are redone by asking them again."""
        self.max_file_bytes = max_file_bytes
        self.runtime = runtime
        self.history_limit = history_limit
        self.synth = Synthesizer(store, ws, max_bytes, max_children, runtime=runtime, audit=audit)
        self.max_bytes = max_bytes
        self.files = files or NoFileContents()

    def run(
        self,
        record: NodeRecord,
        *,
        recursive: bool,
        dry_run: bool,
        progress: ProgressFn | None = None,
    ) -> tuple[list[FrameId], list[StaleFrame]]:
        """(new FrameIDs, frames left stale or incomplete that need agents) for the scope, post-order.

        What is reported is what ``stale`` lists for the scope afterwards: a
        second run rebuilds nothing and reports the same frames. ``progress``
        sees phases ``nodes`` (nodes of the scope visited) and ``frames``
        (frames regenerated, or predicted by a dry run); the totals are known
        when the walk ends, where each phase is reported with ``done == total``.
        """
        tick = throttled(progress)
        self.dry_run = dry_run
        visited = 0
        regenerated: list[FrameId] = []
        unrecomputable: list[StaleFrame] = []
        # Shared through the walk (see Freshness): node currency, records and
        # directory selections; frame currency is re-read per node.
        self.nodes_memo: dict[NodeId, bool] = {}
        self.selections: dict[tuple[NodeId, str], Selection] = {}
        self.records: dict[NodeId, NodeRecord | None] = {}
        # Frames reported as needing agents: frames built on them are stuck too.
        self.stuck: set[FrameId] = set()
        self.look = Lookahead(self.store, self.ws, self.history_limit)
        walk_freshness = self._freshness()

        def entered(children: list[NodeRecord]) -> None:
            self.look.load(children)
            walk_freshness.seed(children)

        scope = walk_post_order(self.store, self.ws, record, entered) if recursive else [record]
        for node in scope:
            jobs, needs_agent = self.plan(node)
            unrecomputable.extend(needs_agent)
            self.stuck.update(entry.frame_id for entry in needs_agent)
            heads = self.look.heads(node)
            for frame_type, template in jobs:
                try:
                    new_id = self.recompute(node, frame_type, template, dry_run)
                except RegenerationFailed as exc:
                    # Only a genuine "cannot recompute" becomes a row; storage
                    # and integrity errors propagate (nothing is hidden as "needs agent").
                    entry = _entry(self.store, self.ws, template, exc.message, self.agents)
                    unrecomputable.append(entry)
                    self.stuck.add(template.frame_id)
                    continue
                if new_id is not None:
                    regenerated.append(new_id)
                    heads[frame_type] = new_id
                    events.emit(
                        "frame.regenerated",
                        workspace=self.ws,
                        node=node.node_id,
                        path=node.path,
                        frame_type=frame_type,
                        replaced=template.frame_id,
                        frame=new_id,
                        dry_run=dry_run,
                    )
                    if tick is not None:
                        tick("frames", len(regenerated), None)
            unrecomputable.extend(self.incomplete(node, heads))
            visited += 1
            if tick is not None:
                tick("nodes", visited, None)
        if progress is not None:
            progress("nodes", visited, visited)
            progress("frames", len(regenerated), len(regenerated))
        return regenerated, unrecomputable

    def _freshness(self) -> Freshness:
        return Freshness(
            self.store,
            self.ws,
            self.synth.overlay,
            nodes=self.nodes_memo,
            selections=self.selections,
            records=self.records,
            frames=self._frames,
        )

    def _frames(self, frame_ids: Sequence[FrameId]) -> dict[FrameId, Frame]:
        """Frames by ID: a dry run's predicted frames, else the walk's cache or the store."""
        pending = self.synth.pending
        out = self.look.frames([f for f in frame_ids if f not in pending])
        out.update({f: pending[f][0] for f in frame_ids if f in pending})
        return out

    def incomplete(self, node: NodeRecord, heads: dict[str, FrameId]) -> list[StaleFrame]:
        """The node's syntheses that are fresh now but incomplete, which rebuilding cannot change.

        Rebuilding such a frame gives the same frame (its children still lack
        inputs), so it is reported as needing those children's agents rather
        than counted as regenerated; frames built on it are stuck the same way.
        """
        if node.kind != "dir" or not heads:
            return []
        freshness = self._freshness()
        frames = self._frames(list(heads.values()))
        out: list[StaleFrame] = []
        for _frame_type, fid in sorted(heads.items()):
            frame = frames.get(fid)
            if frame is None or frame.basis.kind != "synthesis" or fid in self.stuck:
                continue
            if freshness.why_stale(frame) is not None:
                continue  # reported by plan() or recompute() already
            gaps = freshness.completeness(frame)
            stuck = [f for f in frame.basis.child_frames if f in self.stuck]
            if gaps is not None and gaps.incomplete:
                reason = gaps.reason()
            elif stuck:
                reason = f"incomplete: built on incomplete frame {stuck[0]}"
            else:
                continue
            self.stuck.add(fid)
            out.append(_entry(self.store, self.ws, frame, reason, self.agents, False))
        return out

    def plan(self, node: NodeRecord) -> tuple[list[tuple[str, Frame]], list[StaleFrame]]:
        """Which types of ``node`` to recompute (with the frame to redo), and what needs an agent."""
        # Heads move as the walk regenerates, so frame currency is re-read per
        # node; node currency (the path index) does not change and is shared.
        freshness = self._freshness()
        heads = self.look.heads(node)
        frames = self.look.frames(list(heads.values()))
        jobs: list[tuple[str, Frame]] = []
        needs_agent: list[StaleFrame] = []
        for frame_type, fid in sorted(heads.items()):
            frame = frames.get(fid)
            if frame is None:
                continue
            reason = freshness.why_stale(frame)
            if reason is None:
                continue
            self._triage(frame_type, frame, reason, jobs, needs_agent)
        for frame in _previous_heads(
            self.store, self.ws, node, self.look.history(node), set(heads)
        ):
            self._triage(frame.frame_type, frame, "node changed", jobs, needs_agent)
        return jobs, needs_agent

    def _triage(
        self,
        frame_type: str,
        frame: Frame,
        reason: str,
        jobs: list[tuple[str, Frame]],
        needs_agent: list[StaleFrame],
    ) -> None:
        """Queue a stale frame for rebuilding, or report it as needing its agent.

        A dry run asks no model: a model agent's frame it would redo is
        reported (as recomputable) rather than predicted.
        """
        blocker = _blocker(frame, self.agents, self.models is not None)
        if blocker is None and self.dry_run and is_model_frame(frame):
            blocker = "its model agent would redo it (a dry run asks no model)"
            needs_agent.append(
                _entry(self.store, self.ws, frame, f"{reason}; {blocker}", self.agents, True)
            )
            return
        if blocker is None:
            jobs.append((frame_type, frame))
        else:
            entry = _entry(self.store, self.ws, frame, f"{reason}; {blocker}", self.agents)
            needs_agent.append(entry)

    def recompute(
        self, node: NodeRecord, frame_type: str, template: Frame, dry_run: bool
    ) -> FrameId | None:
        """Rebuild ``template`` on ``node``; None when the result is already the head."""
        expected = self.store.get_head(self.ws, node.node_id, frame_type)
        frame, content = self.rebuild(node, frame_type, template)
        if frame.frame_id == expected:
            return None
        if dry_run:
            # Later (parent) steps of the same dry run see this frame as the head.
            self.synth.overlay[(node.node_id, frame_type)] = frame.frame_id
            self.synth.pending[frame.frame_id] = (frame, content)
            return frame.frame_id
        try:
            self.synth.append_as_head(frame, content, expected)
        except ConcurrentUpdate as exc:
            raise RegenerationFailed(
                f"head of {frame_type!r} on {node.path or '.'!r} moved during regeneration"
            ) from exc
        return frame.frame_id

    def rebuild(self, node: NodeRecord, frame_type: str, template: Frame) -> tuple[Frame, bytes]:
        """The frame ``template`` would be if built on ``node`` today.

        Raises RegenerationFailed when the frame cannot be recomputed (its
        synthesis fails, its policy or generator is gone, the result is not a
        valid frame); storage and integrity errors propagate unchanged.
        """
        try:
            return self._rebuild(node, frame_type, template)
        except (SynthesisFailed, InvalidPolicy, InvalidFrame) as exc:
            raise RegenerationFailed(exc.message) from exc

    def _rebuild(self, node: NodeRecord, frame_type: str, template: Frame) -> tuple[Frame, bytes]:
        basis = template.basis
        blocker = _blocker(template, self.agents, self.models is not None)
        if blocker is not None:
            raise RegenerationFailed(f"frame {template.frame_id}: {blocker}")
        if is_model_frame(template):
            return self._ask_model(node, frame_type, template)
        if basis.kind == "synthesis":
            if node.kind != "dir":
                raise RegenerationFailed(f"{node.path!r} is no longer a directory")
            params = basis.params
            policy = self.runtime.policies.get(basis.policy_id)
            frame, content, _ = self.synth.build(
                node,
                str(params.get("input_type", frame_type)),
                frame_type,
                template.agent_id,
                policy,
                dict(params.get("params", {})),
                str(params.get("missing", "skip")),
            )
            return frame, content
        agent = self.agents.get(template.agent_id)
        if agent is None or agent.generator is None:
            raise RegenerationFailed(f"frame {template.frame_id}: needs its agent")
        generator = self.runtime.generators.get(agent.generator)
        content = generator.generate(node, checked_file_bytes(self.files, node))
        frame = new_frame(
            node.node_id,
            frame_type,
            template.agent_id,
            content,
            basis=Basis.node(NodeId(node.node_id)),
            content_type=generator.content_type,
            max_content_bytes=self.max_bytes,
        )
        return frame, content

    def _ask_model(self, node: NodeRecord, frame_type: str, template: Frame) -> tuple[Frame, bytes]:
        """``template`` redone by its model agent on ``node`` today (its prompts as configured now).

        Provider errors are the run's own failures (``RegenerationFailed``
        naming them), never hidden: the frame stays stale and is reported.
        Refused credentials stop the run instead, as in ``generate``: every
        later frame would fail the same way.
        """
        assert self.models is not None
        registered = self.agents.get(template.agent_id)
        model = self.models.resolve(template.agent_id, registered.provider if registered else None)
        try:
            if template.basis.policy_id == PROVIDER_POLICY and template.basis.kind == "synthesis":
                if node.kind != "dir":
                    raise RegenerationFailed(f"{node.path!r} is no longer a directory")
                input_type = str(template.basis.params.get("input_type", frame_type))
                gathered = self.synth.gather(node, input_type, "skip")
                request = directory_request(model, node, gathered, frame_type, self.max_file_bytes)
                completion = model.provider.complete(request)
                return directory_frame(
                    self.synth, model, node, gathered, frame_type, request, completion
                )
            data = checked_file_bytes(self.files, node)
            built = file_request(model, node, data, frame_type, self.max_file_bytes)
            completion = built.answer(model.provider)
            return file_frame(model, node, frame_type, built.request, completion, self.max_bytes)
        except ProviderAuthFailed:
            raise
        except ProviderError as exc:
            raise RegenerationFailed(f"{node.path or '.'!r}: {exc.code}: {exc.message}") from exc
