"""migrate-schema: report a store's schema version and apply its pending migrations."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from treeframe.cli.common import JsonOpt, StoreOpt, open_configured_store
from treeframe.cli.output import print_json
from treeframe.storage.migrations import VersionedStore

__all__ = ["register"]


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
    with open_configured_store(store, create=False, migrate=False) as backend:
        url = backend.url  # as the backend shows it: never a password
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
