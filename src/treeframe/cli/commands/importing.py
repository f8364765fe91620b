"""import: load a snapshot archive into a store, verified on the way in (docs/CLI.md)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from treeframe.cli.common import JsonOpt, StoreOpt, open_configured_store
from treeframe.cli.output import console, print_json, shown
from treeframe.errors import InvalidRequest, from_os_error
from treeframe.snapshot.importer import import_snapshot
from treeframe.snapshot.signing import load_trusted_key

__all__ = ["register"]


def import_command(
    file: Annotated[str, typer.Argument(help="The archive, or - to read it from stdin.")],
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            help="Import under this workspace name (default: the archive's).",
            show_default=False,
        ),
    ] = None,
    store: StoreOpt = None,
    trust: Annotated[
        list[str] | None,
        typer.Option(
            "--trust",
            help="Require a signature by this public key (64 hex or a .pub file); repeatable.",
            metavar="PUBKEY",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Verify an exported archive completely, then import it in one transaction."""
    keys = [load_trusted_key(value) for value in trust or ()]
    with tempfile.TemporaryDirectory(prefix="treeframe-import-") as spool:
        archive = _archive(file, Path(spool))
        with open_configured_store(store, create=True) as opened:
            report = import_snapshot(opened, archive, workspace=workspace, trust=keys)
    if json_out:
        print_json(report.to_dict())
        return
    moved = "root set" if report.root_moved else "root not moved"
    written = ", ".join(f"{n} {kind}" for kind, n in report.written.items() if n) or "nothing"
    console.print(
        f"imported {shown(report.workspace)!r} at {report.root_hash}"
        f" ({'new workspace' if report.created else 'existing workspace'}, {moved}):"
        f" wrote {written}"
    )


def _archive(file: str, spool: Path) -> Path:
    """The archive as a regular file: ``-`` is spooled from stdin (both readings need a file)."""
    if file != "-":
        path = Path(file)
        if not path.is_file():
            raise InvalidRequest(f"cannot read {file}: not a regular file")
        return path
    target = spool / "stdin.tar"
    try:
        with target.open("wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    except OSError as exc:
        raise from_os_error(exc, "cannot spool stdin", InvalidRequest) from exc
    return target


def register(app: typer.Typer) -> None:
    """Attach this command to the app."""
    app.command("import")(import_command)
