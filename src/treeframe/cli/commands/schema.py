"""migrate-schema: report a store's schema version and apply its pending migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from treeframe.cli.common import FLAGS, JsonOpt, StoreOpt, overrides
from treeframe.cli.output import print_json
from treeframe.errors import WorkspaceNotFound
from treeframe.storage.migrations import VersionedStore
from treeframe.storage.registry import open_store
from treeframe.workspace.layout import find_root
from treeframe.workspace.settings import store_url

__all__ = ["register"]


def _configured_url(store: str | None) -> str:
    """The store the other commands would open from here (``--store`` wins)."""
    # Imported here: pydantic adds a quarter second to every CLI start otherwise.
    from treeframe.config import load_settings

    try:
        root: Path | None = find_root(Path(os.getcwd()))
    except WorkspaceNotFound:
        if store is None:
            raise
        root = None  # --store names the store: no workspace needed
    settings = load_settings(root, cli=overrides(store, None), cli_flags=FLAGS).settings
    return store_url(root or Path(os.getcwd()), settings)


def _steps(steps: tuple[tuple[int, str], ...]) -> list[dict[str, Any]]:
    return [{"version": version, "name": name} for version, name in steps]


def migrate_schema(
    store: StoreOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report the pending steps; change nothing.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Upgrade the store to this release's schema version (write commands also do it)."""
    url = _configured_url(store)
    with open_store(url, create=False, migrate=False) as backend:
        if not isinstance(backend, VersionedStore):
            payload: dict[str, Any] = {
                "store": url,
                "version": None,
                "latest": None,
                "pending": [],
                "applied": [],
                "dry_run": dry_run,
            }
        else:
            status = backend.schema_status()
            applied = () if dry_run else backend.migrate_schema()
            payload = {
                "store": url,
                "version": status.current,
                "latest": status.latest,
                "pending": _steps(status.pending),
                "applied": _steps(applied),
                "dry_run": dry_run,
            }
    if json_out:
        print_json(payload)
        return
    if payload["version"] is None:
        typer.echo(f"{url}: this backend has no schema versions; nothing to migrate")
        return
    typer.echo(f"{url}: schema version {payload['version']}, latest {payload['latest']}")
    for step in payload["pending"] if dry_run else payload["applied"]:
        verb = "would apply" if dry_run else "applied"
        typer.echo(f"{verb} version {step['version']}: {step['name']}")
    if not payload["pending"]:
        typer.echo("up to date")


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command("migrate-schema")(migrate_schema)
