"""Frames written by model agents: per-file frames, then directory frames over them, bottom-up.

``generate`` asks the agent's provider (:mod:`treeframe.engine.models`) for
one frame per file of the scope, ``concurrency`` completions at a time, then
for each directory, deepest first, either asks the provider again over the
children's frames (``directories="provider"``: a synthesis basis with policy
``provider``, so the engine's freshness and completeness rules hold as for
any synthesis) or runs the ``summary`` synthesis policy (``"synthesis"``).

Provider output may vary, so currency is not FrameID equality: a node is
**current** for the agent when its head of the type is fresh, authored by
the agent, and carries the agent's prompt hash today (file frames in their
``generate.prompt_hash`` metadata, directory frames in their basis
parameters; docs/SCHEMAS.md "Generated frames"). Current nodes are skipped,
so a second run on the same inputs asks nothing. A fresh head by another
agent is left alone unless ``force``. One failed completion fails that node
only (reported with its error code); a provider refusing the credentials
stops the run, since every later call would fail the same way. Completions
run on worker threads; every store read and write stays on the caller's.
A dry run asks no model and writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

from treeframe.engine.file_contents import FileContents, checked_file_bytes
from treeframe.engine.freshness import Freshness
from treeframe.engine.models import ModelAgent
from treeframe.engine.policies import RESERVED_POLICY
from treeframe.engine.prompts import TemplateKind, context_hash, render
from treeframe.engine.synthesis import Gathered, Synthesizer, synthesis_params
from treeframe.engine.walk import walk_post_order
from treeframe.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    ProviderAuthFailed,
    ProviderResponseInvalid,
    TreeframeError,
)
from treeframe.frames.frame import DEFAULT_CONTENT_TYPE, Basis, Frame, new_frame, validate_label
from treeframe.ids import FrameId, NodeId, WorkspaceId
from treeframe.observability.progress import ProgressFn, throttled
from treeframe.providers.base import Completion, CompletionRequest, Message, Provider, Usage
from treeframe.storage.base import StorageBackend
from treeframe.tree.records import NodeRecord

__all__ = [
    "DIRECTORY_MODES",
    "META_CONTEXT_HASH",
    "META_PROMPT_HASH",
    "PROVIDER_POLICY",
    "FrameGenerator",
    "GenerateOptions",
    "GenerateReport",
    "GeneratedEntry",
    "directory_frame",
    "file_frame",
    "is_model_frame",
]

PROVIDER_POLICY = RESERVED_POLICY
"""Policy ID in the basis of a directory frame a model wrote (reserved: no synthesis policy has it)."""
DIRECTORY_MODES = ("provider", "synthesis", "none")
META_PROVIDER = "generate.provider"
META_MODEL = "generate.model"
META_PROMPT_HASH = "generate.prompt_hash"
META_CONTEXT_HASH = "generate.context_hash"
META_INPUT_TOKENS = "generate.input_tokens"
META_OUTPUT_TOKENS = "generate.output_tokens"
META_FINISH = "generate.finish_reason"
_BINARY_PROBE = 8192
_CHILD_TEXT_MAX = 2000
"""Characters of one child's frame put into a directory prompt."""

