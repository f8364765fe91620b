"""verify: recompute every stored hash and report every mismatch, never stopping early.

Checks, in order: node records (NodeID recomputed, children present),
contents (hash recomputed), frames (FrameID recomputed, node and content
present, frame set present), frame sets (root and count rebuilt from the
node's members), heads (frame exists, on that node, of that type), path index
(each entry names a stored node recorded at that path), root history, path
history (names stored nodes), the basis index (each entry names a stored
frame whose basis names the reference; as many entries as the frames' bases
name), agent records (parse) and the audit chain (every entry's hash and
link recomputed; see :func:`treeframe.engine.audit.verify_chain`).
A damaged row or an unreadable table becomes a problem in the report, never
an exception.

Two options bound the work. ``since`` (a root of the history) checks only
what was added after it: the nodes reachable from the current root but not
from ``since`` (found by the diff walk of
:func:`treeframe.engine.diagnostics.diff_trees`, so O(changes x depth)), the
frames on those nodes and every frame put at or after the root's time (all
frame rows are read, only those are re-hashed), their contents, frame sets,
heads and basis-index entries, the path index entries of the new nodes, and
the root and path history after it; the agents and the audit chain are
checked in full (both are small and the chain is only verifiable from its
start). ``deadline`` (a ``time.monotonic()`` value) stops the checks when
reached: the report then says ``complete: false`` and in which phase it
stopped, and ``checked`` says exactly how much was done.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from treeframe.engine.agents import AgentRecord
from treeframe.engine.audit import verify_chain
from treeframe.engine.diagnostics import ResolvedRoot, diff_trees
from treeframe.errors import TreeframeError
from treeframe.frames import merkle_set
from treeframe.frames.frame import Frame
from treeframe.hashing.canonical_json import load_record
from treeframe.hashing.ids import content_hash
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId
from treeframe.observability.progress import ProgressFn, throttled
from treeframe.storage.base import Damaged, NodeSetState, StorageBackend, basis_refs
from treeframe.tree.records import NodeRecord

__all__ = ["PHASES", "Problem", "VerifyReport", "verify_store"]

PHASES = (
    "nodes",
    "contents",
    "frames",
    "frame_sets",
    "heads",
    "paths",
    "history",
    "path_history",
    "basis_index",
    "agents",
    "audit",
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    """One mismatch: a stable ``kind``, the key it concerns and a readable message."""

    kind: str
    key: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"kind": self.kind, "key": self.key, "message": self.message}


@dataclass
class VerifyReport:
    """What verify checked and every problem it found.

    ``complete`` is False when a deadline stopped it (``stopped_in`` names the
    phase); ``scope`` is ``since`` when only what was added after the root
    ``since`` was checked.
    """

    checked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PHASES, 0))
    problems: list[Problem] = field(default_factory=list)
    complete: bool = True
    stopped_in: str | None = None
    scope: Literal["all", "since"] = "all"
    since: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "checked": dict(self.checked),
            "problems": [p.to_dict() for p in self.problems],
            "complete": self.complete,
            "stopped_in": self.stopped_in,
            "scope": self.scope,
            "since": self.since,
        }


class _OutOfTime(Exception):
    """The deadline passed: stop checking (not a problem of the store)."""


class _Verifier:
    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        progress: ProgressFn | None,
        deadline: float | None = None,
    ):
        self.store = store
        self.ws = ws
        self.progress = throttled(progress)
        self.report = VerifyReport()
        self.expected_refs = 0
        self.deadline = deadline

    def tick(self) -> None:
        """Raise _OutOfTime once the deadline has passed."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise _OutOfTime

    def problem(self, kind: str, key: str, message: str) -> None:
        self.report.problems.append(Problem(kind, key, message))

    def each(self, phase: str, items: Callable[[], Iterator[T]]) -> Iterator[T]:
        """Iterate a store table, turning a failure of the table itself into a problem."""
        try:
            for item in items():
                self.tick()
                self.report.checked[phase] += 1
                if self.progress is not None:
                    self.progress(phase, self.report.checked[phase], None)
                yield item
        except TreeframeError as exc:
            self.problem("table_unreadable", phase, f"could not read {phase}: {exc.message}")

    def damaged(self, item: Damaged) -> None:
        self.problem("damaged_record", f"{item.table}:{item.key}", item.reason)

    def guarded(self, key: str, check: Callable[[], None]) -> None:
        try:
            check()
        except TreeframeError as exc:
            self.problem("check_failed", key, exc.message)
        except (ValueError, AssertionError, TypeError) as exc:
            self.problem("damaged_record", key, f"unusable record: {exc}")

    def nodes(self) -> None:
        for item in self.each("nodes", lambda: self.store.iter_all_nodes(self.ws)):
            if isinstance(item, Damaged):
                self.damaged(item)
                continue
            self.guarded(item.node_id, functools.partial(self.node, item))

    def node(self, record: NodeRecord) -> None:
        actual = record.compute_id()
        if actual != record.node_id:
            self.problem(
                "node_id_mismatch",
                record.node_id,
                f"node record at {record.path!r} hashes to {actual}",
            )
        if record.children:
            ids = [child for _, child in record.children]
            found = self.store.get_nodes(self.ws, ids)
            for name, child in record.children:
                if child not in found:
                    self.problem(
                        "missing_child", record.node_id, f"child {name!r} ({child}) is not stored"
                    )

    def contents(self) -> None:
        for digest, data in self.each("contents", lambda: self.store.blobs.iter_all(self.ws)):
            actual = content_hash(data)
            if actual != digest:
                self.problem("content_hash_mismatch", digest, f"content bytes hash to {actual}")

    def frames(self) -> None:
        for item in self.each("frames", lambda: self.store.iter_all_frames(self.ws)):
            if isinstance(item, Damaged):
                self.damaged(item)
                continue
            self.guarded(item.frame_id, functools.partial(self.frame, item))

    def frame(self, frame: Frame) -> None:
        self.expected_refs += len(basis_refs(frame))
        actual = frame.compute_id()
        if actual != frame.frame_id:
            self.problem("frame_id_mismatch", frame.frame_id, f"frame fields hash to {actual}")
        if self.store.get_node(self.ws, frame.node_id) is None:
            self.problem("missing_node", frame.frame_id, f"frame's node {frame.node_id} is missing")
        if not self.store.blobs.exists_many(self.ws, [frame.content_hash]):
            self.problem(
                "missing_content", frame.frame_id, f"content {frame.content_hash} is missing"
            )
        if self.store.get_frame_set(self.ws, frame.node_id) is None:
            self.problem(
                "missing_frame_set", frame.frame_id, f"node {frame.node_id} has no frame set"
            )

    def frame_set(self, node_id: NodeId, state: NodeSetState) -> None:
        """One node's stored frame-set root and count against its members, rebuilt."""
        members = self.store.node_frame_ids(self.ws, node_id)
        rebuilt = merkle_set.root_of(members)
        if rebuilt != state.root:
            self.problem(
                "set_root_mismatch",
                node_id,
                f"stored frame-set root {state.root} but members rebuild to {rebuilt}",
            )
        if len(members) != state.count:
            self.problem(
                "set_count_mismatch",
                node_id,
                f"stored count {state.count} but {len(members)} frames are stored",
            )

    def frame_sets(self) -> None:
        for node_id, state in self.each(
            "frame_sets", lambda: self.store.iter_all_frame_sets(self.ws)
        ):
            self.frame_set(node_id, state)

    def head(self, node_id: NodeId, frame_type: str, frame_id: FrameId) -> None:
        """One (node, type) head: it must name a stored frame of that node and type."""
        frame = self.store.get_frame(self.ws, frame_id)
        key = f"{node_id}:{frame_type}"
        if frame is None:
            self.problem("head_dangling", key, f"head points to missing frame {frame_id}")
        elif frame.node_id != node_id or frame.frame_type != frame_type:
            self.problem(
                "head_mismatch",
                key,
                f"head points to frame {frame_id} of node {frame.node_id} "
                f"and type {frame.frame_type!r}",
            )

    def heads(self) -> None:
        for node_id, frame_type, frame_id in self.each(
            "heads", lambda: self.store.iter_all_heads(self.ws)
        ):
            self.head(node_id, frame_type, frame_id)

    def paths(self) -> None:
        for path, node_id in self.each("paths", lambda: self.store.iter_all_paths(self.ws)):
            record = self.store.get_node(self.ws, node_id)
            if record is None:
                self.problem("path_dangling", path, f"path index names missing node {node_id}")
            elif record.path != path:
                self.problem(
                    "path_mismatch", path, f"path index names node recorded at {record.path!r}"
                )
        entry = self.store.current_root(self.ws)
        if entry is not None and self.store.lookup_path(self.ws, "") != entry.root:
            self.problem("root_mismatch", "", "path index root differs from the current root")

    def history(self) -> None:
        before: int | None = None
        while True:
            page = self.store.root_history(self.ws, 1000, before)
            if not page:
                return
            found = self.store.get_nodes(self.ws, [e.root for e in page])
            for entry in page:
                self.tick()
                self.report.checked["history"] += 1
                if entry.root not in found:
                    self.problem(
                        "history_root_missing", str(entry.seq), f"root {entry.root} is not stored"
                    )
            before = page[-1].seq

    def path_history(self) -> None:
        for path, seq, node_id in self.each(
            "path_history", lambda: self.store.iter_all_path_history(self.ws)
        ):
            if self.store.get_node(self.ws, node_id) is None:
                self.problem(
                    "path_history_dangling",
                    f"{path}@{seq}",
                    f"path history names missing node {node_id}",
                )

    def basis_index(self) -> None:
        rows = 0
        for ref, frame_id in self.each(
            "basis_index", lambda: self.store.iter_all_basis_refs(self.ws)
        ):
            rows += 1
            frame = self.store.get_frame(self.ws, frame_id)
            key = f"{ref}:{frame_id}"
            if frame is None:
                self.problem(
                    "basis_ref_dangling", key, f"basis index names missing frame {frame_id}"
                )
            elif ref not in basis_refs(frame):
                self.problem(
                    "basis_ref_mismatch", key, f"frame {frame_id}'s basis does not name {ref}"
                )
        if rows != self.expected_refs:
            self.problem(
                "basis_index_incomplete",
                "",
                f"the basis index has {rows} entries but the frames' bases name {self.expected_refs}",
            )

    def agents(self) -> None:
        for agent_id, raw in self.each("agents", lambda: iter(self.store.list_agents(self.ws))):
            try:
                AgentRecord.from_dict(load_record(raw, "agent record"))
            except (TreeframeError, KeyError, TypeError, ValueError) as exc:
                self.problem(
                    "damaged_record", f"agents:{agent_id}", f"unusable agent record: {exc}"
                )

    def audit(self) -> None:
        report = verify_chain(self.each("audit", lambda: self.store.iter_audit(self.ws)))
        if report.problem is not None:
            problem = report.problem
            self.problem(f"audit_{problem.kind}", f"audit:{problem.seq}", problem.message)


