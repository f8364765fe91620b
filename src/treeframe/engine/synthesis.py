"""Branch synthesis: a directory's frame built bottom-up from its children's head frames.

Inputs are each child's head of the requested type (``*``: every head),
ordered by child name then FrameID. The basis is those FrameIDs plus the
policy ID and ``{"input_type", "missing", "params"}``. Children without an
input follow the ``missing`` rule: ``skip`` them or ``fail`` with
SynthesisFailed naming them. A directory with children but no input among
them gets no frame (recursively: directories with no inputs below them); a
truly empty directory gets a stable empty frame. A request whose whole scope
holds no frame of the input type is refused (``synthesis_failed``).
Synthesis reads only the directory's own children (never outside the
subtree) and serializes per directory: the append is a compare-and-set
against the head seen before the inputs were read, retried on a lost race.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from treeframe.engine.contents import verified_contents
from treeframe.engine.freshness import (
    ANY_TYPE,
    INCOMPLETE_KEY,
    marked_incomplete,
    selection_inputs,
)
from treeframe.engine.policies import SynthesisInput, SynthesisPolicy
from treeframe.engine.types import SynthesisResult
from treeframe.errors import (
    ConcurrentUpdate,
    InvalidPolicy,
    InvalidRequest,
    StoreCorrupt,
    SynthesisFailed,
    TreeframeError,
)
from treeframe.frames import merkle_set
from treeframe.frames.frame import Basis, Frame, new_frame, validate_label
from treeframe.ids import FrameId, NodeId, WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.tree.paths import child_path
from treeframe.tree.records import NodeRecord

if TYPE_CHECKING:
    from treeframe.engine.audit import AuditSession
    from treeframe.engine.runtime import Runtime

__all__ = ["MISSING_RULES", "Gathered", "Synthesizer", "synthesis_params"]

MISSING_RULES = ("skip", "fail")
_RETRIES = 8
_PROBE = 500  # children probed per query when checking that a scope has any input


@dataclass(frozen=True, slots=True)
class Gathered:
    """A directory's synthesis inputs as read now: what the basis will name."""

    input_type: str
    missing: str
    inputs: tuple[SynthesisInput, ...]
    missed: list[str]
    """Child paths without an input (skipped under ``skip``)."""
    lacking: bool
    """A child here or below lacks an input: the frame is marked incomplete."""