Status = Literal["generated", "current", "would_generate", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class GenerateOptions:
    """What to generate; the defaults are the ``generate.*`` settings'."""

    frame_type: str = "summary"
    recursive: bool = False
    dry_run: bool = False
    directories: str = "provider"
    concurrency: int = 4
    max_file_bytes: int = 32 * 1024
    force: bool = False

    def __post_init__(self) -> None:
        validate_label(self.frame_type, "frame type")
        if self.directories not in DIRECTORY_MODES:
            raise InvalidRequest(
                f"unknown directories mode {self.directories!r} (use provider, synthesis or none)"
            )
        if self.concurrency < 1 or self.max_file_bytes < 1:
            raise InvalidRequest("concurrency and max_file_bytes must be at least 1")


@dataclass(frozen=True, slots=True)
class GeneratedEntry:
    """What became of one node of the scope."""

    path: str
    node_id: NodeId
    kind: str
    status: Status
    frame_id: FrameId | None = None
    reason: str = ""
    code: str = ""
    input_tokens: int = 0
    output_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "node_id": self.node_id,
            "kind": self.kind,
            "status": self.status,
            "frame_id": self.frame_id,
            "reason": self.reason,
            "code": self.code or None,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass(frozen=True, slots=True)
class GenerateReport:
    """What ``generate`` did (or, with ``dry_run``, would do), node by node, with the totals."""

    node_id: NodeId
    agent_id: str
    provider: str
    model: str
    frame_type: str
    dry_run: bool
    entries: tuple[GeneratedEntry, ...]
    cost: float
    duration_ms: int

    def count(self, status: Status) -> int:
        """How many nodes ended with ``status``."""
        return sum(1 for e in self.entries if e.status == status)

    @property
    def input_tokens(self) -> int:
        """Input tokens of every completion."""
        return sum(e.input_tokens for e in self.entries)

    @property
    def output_tokens(self) -> int:
        """Output tokens of every completion."""
        return sum(e.output_tokens for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "node_id": self.node_id,
            "agent_id": self.agent_id,
            "provider": self.provider,
            "model": self.model,
            "frame_type": self.frame_type,
            "dry_run": self.dry_run,
            "generated": self.count("generated"),
            "current": self.count("current"),
            "would_generate": self.count("would_generate"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": round(self.cost, 6),
            "duration_ms": self.duration_ms,
            "entries": [e.to_dict() for e in self.entries],
        }


def is_model_frame(frame: Frame) -> bool:
    """True for a frame a model agent wrote (``generate``), which only its agent can redo."""
    if frame.basis.kind == "synthesis":
        return frame.basis.policy_id == PROVIDER_POLICY
    return any(key == META_PROMPT_HASH for key, _ in frame.metadata)


def _metadata(
    model: ModelAgent, kind: TemplateKind, request: CompletionRequest, completion: Completion
) -> dict[str, str]:
    """What produced a generated frame (SCHEMAS.md §16); not hashed."""
    return {
        META_PROVIDER: model.provider.name,
        META_MODEL: completion.model or model.model,
        META_PROMPT_HASH: prompt_hash(model, kind),
        META_CONTEXT_HASH: context_hash(request.system, request.messages[-1].content),
        META_INPUT_TOKENS: str(completion.usage.input_tokens),
        META_OUTPUT_TOKENS: str(completion.usage.output_tokens),
        META_FINISH: completion.finish_reason or "unknown",
    }


def _text(completion: Completion, provider: str) -> bytes:
    text = completion.text.strip()
    if not text:
        raise ProviderResponseInvalid(f"provider {provider!r} returned no text", provider=provider)
    return (text + "\n").encode("utf-8")


def prompt_hash(model: ModelAgent, kind: TemplateKind) -> str:
    """The agent's prompt hash today for a file or directory frame."""
    return model.prompts.prompt_hash(
        kind,
        provider=model.provider.name,
        model=model.model,
        max_output_tokens=model.max_output_tokens,
        temperature=model.temperature,
    )


@dataclass(frozen=True, slots=True)
class FileRequest:
    """A file's completion request; ``local`` is the answer when no model is asked (binary files)."""

    request: CompletionRequest
    local: Completion | None = None

    def answer(self, provider: Provider) -> Completion:
        """The completion: the local one, else the provider's."""
        return self.local if self.local is not None else provider.complete(self.request)


BINARY_MODEL = "none"
"""``generate.model`` of a binary file's frame: described from its size, no model asked."""


def file_request(
    model: ModelAgent, node: NodeRecord, data: bytes, frame_type: str, max_file_bytes: int
) -> FileRequest:
    """The request describing file ``node`` with content ``data``.

    Binary content (a NUL in its first 8 KiB) is never sent to a model: the
    file gets a one-line frame from its size instead, so directories above
    it are not left incomplete.
    """
    binary = b"\0" in data[:_BINARY_PROBE]
    shown = b"" if binary else data[:max_file_bytes]
    truncated = len(shown) < len(data)
    text = shown.decode("utf-8", errors="replace")
    note = f" Only its first {len(shown)} of {len(data)} bytes are shown." if truncated else ""
    values = {
        "path": node.path,
        "content": "(binary content, not shown)" if binary else text,
        "size": str(len(data)),
        "truncated": note,
        "frame_type": frame_type,
    }
    message = render(model.prompts.file, values)
    context = {**values, "kind": "file", "truncated": "true" if truncated else "false"}
    request = CompletionRequest(
        model=model.model,
        messages=(Message("user", message),),
        system=model.prompts.system,
        max_output_tokens=model.max_output_tokens,
        temperature=model.temperature,
        context=context,
    )
    if not binary:
        return FileRequest(request)
    local = Completion(f"{node.path}: binary file, {len(data)} bytes.", BINARY_MODEL, Usage())
    return FileRequest(request, local)


def file_frame(
    model: ModelAgent,
    node: NodeRecord,
    frame_type: str,
    request: CompletionRequest,
    completion: Completion,
    max_bytes: int,
) -> tuple[Frame, bytes]:
    """The frame of ``completion`` on file ``node`` (based on the node, hashes in its metadata)."""
    content = _text(completion, model.provider.name)
    meta = _metadata(model, "file", request, completion)
    frame = new_frame(
        node.node_id,
        frame_type,
        model.agent_id,
        content,
        basis=Basis.node(node.node_id),
        content_type=DEFAULT_CONTENT_TYPE,
        metadata=meta,
        max_content_bytes=max_bytes,
    )
    return frame, content


def directory_request(
    model: ModelAgent, node: NodeRecord, gathered: Gathered, frame_type: str, max_bytes: int
) -> CompletionRequest:
    """The request describing directory ``node`` over its children's frames."""
    lines: list[str] = []
    budget = max_bytes
    for entry in gathered.inputs:
        text = entry.text.strip()[:_CHILD_TEXT_MAX].replace("\n", "\n  ")
        line = f"- {entry.child_name}: {text}"
        budget -= len(line)
        if budget < 0:
            lines.append(f"- ... and {len(gathered.inputs) - len(lines)} more entries")
            break
        lines.append(line)
    children = "\n".join(lines)
    values = {"path": node.path or ".", "children": children, "frame_type": frame_type}
    message = render(model.prompts.directory, values)
    return CompletionRequest(
        model=model.model,
        messages=(Message("user", message),),
        system=model.prompts.system,
        max_output_tokens=model.max_output_tokens,
        temperature=model.temperature,
        context={**values, "kind": "dir"},
    )


def directory_params(model: ModelAgent) -> dict[str, str]:
    """The ``params`` of a model-written directory frame's basis (they enter its FrameID)."""
    return {"prompt_hash": prompt_hash(model, "directory")}


def directory_frame(
    synth: Synthesizer,
    model: ModelAgent,
    node: NodeRecord,
    gathered: Gathered,
    frame_type: str,
    request: CompletionRequest,
    completion: Completion,
) -> tuple[Frame, bytes]:
    """The frame of ``completion`` on directory ``node``: a synthesis basis with policy ``provider``."""
    content = _text(completion, model.provider.name)
    meta = _metadata(model, "directory", request, completion)
    frame = synth.assemble(
        node,
        gathered,
        frame_type,
        model.agent_id,
        PROVIDER_POLICY,
        directory_params(model),
        content,
        content_type=DEFAULT_CONTENT_TYPE,
        metadata=meta,
    )
    return frame, content


@dataclass(slots=True)
class _Job:
    node: NodeRecord
    expected: FrameId | None
    request: CompletionRequest
    gathered: Gathered | None = None


@dataclass(slots=True)
class _Run:
    entries: dict[NodeId, GeneratedEntry] = field(default_factory=dict)
    cost: float = 0.0


class FrameGenerator:
    """One ``generate`` call: the scope's files, then its directories, as the module doc says."""

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        model: ModelAgent,
        files: FileContents,
        synth: Synthesizer,
        options: GenerateOptions,
        *,
        may_synthesize: bool,
        max_bytes: int,
        summary: Callable[[NodeRecord], tuple[Frame, bytes] | None] | None = None,
    ) -> None:
        self.store = store
        self.ws = ws
        self.model = model
        self.files = files
        self.synth = synth
        self.options = options
        self.may_synthesize = may_synthesize
        self.max_bytes = max_bytes
        self.summary = summary
        """Builds a directory's ``summary`` synthesis (``directories="synthesis"``); None: off."""
        self.run_state = _Run()
        self._phase_done: dict[str, int] = {}

    def run(self, record: NodeRecord, progress: ProgressFn | None = None) -> GenerateReport:
        """Generate for ``record`` (its whole subtree when recursive)."""
        started = time.perf_counter()
        scope = (
            list(walk_post_order(self.store, self.ws, record))
            if self.options.recursive
            else [record]
        )
        files = [n for n in scope if n.kind == "file"]
        dirs = [n for n in scope if n.kind == "dir"]
        self._files(files, progress)
        if self.options.directories != "none":
            self._directories(dirs, progress)
        entries = tuple(sorted(self.run_state.entries.values(), key=lambda e: (e.path, e.kind)))
        return GenerateReport(
            node_id=record.node_id,
            agent_id=self.model.agent_id,
            provider=self.model.provider.name,
            model=self.model.model,
            frame_type=self.options.frame_type,
            dry_run=self.options.dry_run,
            entries=entries,
            cost=self.run_state.cost,
            duration_ms=int((time.perf_counter() - started) * 1000),
        )

    # -- bookkeeping -----------------------------------------------------------
    def _note(self, node: NodeRecord, status: Status, **fields: Any) -> None:
        self.run_state.entries[node.node_id] = GeneratedEntry(
            node.path, node.node_id, node.kind, status, **fields
        )

    def _failed(self, node: NodeRecord, exc: TreeframeError) -> None:
        self._note(node, "failed", reason=exc.message, code=exc.code)

    def _heads(
        self, nodes: Sequence[NodeRecord]
    ) -> tuple[dict[NodeId, FrameId], dict[FrameId, Frame]]:
        heads = self.store.get_heads_many(self.ws, [n.node_id for n in nodes])
        by_node = {
            node_id: fid
            for node_id, types in heads.items()
            if (fid := types.get(self.options.frame_type)) is not None
        }
        return by_node, self.store.get_frames(self.ws, list(by_node.values()))

    def _leave_alone(self, node: NodeRecord, head: Frame | None, fresh: bool) -> bool:
        """Note and skip a node whose fresh head another agent wrote (unless forced)."""
        if head is None or not fresh or head.agent_id == self.model.agent_id or self.options.force:
            return False
        self._note(
            node,
            "skipped",
            frame_id=head.frame_id,
            reason=f"its {self.options.frame_type!r} head is a fresh frame by "
            f"{head.agent_id!r} (--force replaces it)",
        )
        return True

    # -- files -----------------------------------------------------------------
    def _files(self, nodes: list[NodeRecord], progress: ProgressFn | None) -> None:
        heads, frames = self._heads(nodes)
        freshness = Freshness(self.store, self.ws)
        wanted = prompt_hash(self.model, "file")
        planned: list[tuple[NodeRecord, FrameId | None]] = []
        for node in nodes:
            head = frames.get(heads[node.node_id]) if node.node_id in heads else None
            fresh = head is not None and freshness.why_stale(head) is None
            if self._leave_alone(node, head, fresh):
                continue
            if (
                head is not None
                and fresh
                and head.agent_id == self.model.agent_id
                and dict(head.metadata).get(META_PROMPT_HASH) == wanted
                and not self.options.force
            ):
                self._note(node, "current", frame_id=head.frame_id)
                continue
            planned.append((node, head.frame_id if head else None))
        self._complete(
            self._file_jobs(planned), "files", self._write_file, progress, total=len(planned)
        )
        if progress is not None:
            progress("files", len(planned), len(planned))

    def _file_jobs(self, planned: list[tuple[NodeRecord, FrameId | None]]) -> Iterator[_Job]:
        """The completion jobs of the planned files, each built (its file read) only when due.

        Built lazily, so a tree of any size holds no more prompts in memory
        than the completions in flight; a file that cannot be read fails
        alone, a binary one is written at once (no model), a dry run only notes.
        """
        for node, expected in planned:
            try:
                data = checked_file_bytes(self.files, node)
                built = file_request(
                    self.model, node, data, self.options.frame_type, self.options.max_file_bytes
                )
            except TreeframeError as exc:
                self._failed(node, exc)
                continue
            if self.options.dry_run:
                self._note(node, "would_generate")
                continue
            job = _Job(node, expected, built.request)
            if built.local is None:
                yield job
                continue
            try:  # no model to ask: written at once
                self._write_file(job, built.local)
            except TreeframeError as exc:
                self._failed(node, exc)

    def _write_file(self, job: _Job, completion: Completion) -> None:
        frame, content = file_frame(
            self.model, job.node, self.options.frame_type, job.request, completion, self.max_bytes
        )
        self._append(job, frame, content, completion)

    # -- directories -------------------------------------------------------------
    def _directories(self, dirs: list[NodeRecord], progress: ProgressFn | None) -> None:
        if not dirs:
            return
        if not self.may_synthesize:
            for node in dirs:
                self._note(
                    node,
                    "skipped",
                    reason=f"directory frames need the synthesize permission, which "
                    f"{self.model.agent_id!r} lacks",
                )
            return
        # Deepest first: a level's frames are the next level's inputs.
        depth = {n.node_id: (n.path.count("/") + 1 if n.path else 0) for n in dirs}
        for level in sorted(set(depth.values()), reverse=True):
            batch = [n for n in dirs if depth[n.node_id] == level]
            if self.options.directories == "synthesis":
                for node in batch:
                    self._synthesize(node)
            else:
                jobs = (job for node in batch if (job := self._directory_job(node)) is not None)
                self._complete(jobs, "directories", self._write_directory, progress, total=None)
        if progress is not None and self.options.directories == "provider":
            done = self._phase_done.get("directories", 0)
            progress("directories", done, done)

    def _pending_below(self, node: NodeRecord) -> bool:
        """In a dry run: a child of ``node`` would get a frame, so its inputs would change."""
        entries = self.run_state.entries
        return any(
            (entry := entries.get(child)) is not None and entry.status == "would_generate"
            for _, child in node.children
        )

    def _directory_job(self, node: NodeRecord) -> _Job | None:
        try:
            gathered = self.synth.gather(node, self.options.frame_type, "skip")
        except TreeframeError as exc:
            self._failed(node, exc)
            return None
        if self.options.dry_run and self._pending_below(node):
            self._note(node, "would_generate")
            return None
        if not gathered.inputs:
            self._note(
                node,
                "skipped",
                reason=f"no child has a {self.options.frame_type!r} frame"
                if node.children
                else "empty directory",
            )
            return None
        head_id = self.store.get_head(self.ws, node.node_id, self.options.frame_type)
        head = self.store.get_frame(self.ws, head_id) if head_id else None
        expected = Basis.synthesis(
            [entry.frame.frame_id for entry in gathered.inputs],
            PROVIDER_POLICY,
            synthesis_params(self.options.frame_type, "skip", directory_params(self.model)),
        )
        fresh = head is not None and Freshness(self.store, self.ws).why_stale(head) is None
        if self._leave_alone(node, head, fresh):
            return None
        if (
            head is not None
            and head.agent_id == self.model.agent_id
            and head.basis == expected
            and not self.options.force
        ):
            self._note(node, "current", frame_id=head.frame_id)
            return None
        if self.options.dry_run:
            self._note(node, "would_generate")
            return None
        request = directory_request(
            self.model, node, gathered, self.options.frame_type, self.options.max_file_bytes
        )
        return _Job(node, head_id, request, gathered)

    def _write_directory(self, job: _Job, completion: Completion) -> None:
        assert job.gathered is not None
        frame, content = directory_frame(
            self.synth,
            self.model,
            job.node,
            job.gathered,
            self.options.frame_type,
            job.request,
            completion,
        )
        self._append(job, frame, content, completion)

    def _synthesize(self, node: NodeRecord) -> None:
        if self.summary is None:
            return
        if self.options.dry_run and self._pending_below(node):
            self._note(node, "would_generate")
            return
        head_id = self.store.get_head(self.ws, node.node_id, self.options.frame_type)
        try:
            built = self.summary(node)
        except TreeframeError as exc:
            self._failed(node, exc)
            return
        if built is None:
            self._note(node, "skipped", reason=f"no child has a {self.options.frame_type!r} frame")
            return
        frame, content = built
        if frame.frame_id == head_id:
            self._note(node, "current", frame_id=head_id)
            return
        if self.options.dry_run:
            self._note(node, "would_generate")
            return
        try:
            stored = self.synth.append_as_head(frame, content, head_id)
        except ConcurrentUpdate as exc:
            self._failed(node, exc)
            return
        self._note(node, "generated", frame_id=stored.frame_id)

    # -- completions and writes --------------------------------------------------
    def _complete(
        self,
        jobs: Iterable[_Job],
        phase: str,
        write: Callable[[_Job, Completion], None],
        progress: ProgressFn | None,
        *,
        total: int | None,
    ) -> int:
        """Run the jobs' completions on worker threads; write each result here, as it arrives.

        At most twice ``concurrency`` jobs are taken from ``jobs`` ahead of
        their completion (the rest are not built yet). Returns how many completed. ``progress`` counts on from what earlier
        batches of the phase did (directories come a level at a time, their
        total unknown until the last level: ``total`` None).
        """
        base = self._phase_done.get(phase, 0)
        tick = throttled(progress)
        done = 0
        provider = self.model.provider
        pending = iter(jobs)
        window = 2 * self.options.concurrency
        in_flight: dict[Future[Completion], _Job] = {}
        pool = ThreadPoolExecutor(
            max_workers=self.options.concurrency, thread_name_prefix="generate"
        )

        def refill() -> None:
            while len(in_flight) < window:
                job = next(pending, None)
                if job is None:
                    return
                in_flight[pool.submit(provider.complete, job.request)] = job

        try:
            refill()
            while in_flight:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = in_flight.pop(future)
                    try:
                        write(job, future.result())
                    except ProviderAuthFailed:
                        raise  # every later call would fail the same way
                    except TreeframeError as exc:
                        self._failed(job.node, exc)
                    done += 1
                    if tick is not None:
                        tick(phase, base + done, total)
                refill()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._phase_done[phase] = base + done
        return done

    def _append(self, job: _Job, frame: Frame, content: bytes, completion: Completion) -> None:
        usage = completion.usage
        self.run_state.cost += self.model.cost(usage.input_tokens, usage.output_tokens)
        tokens = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
        try:
            stored = self.synth.append_as_head(frame, content, job.expected)
        except ConcurrentUpdate:
            self._note(
                job.node,
                "failed",
                reason=f"the {self.options.frame_type!r} head of {job.node.path or '.'!r} "
                "moved while its completion ran; run generate again",
                code=ConcurrentUpdate.code,
                **tokens,
            )
            return
        self._note(job.node, "generated", frame_id=stored.frame_id, **tokens)
