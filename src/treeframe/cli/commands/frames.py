"""Frame commands: put, get, heads, proof."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from treeframe.cli.common import (
    AsOpt,
    JsonOpt,
    ServerOpt,
    StoreOpt,
    TokenOpt,
    WorkspaceOpt,
    open_session,
    principal_for,
)
from treeframe.cli.output import console, print_json, print_table, shown
from treeframe.engine.types import FrameContext, listed_paths
from treeframe.errors import InvalidFrame, InvalidRequest, InvalidViewPolicy
from treeframe.frames.frame import DEFAULT_CONTENT_TYPE
from treeframe.frames.views import Ordering, ViewPolicy
from treeframe.ids import FrameId

__all__ = ["register"]


def _check_content_source(content: str | None, file: Path | None, stdin: bool) -> None:
    given = [x for x in (content is not None, file is not None, stdin) if x]
    if len(given) != 1:
        raise InvalidRequest("give exactly one of --content TEXT, --file F or - (stdin)")


def _read_content(content: str | None, file: Path | None, limit: int) -> bytes:
    """The frame content; a file or stdin is read only up to ``limit`` + 1 bytes.

    One byte past the limit is enough to refuse, so a huge (or endless) input
    is never read whole.
    """
    if content is not None:
        return content.encode("utf-8")
    try:
        if file is not None:
            with file.open("rb") as handle:
                data = handle.read(limit + 1)
        else:
            data = sys.stdin.buffer.read(limit + 1)
    except OSError as exc:
        raise InvalidRequest(f"cannot read {file or 'stdin'}: {exc.strerror}") from exc
    if len(data) > limit:
        source = file or "stdin"
        raise InvalidFrame(
            f"content from {source} is larger than limits.max_frame_bytes ({limit} bytes)"
        )
    return data


def incomplete_note(item: FrameContext) -> str:
    """One line naming what an incomplete synthesis lacks (a few paths, then a count)."""
    parts = []
    if item.missing:
        parts.append(f"no input from {listed_paths(item.missing)}")
    if item.stale_inputs:
        parts.append(f"stale or incomplete input from {listed_paths(item.stale_inputs)}")
    return "(incomplete: " + "; ".join(parts) + ")"


def _parse_meta(items: list[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"--meta expects KEY=VALUE, got {item!r}")
        meta[key] = value
    return meta


def put(
    ref: Annotated[str, typer.Argument(help="Path or NodeID to attach the frame to.")],
    stdin: Annotated[
        str | None, typer.Argument(help="'-' to read the content from stdin.", show_default=False)
    ] = None,
    frame_type: Annotated[str | None, typer.Option("--type", help="Frame type.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Agent ID.")] = None,
    content: Annotated[str | None, typer.Option("--content", help="Content text.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Read content from a file.")] = None,
    content_type: Annotated[
        str, typer.Option("--content-type", help="MIME type of the content.")
    ] = DEFAULT_CONTENT_TYPE,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="KEY=VALUE metadata (not hashed); repeat.")
    ] = None,
    basis_frame: Annotated[
        str | None, typer.Option("--basis-frame", help="Also base the frame on this FrameID.")
    ] = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Append a context frame to a node (idempotent)."""
    if stdin is not None and stdin != "-":
        raise InvalidRequest(f"unexpected argument {stdin!r} (use '-' to read stdin)")
    if not frame_type or not frame_type.strip():
        raise InvalidFrame("--type is required and must not be empty")
    if not agent or not agent.strip():
        raise InvalidFrame("--agent is required and must not be empty")
    _check_content_source(content, file, stdin == "-")
    with open_session(store, workspace, server, token) as ws:
        data = _read_content(content, file, ws.settings.limits.max_frame_bytes)
        record = ws.resolve(ref, Path(os.getcwd()))
        frame = ws.put_frame(
            record,
            frame_type,
            data,
            principal=principal_for(ws, agent),
            content_type=content_type,
            metadata=_parse_meta(meta or []),
            basis_frame=FrameId(basis_frame) if basis_frame else None,
        )
    if json_out:
        print_json(frame.to_dict())
    else:
        console.print(frame.frame_id)


