"""Diagnostics: diff (two roots, or the store against disk), explain FRAME_ID, doctor.

All of them only read: ``diff --disk`` and ``doctor`` scan the working tree
into memory and write neither the store nor the stat cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from treeframe.cli.common import (
    JsonOpt,
    ServerOpt,
    StoreOpt,
    TokenOpt,
    WorkspaceOpt,
    open_session,
    open_workspace,
)
from treeframe.cli.output import console, print_json, shown
from treeframe.engine.diagnostics import diff_roots, explain_frame, resolve_root
from treeframe.errors import InvalidRequest

if TYPE_CHECKING:
    from pydantic import BaseModel

    from treeframe.client import Client

__all__ = ["EXIT_DIFFERENT", "register"]

EXIT_DIFFERENT = 3
"""``diff --exit-code`` when the trees differ, and ``doctor`` on a mismatch (as ``verify``)."""

_VERSIONS = {"api_version", "schema_version"}
_SIGN = {"added": "+", "removed": "-", "changed": "M", "type_changed": "T"}


def _remote(
    store: str | None,
    workspace: str | None,
    server: str,
    token: str | None,
    call: Callable[[Client, str], BaseModel],
) -> tuple[dict[str, Any], BaseModel]:
    """One call to the server's workspace: the answer as the local ``--json`` shape, and as is."""
    from treeframe.client.remote import RemoteWorkspace

    with open_session(store, workspace, server, token, read_only=True) as session:
        assert isinstance(session, RemoteWorkspace)
        answer = call(session.client, session.ws)
    return answer.model_dump(mode="json", exclude=_VERSIONS), answer


def _short(node_id: str | None) -> str:
    return node_id[:12] if node_id else "-"


def _print_diff(payload: dict[str, Any]) -> None:
    counts = payload["counts"]
    if payload["same"]:
        console.print(f"no differences (both trees are {_short(payload['to_root'])})")
        return
    console.print(f"diff {_short(payload['from_root'])}..{_short(payload['to_root'])}")
    for entry in payload["entries"]:
        kinds = entry["new_kind"] or entry["old_kind"]
        if entry["kind"] == "type_changed":
            kinds = f"{entry['old_kind']} -> {entry['new_kind']}"
        suffix = "/" if entry["new_kind"] == "dir" or entry["old_kind"] == "dir" else ""
        typer.echo(
            f"{_SIGN[entry['kind']]} {shown(entry['path'] or '.')}{suffix}  ({kinds}: "
            f"{_short(entry['old_id'])} -> {_short(entry['new_id'])})"
        )
    console.print(
        f"files: {counts['files_added']} added, {counts['files_removed']} removed, "
        f"{counts['files_changed']} changed; directories: {counts['dirs_added']} added, "
        f"{counts['dirs_removed']} removed, {counts['dirs_changed']} changed "
        f"({payload['nodes_read']} records read)"
    )


