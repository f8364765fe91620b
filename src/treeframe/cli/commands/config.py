"""config show: every effective setting with its value and the layer it came from."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from treeframe.cli.common import JsonOpt
from treeframe.cli.output import print_json
from treeframe.errors import WorkspaceNotFound
from treeframe.workspace.layout import default_store_url, find_root

__all__ = ["register"]

config_app = typer.Typer(
    name="config",
    help="Inspect the layered configuration (see docs/CONFIG.md).",
    no_args_is_help=True,
)


def _cell(value: Any) -> str:
    """A value as one table cell: plain text for simple strings, JSON otherwise."""
    if isinstance(value, str) and value.isprintable():
        return value
    return json.dumps(value, ensure_ascii=False)


def show(
    # No envvar here, unlike the other commands: TREEFRAME_STORE/TREEFRAME_WORKSPACE
    # are read by the loader so that their source is reported as env, not cli.
    store: Annotated[
        str | None,
        typer.Option(
            "--store", help="Store URL, as the other commands take it.", show_default=False
        ),
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace", help="Workspace name, as the other commands take it.", show_default=False
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Print every setting's effective value and source; secrets are redacted."""
    # Imported here: pydantic adds a quarter second to every CLI start otherwise.
    from treeframe.config import load_settings
    from treeframe.config.display import redact_url

    try:
        root: Path | None = find_root(Path(os.getcwd()))
    except WorkspaceNotFound:
        root = None
    loaded = load_settings(
        root,
        cli={"store.url": store, "workspace": workspace},
        cli_flags={"store.url": "--store", "workspace": "--workspace"},
    )
    settings = loaded.redacted()
    # The store actually used: unset store.url means the workspace's embedded store.
    in_use = loaded.settings.store.url or (default_store_url(root) if root else None)
    in_use = redact_url(in_use) if in_use is not None else None
    settings["store"]["url"] = in_use
    if json_out:
        print_json({"settings": settings, "sources": loaded.sources})
        return
    rows = [("key", "value", "source")] + [
        (key, _cell(in_use if key == "store.url" else value), source)
        for key, value, source in loaded.rows()
    ]
    # Plain text, not a rich table: values are user text and must not be read as markup.
    # A long value (a system prompt) overflows its own row instead of widening every row.
    widths = [max(len(row[0]) for row in rows), min(max(len(row[1]) for row in rows), 40)]
    for key, value, source in rows:
        typer.echo(f"{key:<{widths[0]}}  {value:<{widths[1]}}  {source}".rstrip())


config_app.command("show")(show)


def register(app: typer.Typer) -> None:
    """Attach the ``config`` group to the app."""
    app.add_typer(config_app)
