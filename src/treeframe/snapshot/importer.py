"""Import a verified snapshot archive into any backend (docs/CLI.md, ``import``).

Two readings of the archive, both through :func:`verify_archive`, so what is
stored is exactly what was verified. The first checks everything and writes
nothing. The second runs inside one ``store.unit_of_work()`` and hands each
item, once checked again, to :class:`_Writer`, which writes it through the
:class:`~treeframe.storage.base.BulkImport` seam (rows as the archive holds
them: the numbers and hashes stay bit for bit). Conflicts with what the
target already holds (a head, the root, an agent) are collected while the
records stream by and raised before the first content is stored; any
failure, a conflict or a problem of the second reading (the file changed
under us) rolls the whole unit back.

Into a new workspace every frame keeps its ``seq``, ``put_seq`` and
``created_at``. Into an existing one, frames already there are left as they
are and new ones are numbered after the target's highest number, keeping
their order, so views order them as the source did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from treeframe.clock import SYSTEM_CLOCK, Clock
from treeframe.engine.audit import Auditor, Operation
from treeframe.engine.workspaces import check_name
from treeframe.errors import ConcurrentUpdate, ImportConflict, SnapshotInvalid, WorkspaceDeleted
from treeframe.frames.frame import Frame
from treeframe.frames.merkle_set import root_of
from treeframe.hashing.canonical_json import canonical_json
from treeframe.hashing.ids import workspace_id
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId
from treeframe.observability.progress import ProgressFn
from treeframe.snapshot.format import MANIFEST, MAX_MANIFEST, Manifest
from treeframe.snapshot.streams import Decompressed
from treeframe.snapshot.tar import TarReader
from treeframe.snapshot.verify import VerifyReport, verify_archive
from treeframe.storage.base import (
    NodeSetState,
    RootEntry,
    StorageBackend,
    WorkspaceInfo,
    basis_refs,
)
from treeframe.tree.records import NodeRecord

__all__ = ["KINDS", "Admit", "ImportReport", "check_archive", "import_snapshot", "manifest_name"]

KINDS = ("agents", "nodes", "frames", "frame_sets", "heads", "contents", "paths")
"""What an import counts, written or already present."""

_BATCH = 2000


@dataclass
class ImportReport:
    """What an import did: the workspace, root, and rows written / already present per kind."""

    workspace: str
    workspace_id: str
    root_hash: str
    path: str
    root_moved: bool
    created: bool = False
    signature: str = "unsigned"
    signer: str | None = None
    written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    present: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``import --json`` and the API response)."""
        return {
            "workspace": self.workspace,
            "workspace_id": self.workspace_id,
            "created": self.created,
            "root_hash": self.root_hash,
            "path": self.path,
            "root_moved": self.root_moved,
            "signature": {"state": self.signature, "signer": self.signer},
            "written": dict(self.written),
            "present": dict(self.present),
        }


Admit = Callable[[str, WorkspaceInfo | None], None]
"""``admit(workspace name, existing info or None)``: raise to refuse the import (the API's access check)."""


