"""Workspace and tree commands: init, scan, status, ls, node."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from treeframe.cli.common import (
    FLAGS,
    JsonOpt,
    QuietOpt,
    ServerOpt,
    StoreOpt,
    TokenOpt,
    WorkspaceOpt,
    open_session,
    open_workspace,
    overrides,
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
from treeframe.errors import InvalidRequest
from treeframe.tree.records import NodeRecord
from treeframe.workspace import Workspace

__all__ = ["register"]


def _node_summary(record: NodeRecord, frame_count: int | None = None) -> dict[str, Any]:
    out = record.to_dict()
    if frame_count is not None:
        out["frame_count"] = frame_count
    return out


def init(
    path: Annotated[Path, typer.Argument(help="Directory to make a workspace.")] = Path("."),
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a workspace (a .treeframe/ directory) in PATH."""
    with Workspace.init(path, cli=overrides(store, workspace), flags=FLAGS) as ws:
        result = {"root": str(ws.root), "store": ws.store.url, "workspace_id": ws.ws}
    if json_out:
        print_json(result)
    else:
        console.print(f"Initialized treeframe workspace in {result['root']}", markup=False)


def scan(
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Hashing processes (default: CPU count).")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Fail, recording nothing, instead of skipping an entry."),
    ] = False,
    paths: Annotated[
        list[str] | None,
        typer.Option(
            "--paths",
            help="Rescan only this path (file or directory, existing or not) and its "
            "ancestors; repeatable. Everything else keeps its recorded NodeID.",
            show_default=False,
        ),
    ] = None,
    paths_from: Annotated[
        str | None,
        typer.Option(
            "--paths-from",
            help="Read more --paths from this file, one per line ('-': standard input).",
            show_default=False,
        ),
    ] = None,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Scan the workspace tree and record its new root."""
    wanted = _wanted_paths(paths, paths_from)
    with (
        open_workspace(store, workspace) as ws,
        progress_bars(show_progress(quiet) and not json_out, transient=True) as progress,
    ):
        result = ws.scan(workers=workers, progress=progress, strict=strict, paths=wanted)
    payload = {
        "root": result.root,
        "seq": result.entry.seq,
        "changed": result.changed,
        "files": result.files,
        "dirs": result.dirs,
        "symlinks": result.symlinks,
        "files_hashed": result.files_hashed,
        "files_reused": result.files_reused,
        "bytes_hashed": result.bytes_hashed,
        "nodes_written": result.nodes_written,
        "skipped": [entry.to_dict() for entry in result.skipped],
        "warnings": list(result.warnings),
        "duration_ms": result.duration_ms,
    }
    if json_out:
        print_json(payload)
        return
    for entry in result.skipped:
        typer.echo(f"warning: skipped {entry.path}: {entry.message} [{entry.reason}]", err=True)
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    state = "changed" if result.changed else "unchanged"
    console.print(
        f"root {result.root} ({state}, seq {result.entry.seq}): {result.files} files, "
        f"{result.dirs} dirs, {result.files_hashed} hashed, {result.files_reused} reused, "
        f"{result.duration_ms} ms"
    )


def _wanted_paths(paths: list[str] | None, paths_from: str | None) -> list[str] | None:
    """The paths of ``--paths`` and ``--paths-from`` (None: neither given, a full scan)."""
    if paths is None and paths_from is None:
        return None
    wanted = list(paths or [])
    if paths_from is not None:
        try:
            text = sys.stdin.read() if paths_from == "-" else Path(paths_from).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"cannot read --paths-from {paths_from!r}: {exc}") from None
        wanted.extend(line for line in text.splitlines() if line.strip())
    return wanted


def status(
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    limit: Annotated[int, typer.Option("--history", min=1, help="History entries to show.")] = 5,
    json_out: JsonOpt = False,
) -> None:
    """Show the workspace, its store, current root and recent root history."""
    with open_workspace(store, workspace, read_only=True) as ws:
        history: list[dict[str, str | int]] = [
            {"seq": e.seq, "root": e.root, "created_at": e.created_at} for e in ws.history(limit)
        ]
        payload = {
            "workspace": ws.name,
            "workspace_id": ws.ws,
            "root_dir": str(ws.root),
            "store": ws.store.url,
            "current": history[0] if history else None,
            "history": history,
        }
    if json_out:
        print_json(payload)
        return
    console.print(f"workspace {payload['workspace']} at {payload['root_dir']}", markup=False)
    console.print(f"store     {payload['store']}", markup=False)
    if not history:
        console.print("nothing scanned yet (run 'treeframe scan')")
        return
    rows = [[str(e["seq"]), str(e["root"]), str(e["created_at"])] for e in history]
    print_table(["seq", "root", "scanned at"], rows)


def ls(
    path: Annotated[str, typer.Argument(help="Path or NodeID (default: current directory).")] = ".",
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List a directory node's children with their kinds and NodeIDs."""
    with open_session(store, workspace, server, token, read_only=True) as ws:
        record = ws.resolve(path, Path(os.getcwd()))
        entries = ws.children(record) if record.kind == "dir" else [record]
        sets = ws.store.get_frame_sets(ws.ws, [child.node_id for child in entries])
        rows = [
            (child, sets[child.node_id].count if child.node_id in sets else 0) for child in entries
        ]
    if json_out:
        print_json(
            {
                "node_id": record.node_id,
                "path": record.path,
                "entries": [
                    {
                        "name": c.name,
                        "path": c.path,
                        "kind": c.kind,
                        "node_id": c.node_id,
                        "frame_count": n,
                    }
                    for c, n in rows
                ],
            }
        )
        return
    print_table(
        ["kind", "node_id", "frames", "name"],
        [[c.kind, c.node_id, str(n), c.name + ("/" if c.kind == "dir" else "")] for c, n in rows],
    )


def node(
    ref: Annotated[str, typer.Argument(help="Path or NodeID.")],
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one NodeRecord, its frame-set root and its heads."""
    with open_session(store, workspace, server, token, read_only=True) as ws:
        record = ws.resolve(ref, Path(os.getcwd()))
        state = ws.store.get_frame_set(ws.ws, record.node_id)
        heads = ws.heads(record, principal=principal_for(ws, None))
        current = ws.store.lookup_path(ws.ws, record.path) == record.node_id
    payload = _node_summary(record, state.count if state else 0)
    payload.update(frame_set_root=state.root if state else None, heads=heads, current=current)
    if json_out:
        print_json(payload)
        return
    for key in ("node_id", "path", "kind", "content_hash", "size", "executable", "target"):
        if key in payload:
            console.print(f"{key:13} {shown(str(payload[key]))}", markup=False)
    console.print(f"{'current':13} {current}")
    console.print(f"{'frames':13} {payload['frame_count']}")
    if state:
        console.print(f"{'frame_set':13} {state.root}")
    for frame_type, frame_id in heads.items():
        console.print(f"{'head':13} {frame_type} -> {frame_id}", markup=False)
    if record.kind == "dir":
        console.print(f"{'children':13} {len(record.children)}")


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(init)
    app.command()(scan)
    app.command()(status)
    app.command()(ls)
    app.command()(node)
