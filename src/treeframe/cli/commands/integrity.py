"""verify: recompute every stored hash and report every mismatch."""

from __future__ import annotations

from typing import Annotated

import typer

from treeframe.cli.common import JsonOpt, QuietOpt, StoreOpt, WorkspaceOpt, open_workspace
from treeframe.cli.output import console, print_json, progress_bars, show_progress

__all__ = ["register"]

EXIT_DAMAGED = 3


def verify(
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Most problems to print (all are counted).")
    ] = 1000,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Recompute every stored hash; exit 3 when anything is wrong."""
    with (
        open_workspace(store, workspace, read_only=True) as ws,
        progress_bars(show_progress(quiet) and not json_out, transient=True) as progress,
    ):
        report = ws.verify(progress)
    if json_out:
        payload = report.to_dict()
        payload["problem_count"] = len(report.problems)
        payload["problems"] = payload["problems"][:limit]
        print_json(payload)
    else:
        checked = ", ".join(f"{n} {phase}" for phase, n in report.checked.items())
        console.print(f"checked {checked}")
        for problem in report.problems[:limit]:
            typer.echo(f"{problem.kind}: {problem.key}: {problem.message}", err=True)
        if report.ok:
            console.print("ok: every stored hash verified")
        else:
            typer.echo(f"{len(report.problems)} problem(s) found", err=True)
    if not report.ok:
        raise typer.Exit(EXIT_DAMAGED)


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(verify)
