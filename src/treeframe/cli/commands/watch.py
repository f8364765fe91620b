"""watch: rescan what changes on disk, report what went stale, optionally regenerate it."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from treeframe.cli.common import (
    AsOpt,
    JsonOpt,
    StoreOpt,
    WorkspaceOpt,
    open_workspace,
    principal_for,
)
from treeframe.cli.output import console, print_json
from treeframe.errors import InvalidPath, InvalidRequest
from treeframe.workspace.watch import (
    DEFAULT_MAX_PATHS,
    WatchEvent,
    parse_interval,
    stop_on_signals,
)
from treeframe.workspace.watch import watch as watch_loop

__all__ = ["register"]


def _debounce(text: str) -> float:
    """``--debounce`` in seconds; a bad value is a usage error (exit 2)."""
    try:
        return parse_interval(text)
    except InvalidRequest as exc:
        raise typer.BadParameter(exc.message, param_hint="'--debounce'") from None


class JsonLines:
    """``--json``: one JSON object per event, as it happens."""

    def event(self, event: WatchEvent) -> None:
        """Print the event's line."""
        print_json(event.to_dict())

    def batch(self, events: Sequence[WatchEvent]) -> None:
        """Nothing more: every event is out already."""


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class Lines:
    """Human output: the ready line, then one line per batch (errors on stderr)."""

    def event(self, event: WatchEvent) -> None:
        """Say ``ready``; say an error at once (the batch line follows)."""
        data = event.data
        if event.kind == "ready":
            console.print(
                f"watching {data['path'] or '.'} (root {data['root']}, debounce "
                f"{data['debounce_ms']} ms{', regenerating' if data['regenerate'] else ''}); "
                "Ctrl-C stops",
                markup=False,
            )
        elif event.kind == "error":
            again = "; retried with the next batch" if data["retry"] else ""
            typer.echo(
                f"warning: {data['stage']} failed: {data['message']} [{data['code']}]{again}",
                err=True,
            )

    def batch(self, events: Sequence[WatchEvent]) -> None:
        """One line: what was rescanned, what went stale, what was regenerated."""
        parts: list[str] = []
        for event in events:
            data = event.data
            if event.kind == "rescan":
                what = "whole tree" if data["full"] else _count(len(data["paths"]), "path", "paths")
                state = f"root {data['root']}" if data["changed"] else "unchanged"
                parts.append(f"rescanned {what} in {data['duration_ms']} ms: {state}")
            elif event.kind == "stale":
                frames = data["frames"]
                fixable = sum(1 for f in frames if f["recomputable"])
                parts.append(
                    f"{_count(len(frames), 'stale frame', 'stale frames')} ({fixable} recomputable)"
                    if frames
                    else "nothing stale"
                )
            elif event.kind == "regenerated":
                line = f"regenerated {_count(data['regenerated_count'], 'frame', 'frames')}"
                waiting = len(data["stale_unrecomputable"])
                if waiting:
                    line += f", {waiting} need their agents"
                parts.append(line)
            elif event.kind == "error":
                parts.append(f"{event.data['stage']} failed")
        if parts:
            console.print("; ".join(parts), markup=False)


def watch(
    path: Annotated[
        str | None,
        typer.Argument(
            help="Directory to watch (default: the whole workspace).", show_default=False
        ),
    ] = None,
    regenerate: Annotated[
        bool,
        typer.Option("--regenerate", help="Also regenerate what each change made stale."),
    ] = False,
    agents: Annotated[
        bool,
        typer.Option(
            "--agents",
            help="Regenerate model agents' frames too (asks their providers; implies --regenerate).",
        ),
    ] = False,
    debounce: Annotated[
        str,
        typer.Option(
            "--debounce",
            help="Quiet time that closes a batch of changes: 200ms, 1s, 0.5s.",
        ),
    ] = "200ms",
    max_paths: Annotated[
        int,
        typer.Option(
            "--max-paths",
            min=1,
            help="Rescan the whole tree when a batch changes more paths than this.",
        ),
    ] = DEFAULT_MAX_PATHS,
    as_agent: AsOpt = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Watch the tree: rescan changed paths, report stale frames, optionally regenerate.

    Runs until interrupted (Ctrl-C, SIGTERM), then exits 0 after the current batch.
    """
    seconds = _debounce(debounce)
    stop = threading.Event()
    with open_workspace(store, workspace) as ws:
        target = "" if path is None else ws.path_of(path, Path(os.getcwd()))
        if not (ws.root / target).is_dir():
            raise InvalidPath(f"not a directory: {path!r}")
        with stop_on_signals(stop):
            watch_loop(
                ws,
                JsonLines() if json_out else Lines(),
                target=target,
                debounce=seconds,
                max_paths=max_paths,
                regenerate=regenerate,
                agents=agents,
                principal=principal_for(ws, as_agent),
                stop=stop,
                outputs=_output_fds(),
            )


def _output_fds() -> list[int]:
    """The file descriptors of stdout and stderr (none for streams without one)."""
    found = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            found.append(stream.fileno())
    return found


def register(app: typer.Typer) -> None:
    """Attach the ``watch`` command."""
    app.command()(watch)