def synthesis_params(input_type: str, missing: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters recorded in a synthesis basis."""
    return {"input_type": input_type, "missing": missing, "params": dict(params)}


class Synthesizer:
    """Runs one synthesis request.

    The runtime gives the policies, the clock stamping ``created_at`` and the
    per-directory locks (threads of one runtime never build one directory's
    frame twice at once; across runtimes and processes the compare-and-set
    append serializes).
    """

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        max_bytes: int,
        max_children: int = 10_000,
        *,
        runtime: Runtime,
        audit: AuditSession | None = None,
    ) -> None:
        self.store = store
        self.ws = ws
        self.runtime = runtime
        self.audit = audit
        """Each frame write goes through it (its own unit of work with its audit entry)."""
        self.max_bytes = max_bytes
        self.max_children = max_children
        # A dry run's predicted frames: heads it would have moved and their bytes.
        self.overlay: dict[tuple[NodeId, str], FrameId] = {}
        self.pending: dict[FrameId, tuple[Frame, bytes]] = {}

    def run(
        self,
        record: NodeRecord,
        frame_type: str,
        agent: str,
        policy_id: str,
        params: dict[str, Any],
        *,
        recursive: bool,
        missing: str,
        output_type: str | None,
    ) -> SynthesisResult:
        """Synthesize ``record`` (and its subdirectories first, when recursive)."""
        if record.kind != "dir":
            raise InvalidRequest(
                f"can only synthesize a directory; {record.path!r} is a {record.kind}"
            )
        if frame_type != ANY_TYPE:
            validate_label(frame_type, "frame type")
        out_type = output_type or (frame_type if frame_type != ANY_TYPE else "synthesis")
        validate_label(out_type, "output frame type")
        if missing not in MISSING_RULES:
            raise InvalidPolicy(f"unknown missing-child rule {missing!r} (use skip or fail)")
        policy = self.runtime.policies.get(policy_id)
        checked = policy.check_params(params)
        order = self._order(record, recursive)
        if recursive:
            self._require_some_input(record, order, frame_type)
        frames: list[Frame] = []
        skipped: list[str] = []
        bare: list[str] = []
        for directory in order:
            built = self.synthesize_one(
                directory, frame_type, out_type, agent, policy, checked, missing
            )
            if built is None and not recursive:
                raise self._nothing_to_synthesize(record, frame_type)
            if built is None:
                bare.append(directory.path)
                continue
            frames.append(built[0])
            skipped.extend(built[1])
        return SynthesisResult(tuple(frames), tuple(skipped), tuple(bare))

    def _require_some_input(
        self, record: NodeRecord, order: list[NodeRecord], input_type: str
    ) -> None:
        """Refuse a recursive synthesis with nothing to read, before anything is written.

        When no child anywhere in scope has a frame of the input type (a typo'd
        ``--type``), the run would only leave empty frames behind as heads.
        A scope of truly empty directories (no children at all) is fine: each
        gets the stable empty frame. Stops at the first input found.
        """
        children = [child for directory in order for _, child in directory.children]
        for start in range(0, len(children), _PROBE):
            chunk = children[start : start + _PROBE]
            if input_type == ANY_TYPE:
                if self.store.get_heads_many(self.ws, chunk):
                    return
            elif any(input_type in h for h in self.store.get_heads_many(self.ws, chunk).values()):
                return
        if children:
            raise self._nothing_to_synthesize(record, input_type)

    @staticmethod
    def _nothing_to_synthesize(record: NodeRecord, input_type: str) -> SynthesisFailed:
        return SynthesisFailed(
            f"nothing to synthesize in {record.path or '.'!r}: no node in scope has a "
            f"{input_type!r} frame (is the frame type right?)"
        )

    def _order(self, record: NodeRecord, recursive: bool) -> list[NodeRecord]:
        """The directory, or its whole subtree of directories in post-order."""
        if not recursive:
            return [record]
        out: list[NodeRecord] = []
        stack: list[tuple[NodeRecord, bool]] = [(record, False)]
        while stack:
            current, expanded = stack.pop()
            if expanded:
                out.append(current)
                continue
            stack.append((current, True))
            ids = [child for _, child in current.children]
            found = self.store.get_nodes(self.ws, ids)
            subdirs = [found[i] for i in ids if i in found and found[i].kind == "dir"]
            stack.extend((d, False) for d in reversed(subdirs))
        return out

    def synthesize_one(
        self,
        directory: NodeRecord,
        input_type: str,
        out_type: str,
        agent: str,
        policy: SynthesisPolicy,
        params: dict[str, Any],
        missing: str,
    ) -> tuple[Frame, list[str]] | None:
        """Build and put one directory's frame; retried when another writer moved the head.

        None (nothing written) for a directory whose children have no input at
        all: it gets no frame, rather than an empty one that would become a head.
        """
        with self.runtime.locks.for_directory(self.ws, directory.node_id):
            for _ in range(_RETRIES):
                expected = self.store.get_head(self.ws, directory.node_id, out_type)
                frame, content, missed = self.build(
                    directory, input_type, out_type, agent, policy, params, missing
                )
                if directory.children and not frame.basis.child_frames:
                    return None
                try:
                    stored = self.append_as_head(frame, content, expected)
                except ConcurrentUpdate:
                    continue
                return stored, missed
        raise SynthesisFailed(
            f"synthesis of {directory.path or '.'!r} kept losing races with other writers"
        )

    def append_as_head(self, frame: Frame, content: bytes, expected: FrameId | None) -> Frame:
        """Put ``frame`` as its (node, type) head, compare-and-set against ``expected``.

        A synthesis can rebuild a frame that already exists (inputs went back
        to an earlier state, or two selections share one output type); the
        store's re-put then makes it current again — head and most recent in
        recency order — since its inputs are current and the head's may not be.
        """

        def write() -> Frame:
            self.store.blobs.put(self.ws, frame.content_hash, content)  # content before the record
            return self.store.append_frame(
                self.ws,
                frame,
                merkle_set.root_of_raw,
                self.runtime.clock.now(),
                expected_head=expected,
            ).frame

        if self.audit is None:
            return write()
        return self.audit.write(write, target=lambda f: (f.node_id, f.frame_id))

    def build(
        self,
        directory: NodeRecord,
        input_type: str,
        out_type: str,
        agent: str,
        policy: SynthesisPolicy,
        params: dict[str, Any],
        missing: str,
    ) -> tuple[Frame, bytes, list[str]]:
        """The frame a synthesis would append now (nothing is written)."""
        gathered = self.gather(directory, input_type, missing)
        try:
            content = policy.synthesize(directory.path, gathered.inputs, params)
        except TreeframeError:
            raise
        except Exception as exc:  # a plugin's bug becomes a clear, typed failure
            raise SynthesisFailed(
                f"policy {policy.policy_id!r} failed on {directory.path or '.'!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(content, bytes):
            raise SynthesisFailed(
                f"policy {policy.policy_id!r} returned {type(content).__name__}, not bytes"
            )
        frame = self.assemble(
            directory,
            gathered,
            out_type,
            agent,
            policy.policy_id,
            params,
            content,
            content_type=policy.content_type,
        )
        return frame, content, gathered.missed

    def gather(self, directory: NodeRecord, input_type: str, missing: str) -> Gathered:
        """The inputs a synthesis of ``directory`` takes today, with their verified contents.

        Split from :meth:`build` so that a caller computing the content
        elsewhere (a model, in ``generate``) builds the same basis.
        """
        if len(directory.children) > self.max_children:
            raise SynthesisFailed(
                f"cannot synthesize {directory.path or '.'!r}: {len(directory.children)} children, "
                f"over the limit of {self.max_children} (synthesis.max_children)"
            )
        found, absent = selection_inputs(self.store, self.ws, directory, input_type, self.overlay)
        missed = [child_path(directory.path, name) for name in absent]
        if absent and missing == "fail":
            raise SynthesisFailed(
                f"cannot synthesize {directory.path or '.'!r}: children without a "
                f"{input_type!r} frame: {', '.join(missed)}",
                missing=tuple(missed),
            )
        wanted = [fid for _, fid in found]
        # A dry run's predicted frames are not stored: their bytes come from memory.
        predicted = {fid: self.pending[fid] for fid in wanted if fid in self.pending}
        frames = self.store.get_frames(self.ws, [f for f in wanted if f not in predicted])
        dangling = [f for f in wanted if f not in frames and f not in predicted]
        if dangling:
            raise StoreCorrupt(f"a head names frame {dangling[0]}, which is not stored")
        contents = verified_contents(self.store, self.ws, frames.values())
        for fid, (frame, data) in predicted.items():
            frames[fid] = frame
            contents[frame.content_hash] = data
        inputs = tuple(
            SynthesisInput(
                name,
                child_path(directory.path, name),
                frames[fid],
                contents[frames[fid].content_hash],
            )
            for name, fid in found
        )
        # Marked when a child lacks an input here or below: a pure function of
        # the basis (its inputs and their marks), so a rebuild gets the same mark.
        lacking = bool(absent) or any(marked_incomplete(frames[fid]) for _, fid in found)
        return Gathered(input_type, missing, inputs, missed, lacking)

    def assemble(
        self,
        directory: NodeRecord,
        gathered: Gathered,
        out_type: str,
        agent: str,
        policy_id: str,
        params: Mapping[str, Any],
        content: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Frame:
        """The synthesis frame of ``content`` over ``gathered`` (nothing is written)."""
        if len(content) > self.max_bytes:
            raise SynthesisFailed(
                f"synthesis of {directory.path or '.'!r} is {len(content)} bytes, "
                f"over the frame limit of {self.max_bytes}"
            )
        basis = Basis.synthesis(
            [entry.frame.frame_id for entry in gathered.inputs],
            policy_id,
            synthesis_params(gathered.input_type, gathered.missing, params),
        )
        meta = dict(metadata or {})
        if gathered.lacking:
            meta[INCOMPLETE_KEY] = "true"
        return new_frame(
            directory.node_id,
            out_type,
            agent,
            content,
            basis=basis,
            content_type=content_type,
            metadata=meta or None,
            max_content_bytes=self.max_bytes,
        )