def get(
    ref: Annotated[str, typer.Argument(help="Path or NodeID.")],
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Only frames of this type; repeat.")
    ] = None,
    agents: Annotated[
        list[str] | None, typer.Option("--agent", help="Only frames by this agent; repeat.")
    ] = None,
    max_frames: Annotated[
        int | None,
        typer.Option("--max", help="Most frames to return (default: view.default_max_frames)."),
    ] = None,
    order: Annotated[
        str | None,
        typer.Option("--order", help="recency | type | agent (default: view.default_ordering)."),
    ] = None,
    priority: Annotated[
        str | None,
        typer.Option("--priority", help="Comma-separated types (or agents) ranked first."),
    ] = None,
    max_bytes: Annotated[
        int | None, typer.Option("--max-bytes", help="Budget for the returned content.")
    ] = None,
    include_previous: Annotated[
        bool,
        typer.Option(
            "--include-previous",
            help="Also show head frames of this path's previous NodeIDs (always stale).",
        ),
    ] = False,
    as_agent: AsOpt = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print a bounded, deterministic view of a node's frames, each marked fresh or stale."""
    with open_session(store, workspace, server, token, read_only=True) as ws:
        chosen = order or ws.settings.view.default_ordering
        if chosen not in ("recency", "type", "agent"):
            raise InvalidViewPolicy(f"unknown --order {chosen!r} (use recency, type or agent)")
        ordering: Ordering = chosen  # type: ignore[assignment]
        ranked = tuple(p for p in (priority or "").split(",") if p)
        policy = ViewPolicy(
            max_frames=max_frames
            if max_frames is not None
            else ws.settings.view.default_max_frames,
            ordering=ordering,
            types=tuple(types or ()),
            agents=tuple(agents or ()),
            type_priority=ranked if chosen == "type" else tuple(types or ()),
            agent_priority=ranked if chosen == "agent" else tuple(agents or ()),
            max_bytes=max_bytes,
        )
        record = ws.resolve(ref, Path(os.getcwd()))
        context = ws.view(
            record, policy, include_previous=include_previous, principal=principal_for(ws, as_agent)
        )
    if json_out:
        print_json(
            {
                "node_id": record.node_id,
                "path": record.path,
                "policy": policy.to_dict(),
                "frame_count": context.frame_count,
                "truncated": context.truncated,
                "frames": [item.to_dict() for item in context.frames],
            }
        )
        return
    current = [item for item in context.frames if not item.previous]
    summary = f"{shown(record.path or '.')}: {len(current)} of {context.frame_count} frames"
    if len(current) < len(context.frames):
        summary += f" (+{len(context.frames) - len(current)} from previous versions)"
    console.print(summary + (" (truncated)" if context.truncated else ""), markup=False)
    for item in context.frames:
        f = item.frame
        flags = " [stale]" if item.stale else ""
        flags += " [incomplete]" if item.incomplete else ""
        flags += " [previous version]" if item.previous else ""
        console.print(
            f"--- {f.frame_id} #{f.seq} {f.frame_type} by {f.agent_id}{flags}",
            style="bold",
            markup=False,
        )
        if item.incomplete:
            console.print(shown(incomplete_note(item)), markup=False)
        console.print(shown(item.content), markup=False)


def frame(
    frame_id: Annotated[str, typer.Argument(help="FrameID (64 lowercase hex).")],
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_agent: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print one frame by its FrameID: record, content and whether it is stale."""
    with open_session(store, workspace, server, token, read_only=True) as ws:
        (item,) = ws.api.get_frames_batch([frame_id], principal=principal_for(ws, as_agent))
        node = ws.store.get_node(ws.ws, item.frame.node_id)
    path = node.path if node is not None else None
    if json_out:
        print_json({**item.to_dict(), "path": path})
        return
    f = item.frame
    console.print(
        f"--- {f.frame_id} #{f.seq} {f.frame_type} by {f.agent_id} on {shown(path or '.')}"
        + (" [stale]" if item.stale else "")
        + (" [incomplete]" if item.incomplete else ""),
        style="bold",
        markup=False,
    )
    if item.incomplete:
        console.print(shown(incomplete_note(item)), markup=False)
    console.print(shown(item.content), markup=False)


def heads(
    ref: Annotated[str, typer.Argument(help="Path or NodeID.")],
    as_agent: AsOpt = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the current frame of every frame type on a node."""
    with open_session(store, workspace, server, token, read_only=True) as ws:
        record = ws.resolve(ref, Path(os.getcwd()))
        found = ws.heads(record, principal=principal_for(ws, as_agent))
    if json_out:
        print_json({"node_id": record.node_id, "path": record.path, "heads": found})
        return
    if not found:
        console.print("no frames")
        return
    print_table(["type", "frame_id"], [[t, f] for t, f in found.items()])


def proof(
    ref: Annotated[str, typer.Argument(help="Path or NodeID.")],
    frame_id: Annotated[str, typer.Argument(help="FrameID to prove membership of.")],
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print a Merkle membership proof of a frame in a node's frame set."""
    from treeframe.frames.merkle_set import verify

    with open_session(store, workspace, server, token, read_only=True) as ws:
        record = ws.resolve(ref, Path(os.getcwd()))
        membership, root = ws.prove(record, frame_id)
    valid = verify(membership, root)
    payload = {"node_id": record.node_id, "root": root, "valid": valid, **membership.to_dict()}
    if json_out:
        print_json(payload)
        return
    console.print(f"frame {membership.frame_id}")
    console.print(f"root  {root}")
    for step in membership.steps:
        console.print(f"  {step.side:5} {step.digest}")
    console.print("valid" if valid else "INVALID")


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(put)
    app.command()(get)
    app.command()(frame)
    app.command()(heads)
    app.command()(proof)
