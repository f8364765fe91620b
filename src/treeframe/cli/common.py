"""Options shared by every command and the workspace they open."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from treeframe.workspace import Workspace
from treeframe.workspace.layout import DEFAULT_WORKSPACE_NAME

__all__ = ["JsonOpt", "QuietOpt", "StoreOpt", "WorkspaceOpt", "open_workspace"]

JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout (stable, see docs/CLI.md)."),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="TREEFRAME_STORE",
        help="Store URL (default: sqlite in <workspace>/.treeframe/store.db).",
        show_default=False,
    ),
]
WorkspaceOpt = Annotated[
    str,
    typer.Option(
        "--workspace",
        envvar="TREEFRAME_WORKSPACE",
        help="Workspace name inside the store.",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


def open_workspace(store: str | None, name: str = DEFAULT_WORKSPACE_NAME) -> Workspace:
    """Open the workspace found from the current directory upward."""
    return Workspace.open(Path(os.getcwd()), store, name)