def import_snapshot(
    store: StorageBackend,
    archive: Path,
    *,
    workspace: str | None = None,
    trust: Sequence[str] = (),
    progress: ProgressFn | None = None,
    owner: str | None = None,
    agent: str | None = None,
    admit: Admit | None = None,
    clock: Clock = SYSTEM_CLOCK,
    label: str | None = None,
    checked: VerifyReport | None = None,
) -> ImportReport:
    """Verify ``archive`` completely, then write it in one unit of work; nothing unverified is stored.

    Raises SnapshotInvalid (every problem) or ImportConflict (every
    conflicting head, root or agent) and writes nothing in either case.
    ``workspace`` imports under another name (IDs do not depend on it);
    ``owner`` owns a workspace the import creates (default: the archive's);
    ``admit`` may refuse the import once the target is known, before any
    write. The import is audited as ``workspace.import`` by ``agent`` (None:
    the local owner) in the target's log, accepted or refused. ``label``
    names the archive in errors (default: its file name). ``checked`` is
    :func:`check_archive`'s report when the caller verified first (the
    first reading is then skipped; the second one still checks every item).
    ``progress`` counts the archive's bytes read by each reading: phase
    ``verify_bytes`` (the check), then ``import_bytes`` (the writing one).
    """
    label = label or archive.name
    if admit is not None:  # refuse early, before verifying what may be gigabytes
        named = workspace if workspace is not None else manifest_name(archive)
        if named is not None:
            named = check_name(named)
            admit(named, store.get_workspace(workspace_id(named)))
    if checked is None:
        checked = check_archive(archive, trust=trust, progress=progress, label=label)
    manifest = checked.manifest
    assert manifest is not None  # an archive without one has problems
    name = check_name(workspace if workspace is not None else manifest.workspace.name)
    ws = workspace_id(name)
    existing = store.get_workspace(ws)
    if admit is not None:
        admit(name, existing)
    if existing is not None and existing.deleted_at is not None:
        raise WorkspaceDeleted(
            f"workspace {name!r} is deleted: restore it before importing into it"
        )
    report = ImportReport(
        workspace=name,
        workspace_id=ws,
        root_hash=manifest.root_hash,
        path=manifest.path,
        root_moved=False,
        created=existing is None,
        signature=checked.signature,
        signer=checked.signer,
    )

    def write() -> None:
        now = store.get_workspace(ws)
        if (now is None) != (existing is None) or (now is not None and now.deleted_at):
            raise ConcurrentUpdate(f"workspace {name!r} was created or deleted meanwhile: retry")
        writer = _Writer(store, ws, manifest, existing, name, owner, clock, report)
        with archive.open("rb") as source:
            again = verify_archive(
                source,
                trust=trust,
                sink=writer,
                progress=progress,
                total_bytes=archive.stat().st_size,
                phase="import_bytes",
            )
        _refuse(again, label)  # the file changed between the readings: roll back
        writer.finish()

    # One unit of work holds every write and the audit entry: all of it commits, or none.
    Auditor(store, clock).run(
        Operation.WORKSPACE_IMPORT, None, write, workspace=ws, agent=agent, node=manifest.node_id
    )
    return report


def check_archive(
    archive: Path,
    *,
    trust: Sequence[str] = (),
    progress: ProgressFn | None = None,
    label: str | None = None,
) -> VerifyReport:
    """The import's first reading: the whole archive verified, SnapshotInvalid on any problem.

    Public so that a caller can verify before it creates anything (``treeframe
    import`` into a store that does not exist yet leaves none behind on a refusal).
    """
    with archive.open("rb") as source:
        report = verify_archive(
            source, trust=trust, progress=progress, total_bytes=archive.stat().st_size
        )
    _refuse(report, label or archive.name)
    return report


def manifest_name(archive: Path) -> str | None:
    """The workspace name the archive's manifest gives, or None when it cannot be read cheaply."""
    try:
        with archive.open("rb") as source:
            reader = TarReader(Decompressed(source, max_bytes=MAX_MANIFEST + 4096))
            entry = reader.next_entry()
            if entry is None or entry.name != MANIFEST:
                return None
            return Manifest.parse(reader.read_all(MAX_MANIFEST)).workspace.name
    except SnapshotInvalid:
        return None  # verification reports it properly


def _refuse(report: VerifyReport, label: str) -> None:
    if report.ok:
        return
    problems = tuple(problem.to_dict() for problem in report.problems)
    first = report.problems[0]
    raise SnapshotInvalid(
        f"{label} failed verification with {len(problems)} problem(s), nothing imported;"
        f" first: {first.where}: {first.detail} [{first.code}]",
        problems=problems,
    )


