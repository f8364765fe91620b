"""Workspace operations: synthesize, regenerate, generate, stale, compose, and the root history.

Each is its ContextAPI method one-to-one, authorized by the caller's
principal, with the defaults the CLI takes from the settings (here the
server's), so the answers match the CLI's ``--json`` output of the same
command. None of them is cacheable: they report or change current state.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from treeframe.api.caching import NO_CACHE
from treeframe.api.convert import composition, frame_record, regeneration, root_entry, stale_report
from treeframe.api.deps import Bound
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.jobs import JOB_RESPONSES, run_as_job
from treeframe.api.work import WorkQueue
from treeframe.config.settings import Settings
from treeframe.engine.composition import CompositionPolicy
from treeframe.engine.file_contents import GivenFileContents
from treeframe.engine.generation import GenerateOptions
from treeframe.engine.principal import Permission, authorize
from treeframe.errors import InvalidRequest
from treeframe.observability.progress import ProgressFn
from treeframe.wire.operations import (
    ComposeRequest,
    Composition,
    GenerateRequest,
    Generation,
    RegenerateRequest,
    Regeneration,
    Roots,
    StaleReport,
    Synthesis,
    SynthesizedFrame,
    SynthesizeRequest,
)

__all__ = ["MAX_ROOTS_PAGE", "router"]

MAX_ROOTS_PAGE = 1000

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["operations"], responses=ERROR_RESPONSES)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def decoded_contents(contents: dict[str, str]) -> dict[str, bytes]:
    """``contents`` decoded from base64; a bad entry is a 400 naming its path."""
    out: dict[str, bytes] = {}
    for path, text in contents.items():
        try:
            out[path] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"contents[{path!r}] is not base64") from None
    return out


def _work(request: Request) -> WorkQueue:
    queue: WorkQueue = request.app.state.work
    return queue


@router.post("/synthesize", summary="Synthesize a directory (or its subtree) from child heads")
def synthesize(bound: Bound, request: Request, body: SynthesizeRequest) -> Synthesis:
    """Frames authored by the caller's agent, per directory in post-order (needs synthesize).

    Runs in the worker's bounded work queue: ``queue_full`` (429) when it is full.
    """
    settings = _settings(request)
    with _work(request).admit("synthesize").running():
        result = bound.api.synthesize_branch(
            body.node,
            body.frame_type,
            body.policy or settings.synthesis.default_policy,
            principal=bound.principal,
            params=body.params,
            recursive=body.recursive,
            missing=body.missing or settings.synthesis.missing,
            output_type=body.output_type,
        )
    nodes = bound.api.store.get_nodes(bound.api.ws, [f.node_id for f in result.frames])
    frames = []
    for frame in result.frames:
        node = nodes.get(frame.node_id)
        payload = frame_record(frame).model_dump(by_alias=True)
        payload["path"] = node.path if node is not None else None
        frames.append(SynthesizedFrame.model_validate(payload))
    return Synthesis(
        frames=frames, skipped=list(result.skipped), without_inputs=list(result.without_inputs)
    )


@router.post(
    "/regenerate",
    summary="Recompute the stale frames the engine can recompute",
    response_model=Regeneration,
    responses=JOB_RESPONSES,
)
async def regenerate(
    bound: Bound, request: Request, body: RegenerateRequest
) -> Regeneration | Response:
    """Needs synthesize (a dry run only read); frames needing their agent are reported.

    ``Prefer: respond-async`` runs it as a job (202, phases ``nodes`` and ``frames``).
    Admitted to the worker's bounded work queue first (``queue_full``, 429, when
    it is full: a job too is refused, never accepted and dropped).
    """
    # Refused before a job starts (the engine checks again): a refusal is never a job.
    authorize(bound.principal, Permission.READ if body.dry_run else Permission.SYNTHESIZE)
    ticket = _work(request).admit("regenerate")

    def work(progress: ProgressFn | None) -> Regeneration:
        with ticket.running():
            report = bound.api.regenerate(
                body.node,
                recursive=body.recursive,
                dry_run=body.dry_run,
                principal=bound.principal,
                progress=progress,
                agents=body.agents,
            )
        return regeneration(report)

    try:
        return await run_as_job(request, "frames.regenerate", bound.info.workspace_id, work)
    except BaseException:
        ticket.cancel()  # failed before its work started (a no-op once it has)
        raise


@router.post(
    "/generate",
    summary="Frames from the caller's model agent, files first, then directories",
    response_model=Generation,
    responses=JOB_RESPONSES,
)
async def generate(bound: Bound, request: Request, body: GenerateRequest) -> Generation | Response:
    """Needs write (a dry run only read), and synthesize for directory frames.

    The files' bytes come in ``contents`` (base64 by path): the server has no
    working tree. Nodes already current for the agent are skipped; a failed
    completion fails its node only (``status: failed`` with its code).
    ``Prefer: respond-async`` runs it as a job (phases ``files`` and
    ``directories``). Admitted to the worker's bounded work queue first.
    """
    authorize(bound.principal, Permission.READ if body.dry_run else Permission.WRITE)
    settings = _settings(request).generate
    options = GenerateOptions(
        frame_type=body.frame_type or settings.frame_type,
        recursive=body.recursive,
        dry_run=body.dry_run,
        directories=body.directories or settings.directories,
        concurrency=settings.concurrency,
        max_file_bytes=settings.max_file_bytes,
        force=body.force,
    )
    files = GivenFileContents(decoded_contents(body.contents))
    ticket = _work(request).admit("generate")

    def work(progress: ProgressFn | None) -> Generation:
        with ticket.running():
            report = bound.api.generate(
                body.node, options, principal=bound.principal, progress=progress, files=files
            )
        return Generation.model_validate(report.to_dict())

    try:
        return await run_as_job(request, "frames.generate", bound.info.workspace_id, work)
    except BaseException:
        ticket.cancel()
        raise


@router.get("/stale", summary="Head frames whose basis is no longer current")
def stale(
    bound: Bound,
    response: Response,
    node: Annotated[str, Query(description="NodeID or path ('' for the root).")] = "",
    recursive: Annotated[bool, Query(description="The whole subtree.")] = False,
) -> StaleReport:
    """Every stale head in scope, plus frames up the chain built on them."""
    report = bound.api.stale(node, recursive=recursive, principal=bound.principal)
    response.headers["Cache-Control"] = NO_CACHE
    return stale_report(report)


@router.post("/compose", summary="A bounded context from the node, parent, siblings, related")
def compose(bound: Bound, request: Request, body: ComposeRequest) -> Composition:
    """Read-time composition; ordering and maximum default to the server's view settings."""
    settings = _settings(request)
    chosen = body.ordering or settings.view.default_ordering
    ranked = tuple(body.priority)
    sources = tuple(dict.fromkeys(body.sources))
    if body.related and "related" not in sources:
        sources = (*sources, "related")
    policy = CompositionPolicy(
        sources=sources,
        related=tuple(body.related),
        types=tuple(body.types),
        agents=tuple(body.agents),
        ordering=chosen,
        type_priority=ranked if chosen in ("type", "score") else (),
        agent_priority=ranked if chosen == "agent" else (),
        max_frames=body.max_frames
        if body.max_frames is not None
        else settings.view.default_max_frames,
    )
    result = bound.api.compose(body.node, policy, principal=bound.principal)
    return composition(result, policy)


@router.get("/roots", summary="The workspace's root history, newest first")
def roots(
    bound: Bound,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=MAX_ROOTS_PAGE)] = 20,
    before: Annotated[
        int | None, Query(ge=0, description="Only entries older than this seq (paging).")
    ] = None,
) -> Roots:
    """The current root and a page of the history; ``next_before`` continues it."""
    authorize(bound.principal, Permission.READ)
    store, ws = bound.api.store, bound.api.ws
    entries = store.root_history(ws, limit + 1, before)
    page = entries[:limit]
    current = store.current_root(ws)
    response.headers["Cache-Control"] = NO_CACHE
    return Roots(
        current=root_entry(current) if current is not None else None,
        roots=[root_entry(e) for e in page],
        next_before=page[-1].seq if len(entries) > limit else None,
    )