class _SinceVerifier(_Verifier):
    """Checks only what was added after one root (see the module docstring)."""

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        progress: ProgressFn | None,
        deadline: float | None,
        since: ResolvedRoot,
    ):
        super().__init__(store, ws, progress, deadline)
        self.since = since
        self.new_nodes: list[NodeRecord] = []
        self.checked_frames: list[Frame] = []
        self.frame_nodes: dict[NodeId, None] = {}

    def count(self, phase: str) -> None:
        self.tick()
        self.report.checked[phase] += 1
        if self.progress is not None:
            self.progress(phase, self.report.checked[phase], None)

    def nodes(self) -> None:
        current = self.store.current_root(self.ws)
        source = functools.partial(self.store.get_nodes, self.ws)

        def visit(record: NodeRecord) -> None:
            self.count("nodes")
            self.new_nodes.append(record)
            self.guarded(record.node_id, functools.partial(self.node, record))

        def missing(path: str, node_id: NodeId) -> None:
            self.problem("missing_node", node_id, f"node at {path or '.'!r} is not stored")

        diff_trees(
            source,
            self.since.root,
            source,
            current.root if current is not None else None,
            visit_new=visit,
            on_missing=missing,
        )

    def contents(self) -> None:
        """Run after frames (see ``_SINCE_ORDER``): the contents the checked frames name."""
        wanted = list(dict.fromkeys(f.content_hash for f in self.checked_frames))
        for start in range(0, len(wanted), 500):
            chunk: list[ContentHash] = wanted[start : start + 500]
            found = self.store.blobs.get_many(self.ws, chunk)
            for digest in chunk:
                self.count("contents")
                data = found.get(digest)
                if data is None:
                    self.problem("missing_content", digest, "content is missing or unreadable")
                elif content_hash(data) != digest:
                    self.problem(
                        "content_hash_mismatch",
                        digest,
                        f"content bytes hash to {content_hash(data)}",
                    )

    def frames(self) -> None:
        seen: set[str] = set()
        after = self.since.entry.created_at if self.since.entry is not None else None

        def check(frame: Frame) -> None:
            if frame.frame_id in seen:
                return
            seen.add(frame.frame_id)
            self.count("frames")
            self.checked_frames.append(frame)
            self.frame_nodes[frame.node_id] = None
            self.guarded(frame.frame_id, functools.partial(self.frame, frame))

        for record in self.new_nodes:
            for frame in self.store.iter_node_frames(self.ws, record.node_id):
                check(frame)
        if after is None:
            return
        try:
            for item in self.store.iter_all_frames(self.ws):
                self.tick()
                if isinstance(item, Damaged):
                    self.damaged(item)
                elif item.created_at >= after:
                    check(item)
        except TreeframeError as exc:
            self.problem("table_unreadable", "frames", f"could not read frames: {exc.message}")

    def frame_sets(self) -> None:
        nodes = list(self.frame_nodes)
        states = self.store.get_frame_sets(self.ws, nodes)
        for node_id in nodes:
            self.count("frame_sets")
            state = states.get(node_id)
            if state is None:
                continue  # reported by frames as missing_frame_set
            self.frame_set(node_id, state)

    def heads(self) -> None:
        heads = self.store.get_heads_many(self.ws, list(self.frame_nodes))
        for node_id, by_type in heads.items():
            for frame_type, frame_id in by_type.items():
                self.count("heads")
                self.head(node_id, frame_type, frame_id)

    def paths(self) -> None:
        found = self.store.lookup_paths(self.ws, [r.path for r in self.new_nodes])
        for record in self.new_nodes:
            self.count("paths")
            indexed = found.get(record.path)
            if indexed != record.node_id:
                self.problem(
                    "path_mismatch",
                    record.path,
                    f"path index names {indexed} but the current tree has {record.node_id}",
                )

    def history(self) -> None:
        floor = self.since.entry.seq if self.since.entry is not None else None
        before: int | None = None
        while True:
            page = self.store.root_history(self.ws, 1000, before)
            page = [e for e in page if floor is None or e.seq > floor]
            if not page:
                return
            found = self.store.get_nodes(self.ws, [e.root for e in page])
            for entry in page:
                self.count("history")
                if entry.root not in found:
                    self.problem(
                        "history_root_missing", str(entry.seq), f"root {entry.root} is not stored"
                    )
            before = page[-1].seq

    def path_history(self) -> None:
        floor = self.since.entry.seq if self.since.entry is not None else 0
        try:
            for path, seq, node_id in self.store.iter_all_path_history(self.ws):
                self.tick()
                if seq <= floor:
                    continue
                self.count("path_history")
                if self.store.get_node(self.ws, node_id) is None:
                    self.problem(
                        "path_history_dangling",
                        f"{path}@{seq}",
                        f"path history names missing node {node_id}",
                    )
        except TreeframeError as exc:
            self.problem(
                "table_unreadable", "path_history", f"could not read path_history: {exc.message}"
            )

    def basis_index(self) -> None:
        for frame in self.checked_frames:
            for ref in basis_refs(frame):
                self.count("basis_index")
                page = self.store.frames_built_on(self.ws, ref, 1, frame.seq - 1)
                if not page or page[0][1] != frame.frame_id:
                    self.problem(
                        "basis_ref_missing",
                        f"{ref}:{frame.frame_id}",
                        f"the basis index lacks frame {frame.frame_id}'s entry for {ref}",
                    )