class _Writer:
    """The second reading's sink: classifies each item against the target and writes it in batches."""

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        manifest: Manifest,
        existing: WorkspaceInfo | None,
        name: str,
        owner: str | None,
        clock: Clock,
        report: ImportReport,
    ) -> None:
        self.store = store
        self.ws = ws
        self.manifest = manifest
        self.fresh = existing is None
        self.report = report
        self.clock = clock
        self.conflicts: list[dict[str, str]] = []
        self.whole = manifest.path == ""
        meta = manifest.workspace
        if existing is None:
            self.info = WorkspaceInfo(
                ws, name, meta.description, owner or meta.owner or None, meta.created_at, None
            )
            store.import_workspace(self.info, 1)
        else:
            self.info = existing
        # Numbers of new frames go after the target's highest (0 for a new workspace).
        self.base = 0 if existing is None else _highest_seq(store, ws)
        self.highest = 0
        self.nodes: list[NodeRecord] = []
        self.frames: list[Frame] = []
        self.sets: list[tuple[NodeId, NodeSetState]] = []
        self.heads: list[tuple[NodeId, str, FrameId]] = []
        self.node_frames: list[FrameId] = []
        self.contents_started = False
        current = None if existing is None else store.current_root(ws)
        if self.whole and current is not None and current.root != manifest.root_hash:
            self.conflict("root", "", manifest.root_hash, current.root)
        # A whole tree becomes the root of a workspace that has none; a subtree never moves it.
        self.set_root = self.whole and current is None

    # -- ArchiveSink -------------------------------------------------------
    def agent(self, record: dict[str, Any]) -> None:
        agent_id = str(record.get("agent_id"))
        raw = canonical_json(record)
        held = None if self.fresh else self.store.get_agent(self.ws, agent_id)
        if held is None:
            self.store.put_agent(self.ws, agent_id, raw)
            self.count("agents", True)
        elif held == raw:
            self.count("agents", False)
        else:
            self.conflict("agent", agent_id, raw.decode(), held.decode(errors="replace"))

    def node(self, record: NodeRecord, *, ancestor: bool) -> None:
        if ancestor:
            return  # proof that the subtree is in the root; its other children are not here
        self.nodes.append(record)
        self.node_frames = []
        if len(self.nodes) >= _BATCH:
            self.flush_nodes()
        if len(self.frames) >= _BATCH:  # between nodes: a node's frames are renumbered together
            self.flush_frames()

    def frame(self, frame: Frame) -> None:
        self.node_frames.append(frame.frame_id)
        self.frames.append(frame)

    def frame_set(self, node_id: NodeId, root: str, count: int) -> None:
        state = NodeSetState(root, count)
        if not self.fresh:
            held = set(self.store.node_frame_ids(self.ws, node_id))
            ours = set(self.node_frames)
            if held == ours:
                self.count("frame_sets", False)
                return
            if held - ours:  # the target has frames there the archive lacks: the union's set
                union = sorted(held | ours)
                state = NodeSetState(root_of(union), len(union))
                if self.store.get_frame_set(self.ws, node_id) == state:
                    self.count("frame_sets", False)
                    return
        self.sets.append((node_id, state))
        if len(self.sets) >= _BATCH:
            self.flush_sets()

    def head(self, node_id: NodeId, frame_type: str, frame_id: FrameId) -> None:
        self.heads.append((node_id, frame_type, frame_id))
        if len(self.heads) >= _BATCH:
            self.flush_heads()

    def content(self, digest: ContentHash, size: int, chunks: Iterator[bytes]) -> None:
        if not self.contents_started:
            self.end_records()
        if self.store.blobs.exists_many(self.ws, [digest]):
            self.count("contents", False)
            return  # the verifier drains and hashes what is left unread
        self.store.blobs.put_stream(self.ws, digest, chunks)
        self.count("contents", True)

    # -- batches -----------------------------------------------------------
    def end_records(self) -> None:
        """Every record is in: raise the conflicts before a single content is stored."""
        self.contents_started = True
        self.flush_nodes()
        self.flush_frames()
        self.flush_heads()
        self.flush_sets()
        if self.conflicts:
            raise ImportConflict(
                f"{len(self.conflicts)} conflict(s) with workspace {self.report.workspace!r},"
                " nothing imported; first: "
                + ", ".join(f"{k}={v}" for k, v in self.conflicts[0].items()),
                conflicts=tuple(self.conflicts),
            )

    def flush_nodes(self) -> None:
        if not self.nodes:
            return
        ids = [record.node_id for record in self.nodes]
        held = set() if self.fresh else set(self.store.get_nodes(self.ws, ids))
        new = [record for record in self.nodes if record.node_id not in held]
        if new:
            self.store.put_nodes(self.ws, new)
        self.count("nodes", True, len(new))
        self.count("nodes", False, len(self.nodes) - len(new))
        if self.set_root:
            self.store.import_paths(self.ws, [(r.path, r.node_id) for r in self.nodes])
            self.count("paths", True, len(self.nodes))
        elif self.whole:  # the same root is current (another is a conflict): paths are there
            self.count("paths", False, len(self.nodes))
        self.nodes = []

    def flush_frames(self) -> None:
        if not self.frames:
            return
        held = (
            {} if self.fresh else self.store.get_frames(self.ws, [f.frame_id for f in self.frames])
        )
        new = [
            replace(frame, seq=frame.seq + self.base, put_seq=frame.put_seq + self.base)
            for frame in self.frames
            if frame.frame_id not in held
        ]
        # A held frame the archive shows put again after one of the node's new frames must
        # stay more recent than it: its recency pointer moves after the target's numbers too.
        first_new: dict[NodeId, int] = {}
        for frame in self.frames:
            if frame.frame_id not in held:
                first_new[frame.node_id] = min(
                    frame.put_seq, first_new.get(frame.node_id, frame.put_seq)
                )
        moved = [
            replace(held[frame.frame_id], put_seq=frame.put_seq + self.base)
            for frame in self.frames
            if frame.frame_id in held
            and frame.put_seq > first_new.get(frame.node_id, frame.put_seq)
        ]
        if new or moved:
            self.store.import_frames(self.ws, [*new, *moved])
            self.highest = max(self.highest, *(frame.put_seq for frame in [*new, *moved]))
        if new:
            self.store.import_basis_refs(
                self.ws,
                [(ref, frame.seq, frame.frame_id) for frame in new for ref in basis_refs(frame)],
            )
        self.count("frames", True, len(new) + len(moved))
        self.count("frames", False, len(self.frames) - len(new) - len(moved))
        self.frames = []

    def flush_sets(self) -> None:
        if self.sets:
            self.store.import_frame_sets(self.ws, self.sets)
            self.count("frame_sets", True, len(self.sets))
            self.sets = []

    def flush_heads(self) -> None:
        if not self.heads:
            return
        held = {} if self.fresh else self.store.get_heads_many(self.ws, [h[0] for h in self.heads])
        new = []
        for node_id, frame_type, frame_id in self.heads:
            current = held.get(node_id, {}).get(frame_type)
            if current is None:
                new.append((node_id, frame_type, frame_id))
            elif current == frame_id:
                self.count("heads", False)
            else:
                self.conflict("head", f"{node_id}/{frame_type}", frame_id, current)
        if new:
            self.store.import_heads(self.ws, new)
        self.count("heads", True, len(new))
        self.heads = []

    def finish(self) -> None:
        """After the second reading verified: the pointers, then the workspace's next number."""
        if not self.contents_started:
            self.end_records()
        self.flush_sets()
        if self.set_root:
            history = self.store.root_history(self.ws, 1)
            seq = history[0].seq + 1 if history else 1
            self.store.import_roots(
                self.ws, [RootEntry(seq, self.manifest.root_hash, self.clock.now())]
            )
            self.report.root_moved = True
        if self.highest:
            self.store.import_workspace(self.info, self.highest + 1)

    # -- bookkeeping -------------------------------------------------------
    def count(self, kind: str, written: bool, n: int = 1) -> None:
        (self.report.written if written else self.report.present)[kind] += n

    def conflict(self, kind: str, key: str, archive: str, target: str) -> None:
        self.conflicts.append({"archive": archive, "key": key, "kind": kind, "target": target})


def _highest_seq(store: StorageBackend, ws: WorkspaceId) -> int:
    """The highest number the workspace has given a frame (``max(put_seq)``; 0 when it has none)."""
    highest = 0
    for frame in store.iter_all_frames(ws):
        if isinstance(frame, Frame):
            highest = max(highest, frame.put_seq)
    return highest
