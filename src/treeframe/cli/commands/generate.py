"""``treeframe generate``: frames from an agent's model provider, files first, then directories."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from treeframe.cli.common import (
    JsonOpt,
    ServerOpt,
    StoreOpt,
    TokenOpt,
    WorkspaceOpt,
    open_session,
    principal_for,
)
from treeframe.cli.output import console, print_error, print_json, progress_bars, show_progress
from treeframe.engine.generation import GenerateOptions, GenerateReport

__all__ = ["generate", "register"]


def generate(
    path: Annotated[str, typer.Argument(help="Path or NodeID.")],
    agent: Annotated[str, typer.Option("--agent", help="The model agent that authors the frames.")],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="The whole subtree, files first.")
    ] = False,
    frame_type: Annotated[
        str | None,
        typer.Option("--type", help="Frame type written (default: generate.frame_type)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be generated; ask no model.")
    ] = False,
    directories: Annotated[
        str | None,
        typer.Option(
            "--directories",
            help="provider | synthesis | none (default: generate.directories).",
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, help="Completions at once (default: generate.concurrency)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also replace fresh heads of other agents.")
    ] = False,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write frames with the agent's model provider; skip what is already current.

    Exit 1 when a node failed (each is listed; the others were written).
    """
    with (
        open_session(store, workspace, server, token, read_only=dry_run) as ws,
        progress_bars(show_progress(False) and not json_out, transient=True) as progress,
    ):
        settings = ws.settings.generate
        options = GenerateOptions(
            frame_type=frame_type or settings.frame_type,
            recursive=recursive,
            dry_run=dry_run,
            directories=directories or settings.directories,
            concurrency=concurrency or settings.concurrency,
            max_file_bytes=settings.max_file_bytes,
            force=force,
        )
        record = ws.resolve(path, Path(os.getcwd()))
        files = None
        if server is not None:
            # The server has no tree: the scope's local bytes go along (client imported only here).
            from treeframe.client.remote import RemoteWorkspace

            assert isinstance(ws, RemoteWorkspace)
            files = ws.scope_contents(record, recursive)
        report = ws.api.generate(
            record.node_id,
            options,
            principal=principal_for(ws, agent),
            progress=progress,
            files=files,
        )
    if json_out:
        print_json(report.to_dict())
    else:
        _print(report)
    failed = [e for e in report.entries if e.status == "failed"]
    if failed:
        message = f"{len(failed)} of {len(report.entries)} node(s) failed, first {failed[0].path or '.'!r}: {failed[0].reason}"
        print_error(message, failed[0].code, as_json=json_out)
        raise typer.Exit(1)


def _print(report: GenerateReport) -> None:
    verb = "would generate" if report.dry_run else "generated"
    done = report.count("would_generate" if report.dry_run else "generated")
    console.print(
        f"{verb} {done} {report.frame_type!r} frame(s) with {report.provider} ({report.model}); "
        f"{report.count('current')} current, {report.count('skipped')} skipped, "
        f"{report.count('failed')} failed; {report.input_tokens} tokens in, "
        f"{report.output_tokens} out, cost {report.cost:.4f}; {report.duration_ms} ms",
        markup=False,
    )
    for entry in report.entries:
        if entry.status in ("failed", "skipped"):
            code = f" [{entry.code}]" if entry.code else ""
            console.print(
                f"  {entry.status}: {entry.path or '.'}: {entry.reason}{code}", markup=False
            )


def register(app: typer.Typer) -> None:
    """Attach this command to the app."""
    app.command()(generate)