def diff(
    root_a: Annotated[
        str | None,
        typer.Argument(help="The old root: hash, unambiguous prefix (4+ hex), HEAD or HEAD~N."),
    ] = None,
    root_b: Annotated[
        str | None, typer.Argument(help="The new root (default HEAD, the current root).")
    ] = None,
    disk: Annotated[
        bool,
        typer.Option("--disk", help="Diff the current root against the working tree (no writes)."),
    ] = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 3 when the trees differ (as git diff).")
    ] = False,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Minimal changed subtrees between two roots, or between the store and the working tree."""
    if disk:
        if root_a is not None or root_b is not None:
            raise InvalidRequest("diff --disk compares the current root with disk: give no roots")
        if server is not None:
            raise InvalidRequest("diff --disk needs the local working tree: not with --server")
        with open_workspace(store, workspace, read_only=True) as ws:
            payload = ws.diff_disk().to_dict()
        for skipped in payload["disk"]["skipped"]:
            typer.echo(
                f"warning: skipped {skipped['path']}: {skipped['message']} [{skipped['reason']}]",
                err=True,
            )
    else:
        if root_a is None:
            raise InvalidRequest("give ROOT_A (and ROOT_B, default HEAD), or --disk")
        new_ref = root_b if root_b is not None else "HEAD"
        if server is not None:
            old_ref = root_a
            payload, _ = _remote(
                store, workspace, server, token, lambda c, w: c.diff(w, old_ref, new_ref)
            )
        else:
            with open_workspace(store, workspace, read_only=True) as ws:
                old = resolve_root(ws.store, ws.ws, root_a)
                new = resolve_root(ws.store, ws.ws, new_ref)
                payload = diff_roots(ws.store, ws.ws, old.root, new.root).to_dict()
    if json_out:
        print_json(payload)
    else:
        _print_diff(payload)
    if exit_code and not payload["same"]:
        raise typer.Exit(EXIT_DIFFERENT)


def _print_inputs(items: list[dict[str, Any]], depth: int) -> None:
    for item in items:
        what = "node" if item["role"] == "basis_node" else f"{item['frame_type'] or '?'} frame"
        state = "current" if item["current"] else f"NOT CURRENT: {item['reason']}"
        line = f"{'  ' * depth}- {item['role']}: {what} {_short(item['ref'])}"
        if item["path"] is not None:
            line += f" on {shown(item['path'] or '.')}"
        line += f" [{state}]"
        if item["now"]:
            line += f" now {_short(item['now'])}"
        if item["since"]:
            line += f" since root {_short(item['since']['root'])} (seq {item['since']['seq']})"
        typer.echo(line)
        _print_inputs(item["inputs"], depth + 1)


def explain(
    frame_id: Annotated[str, typer.Argument(help="The FrameID (64 hex).")],
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Why a frame is fresh, stale or incomplete: its basis chain and what changed since when."""
    if server is not None:
        from treeframe.client.convert import frame_of
        from treeframe.wire.diagnostics import Explanation

        payload, answer = _remote(
            store, workspace, server, token, lambda c, w: c.explain_frame(w, frame_id)
        )
        assert isinstance(answer, Explanation)
        payload["frame"] = frame_of(answer.frame).to_dict()  # IDs re-checked on arrival
    else:
        with open_workspace(store, workspace, read_only=True) as ws:
            payload = explain_frame(ws.store, ws.ws, frame_id).to_dict()
    if json_out:
        print_json(payload)
        return
    frame = payload["frame"]
    where = shown(payload["path"] or ".") if payload["path"] is not None else "?"
    console.print(
        f"frame {frame['frame_id']} ({shown(frame['frame_type'])} by {shown(frame['agent_id'])}) "
        f"on {where}"
    )
    console.print(f"verdict: {payload['verdict']}")
    node = "current" if payload["node_current"] else "NOT CURRENT"
    typer.echo(f"node {_short(frame['node_id'])}: {node}")
    if not payload["is_head"]:
        typer.echo(f"not the current head of its type: {_short(payload['head'])} is")
    for reason in payload["reasons"]:
        typer.echo(f"because: {shown(reason)}")
    if payload["inputs"]:
        typer.echo(f"basis ({frame['basis']['kind']}):")
        _print_inputs(payload["inputs"], 1)
    if payload["truncated"]:
        typer.echo("(the chain was cut at its depth or size bound)")


def doctor(
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Hashing processes of the second scan."),
    ] = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Rescan in memory (twice, no writes) and compare with the stored root; exit 3 on a mismatch."""
    with open_workspace(store, workspace, read_only=True) as ws:
        report = ws.doctor(workers=workers)
    payload = report.to_dict()
    if json_out:
        print_json(payload)
    elif report.ok:
        console.print(f"deterministic: disk matches stored root {report.disk_root}")
    else:
        if not report.repeatable:
            typer.echo(
                "not repeatable: two scans of the working tree gave different roots", err=True
            )
        elif report.stored is None:
            typer.echo("no stored root: run 'treeframe scan' first", err=True)
        else:
            typer.echo(
                f"mismatch: disk root {report.disk_root} is not the stored root "
                f"{report.stored.root}",
                err=True,
            )
        first = report.first_difference
        if first is not None:
            typer.echo(
                f"first differing node: {shown(first.path or '.')} ({first.kind}): "
                f"stored {first.stored_id or '-'} ({first.stored_kind or 'absent'}), "
                f"rescanned {first.rescanned_id or '-'} ({first.rescanned_kind or 'absent'})",
                err=True,
            )
            if first.stored_content_hash or first.rescanned_content_hash:
                typer.echo(
                    f"content hash: stored {first.stored_content_hash or '-'}, "
                    f"rescanned {first.rescanned_content_hash or '-'}",
                    err=True,
                )
    if not report.ok:
        raise typer.Exit(EXIT_DIFFERENT)


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(diff)
    app.command()(explain)
    app.command()(doctor)