_SINCE_ORDER = (
    "nodes",
    "frames",
    "contents",
    "frame_sets",
    "heads",
    "paths",
    "history",
    "path_history",
    "basis_index",
    "agents",
    "audit",
)
"""A scoped verify checks frames before contents: the contents are those the frames name."""


def verify_store(
    store: StorageBackend,
    ws: WorkspaceId,
    progress: ProgressFn | None = None,
    *,
    since: ResolvedRoot | None = None,
    deadline: float | None = None,
) -> VerifyReport:
    """Recompute the stored hashes of a workspace and return every problem found.

    ``since``: only what was added after that root; ``deadline``: stop at that
    ``time.monotonic()`` value (the report says ``complete: false``).
    """
    verifier: _Verifier
    if since is None:
        verifier, order = _Verifier(store, ws, progress, deadline), PHASES
    else:
        verifier = _SinceVerifier(store, ws, progress, deadline, since)
        verifier.report.scope, verifier.report.since = "since", since.root
        order = _SINCE_ORDER
    for phase in order:
        try:
            verifier.tick()
            getattr(verifier, phase)()
        except _OutOfTime:
            verifier.report.complete = False
            verifier.report.stopped_in = phase
            break
        except TreeframeError as exc:
            verifier.problem("table_unreadable", phase, f"could not read {phase}: {exc.message}")
        if progress is not None:
            done = verifier.report.checked[phase]
            progress(phase, done, done)
    return verifier.report
