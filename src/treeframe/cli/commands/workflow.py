"""Agent workflows: synthesize, stale, regenerate, compose."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

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
from treeframe.cli.output import (
    console,
    print_json,
    print_table,
    progress_bars,
    show_progress,
    shown,
)
from treeframe.engine.composition import CompositionPolicy
from treeframe.engine.types import StaleFrame, SynthesisResult
from treeframe.errors import InvalidPolicy, InvalidViewPolicy

__all__ = ["register"]

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _params(raw: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values parse as JSON when they can (numbers, lists), else strings."""
    out: dict[str, Any] = {}
    for item in raw or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidPolicy(f"--param expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _stale_rows(frames: tuple[StaleFrame, ...]) -> None:
    print_table(
        ["path", "type", "agent", "recomputable", "reason", "frame_id"],
        [
            [
                f.path or ".",
                f.frame_type,
                f.agent_id,
                "yes" if f.recomputable else "needs agent",
                f.reason,
                f.frame_id,
            ]
            for f in frames
        ],
    )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _synthesis_summary(result: SynthesisResult, top: str) -> str:
    """One line: frames written (and the requested directory's), directories without inputs, children skipped."""
    line = _count(len(result.frames), "frame", "frames") + " written"
    head = next((f for f in result.frames if f.node_id == top), None)
    if head is not None:
        line += f" ({head.frame_id} for the requested directory)"
    line += ", " + _count(len(result.without_inputs), "directory", "directories")
    line += " without inputs, " + _count(len(result.skipped), "child", "children") + " skipped"
    return line + (" (details: --json)" if result.without_inputs or result.skipped else "")


def synthesize(
    path: Annotated[str, typer.Argument(help="Directory path or NodeID.")],
    frame_type: Annotated[
        str, typer.Option("--type", help="Input frame type of the children ('*' for all heads).")
    ],
    agent: Annotated[str, typer.Option("--agent", help="Synthesis agent.")],
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="concat | summary | filter | a plugin (default: config)."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Policy parameter KEY=VALUE; repeat.")
    ] = None,
    missing: Annotated[
        str | None,
        typer.Option("--missing", help="Children without a frame: skip | fail (default: config)."),
    ] = None,
    output_type: Annotated[
        str | None, typer.Option("--output-type", help="Frame type of the result.")
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Synthesize the subtree bottom-up.")
    ] = False,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Synthesize a directory's frame from its children's head frames (one summary line)."""
    with open_session(store, workspace, server, token) as ws:
        record = ws.resolve(path, Path(os.getcwd()))
        result = ws.api.synthesize_branch(
            record.node_id,
            frame_type,
            policy or ws.settings.synthesis.default_policy,
            principal=principal_for(ws, agent),
            params=_params(param),
            recursive=recursive,
            missing=missing or ws.settings.synthesis.missing,
            output_type=output_type,
        )
        paths = {f.frame_id: ws.store.get_node(ws.ws, f.node_id) for f in result.frames}
    if json_out:
        payload = result.to_dict()
        for entry in payload["frames"]:
            node = paths.get(entry["frame_id"])
            entry["path"] = node.path if node else None
        print_json(payload)
        return
    console.print(_synthesis_summary(result, record.node_id), markup=False)


def stale(
    path: Annotated[str, typer.Argument(help="Path or NodeID (default: current directory).")] = ".",
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="The whole subtree.")
    ] = False,
    as_agent: AsOpt = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List head frames whose basis is no longer current (found by lookup)."""
    with open_session(store, workspace, server, token, read_only=True) as ws:
        record = ws.resolve(path, Path(os.getcwd()))
        report = ws.api.stale(
            record.node_id, recursive=recursive, principal=principal_for(ws, as_agent)
        )
    if json_out:
        print_json(report.to_dict())
        return
    if not report.frames:
        console.print("nothing stale")
        return
    fixable = sum(1 for f in report.frames if f.recomputable)
    rest = len(report.frames) - fixable
    console.print(
        f"{_count(len(report.frames), 'stale frame', 'stale frames')}: {fixable} recomputable, "
        f"{rest} {'needs its agent' if rest == 1 else 'need their agents'}",
        markup=False,
    )
    _stale_rows(report.frames)


def regenerate(
    path: Annotated[str, typer.Argument(help="Path or NodeID.")],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="The whole subtree.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be regenerated; write nothing.")
    ] = False,
    agents: Annotated[
        bool,
        typer.Option(
            "--agents", help="Also redo frames model agents wrote (asks their providers again)."
        ),
    ] = False,
    as_agent: AsOpt = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Recompute stale synthesis and generator frames in scope (--agents: model agents' too)."""
    with (
        open_session(store, workspace, server, token, read_only=dry_run) as ws,
        progress_bars(show_progress(False) and not json_out, transient=True) as progress,
    ):
        record = ws.resolve(path, Path(os.getcwd()))
        report = ws.api.regenerate(
            record.node_id,
            recursive=recursive,
            dry_run=dry_run,
            principal=principal_for(ws, as_agent),
            progress=progress,
            agents=agents,
        )
    if json_out:
        print_json(report.to_dict())
        return
    verb = "would regenerate" if dry_run else "regenerated"
    console.print(f"{verb} {report.regenerated_count} frame(s) in {report.duration_ms} ms")
    for fid in report.frame_ids:
        console.print(f"  {fid}")
    if report.stale_unrecomputable:
        console.print("stale, needs its agent:")
        _stale_rows(report.stale_unrecomputable)


def compose(
    path: Annotated[str, typer.Argument(help="Path or NodeID.")],
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="node | parent | siblings | related; repeat (default node)."),
    ] = None,
    related: Annotated[
        list[str] | None, typer.Option("--related", help="Related node path or NodeID; repeat.")
    ] = None,
    types: Annotated[list[str] | None, typer.Option("--type", help="Frame type; repeat.")] = None,
    agents: Annotated[list[str] | None, typer.Option("--agent", help="Agent; repeat.")] = None,
    order: Annotated[
        str | None,
        typer.Option(
            "--order", help="recency | type | agent | score (default: view.default_ordering)."
        ),
    ] = None,
    priority: Annotated[
        str | None, typer.Option("--priority", help="Comma-separated types (or agents) first.")
    ] = None,
    max_frames: Annotated[
        int | None,
        typer.Option("--max", help="Most frames in the result (default: view.default_max_frames)."),
    ] = None,
    as_agent: AsOpt = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Compose a bounded context from the node, its parent, siblings and related nodes.

    Like ``get``, the ordering and the maximum default to the ``view.*`` settings.
    """
    ranked = tuple(p for p in (priority or "").split(",") if p)
    sources = tuple(source or ("node",))
    if related and "related" not in sources:
        sources = (*sources, "related")
    with open_session(store, workspace, server, token, read_only=True) as ws:
        chosen = order or ws.settings.view.default_ordering
        if chosen not in ("recency", "type", "agent", "score"):
            raise InvalidViewPolicy(
                f"unknown --order {chosen!r} (use recency, type, agent or score)"
            )
        limit = max_frames if max_frames is not None else ws.settings.view.default_max_frames
        if limit < 1:
            raise InvalidViewPolicy(f"max_frames must be at least 1, got {limit}")
        policy = CompositionPolicy(
            sources=sources,  # type: ignore[arg-type]
            related=tuple(related or ()),
            types=tuple(types or ()),
            agents=tuple(agents or ()),
            ordering=chosen,  # type: ignore[arg-type]
            type_priority=ranked if chosen in ("type", "score") else (),
            agent_priority=ranked if chosen == "agent" else (),
            max_frames=limit,
        )
        record = ws.resolve(path, Path(os.getcwd()))
        if related:
            # Paths are taken relative to the current directory; missing nodes are skipped.
            here = Path(os.getcwd())
            local = tuple(r if _HEX64.fullmatch(r) else ws.path_of(r, here) for r in related)
            policy = dataclasses.replace(policy, related=local)
        result = ws.api.compose(record.node_id, policy, principal=principal_for(ws, as_agent))
    if json_out:
        payload = result.to_dict()
        payload["policy"] = policy.to_dict()
        print_json(payload)
        return
    console.print(f"{len(result.frames)} of {result.candidates} candidate frames")
    for item in result.frames:
        f = item.context.frame
        flag = " [stale]" if item.context.stale else ""
        flag += " [incomplete]" if item.context.incomplete else ""
        console.print(
            f"--- {item.source} {shown(item.path or '.')} {f.frame_type} by {f.agent_id}{flag}",
            style="bold",
            markup=False,
        )
        console.print(shown(item.context.content), markup=False)


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(synthesize)
    app.command()(stale)
    app.command()(regenerate)
    app.command()(compose)
