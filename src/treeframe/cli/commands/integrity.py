"""verify: recompute every stored hash and report every mismatch."""

from __future__ import annotations

from typing import Annotated

import typer

from treeframe.cli.common import JsonOpt, QuietOpt, StoreOpt, WorkspaceOpt, open_workspace
from treeframe.cli.output import console, print_json, progress_bars, show_progress
from treeframe.engine.access import parse_duration

__all__ = ["register"]

EXIT_DAMAGED = 3


def verify(
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Most problems to print (all are counted).")
    ] = 1000,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Check only what was added after this root (hash, prefix, HEAD~N).",
            show_default=False,
        ),
    ] = None,
    max_duration: Annotated[
        str | None,
        typer.Option(
            "--max-duration",
            help="Stop after this long (30s, 5m, 1h); the report then says complete: false.",
            show_default=False,
        ),
    ] = None,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Recompute every stored hash; exit 3 when anything is wrong."""
    seconds = parse_duration(max_duration).total_seconds() if max_duration is not None else None
    with (
        open_workspace(store, workspace, read_only=True) as ws,
        progress_bars(show_progress(quiet) and not json_out, transient=True) as progress,
    ):
        report = ws.verify(progress, since=since, max_duration=seconds)
    if json_out:
        payload = report.to_dict()
        payload["problem_count"] = len(report.problems)
        payload["problems"] = payload["problems"][:limit]
        print_json(payload)
    else:
        checked = ", ".join(f"{n} {phase}" for phase, n in report.checked.items())
        scope = f" added since root {report.since}" if report.since is not None else ""
        console.print(f"checked{scope}: {checked}")
        for problem in report.problems[:limit]:
            typer.echo(f"{problem.kind}: {problem.key}: {problem.message}", err=True)
        if not report.complete:
            typer.echo(
                f"incomplete: --max-duration stopped verify in phase {report.stopped_in}; "
                "only the counts above were checked",
                err=True,
            )
        if report.ok and report.complete:
            what = "every stored hash" if report.since is None else "every hash in scope"
            console.print(f"ok: {what} verified")
        elif report.ok:
            console.print("ok so far: no problem in what was checked")
        else:
            typer.echo(f"{len(report.problems)} problem(s) found", err=True)
    if not report.ok:
        raise typer.Exit(EXIT_DAMAGED)


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(verify)
