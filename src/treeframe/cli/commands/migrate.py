"""migrate: copy a store (or one workspace) into another store of any backend, then verify it.

Not ``migrate-schema`` (which upgrades one store in place): this copies rows
between backends through :mod:`treeframe.storage.transfer`, resumably.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from treeframe.cli.common import JsonOpt
from treeframe.cli.output import console, print_json, progress_bars
from treeframe.errors import ConfigError
from treeframe.storage.dump import find_workspace
from treeframe.storage.registry import open_store
from treeframe.storage.transfer import COPY_KINDS, DEFAULT_BATCH, TransferReport, copy_store

__all__ = ["register"]


def _payload(source: str, target: str, report: TransferReport) -> dict[str, Any]:
    return {
        "from": source,
        "to": target,
        "workspaces": report.workspaces,
        "seen": report.seen,
        "written": report.written,
        "digest": None if report.target is None else report.target.digest,
        "counts": None if report.target is None else report.target.counts,
        "verified": report.verified,
    }


def migrate(
    source_url: Annotated[
        str, typer.Option("--from", help="URL of the store to copy from (read only).")
    ],
    target_url: Annotated[
        str, typer.Option("--to", help="URL of the store to copy into (created if absent).")
    ],
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", help="Copy only this workspace (a name or a workspace ID)."),
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Rows per batch (one target transaction each).")
    ] = DEFAULT_BATCH,
    progress: Annotated[
        bool, typer.Option("--progress", help="Show progress bars even when stderr is no TTY.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Copy every workspace, record, frame, content, index, agent, ACL and token; then verify."""
    if source_url == target_url:
        raise ConfigError(f"--from and --to name the same store ({source_url})")
    with open_store(source_url, create=False, read_only=True) as source:
        if workspace is not None:
            find_workspace(source, workspace)  # unknown: fail before the target is touched
        enabled = (progress or sys.stderr.isatty()) and not json_out
        with open_store(target_url, create=True) as target, progress_bars(enabled) as update:
            report = copy_store(source, target, workspace=workspace, batch=batch, progress=update)
    payload = _payload(source_url, target_url, report)
    if json_out:
        print_json(payload)
        return
    console.print(f"copied {', '.join(report.workspaces) or 'no workspaces'} into {target_url}")
    for kind in COPY_KINDS:
        if report.seen[kind]:
            console.print(f"  {kind:<13}{report.seen[kind]:>9} ({report.written[kind]} written)")
    console.print(f"digest {payload['digest']}")
    console.print("verified: the target's hashes recompute and its dump equals the source's")


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command("migrate")(migrate)
