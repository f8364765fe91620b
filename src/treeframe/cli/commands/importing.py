"""import: load a snapshot archive into a store, verified completely and all-or-nothing."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from treeframe.cli.common import JsonOpt, StoreOpt, configured_store, stamped
from treeframe.cli.output import console, print_json, progress_bars
from treeframe.errors import StorageError, StoreNotFound
from treeframe.snapshot.importer import KINDS, check_archive, import_snapshot
from treeframe.snapshot.signing import load_trusted_key

__all__ = ["register"]


@contextlib.contextmanager
def _archive_file(source: str) -> Iterator[Path]:
    """The archive as a file: ``source`` itself, or stdin (``-``) spooled to a temporary file."""
    if source != "-":
        path = Path(source)
        if not path.is_file():
            raise StorageError(f"no archive file {source}")
        yield path
        return
    fd, name = tempfile.mkstemp(prefix="treeframe-import-", suffix=".archive")
    try:
        with os.fdopen(fd, "wb") as spool:
            try:
                shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
            except OSError as exc:
                raise StorageError(f"cannot spool stdin: {exc.strerror}") from None
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def import_archive(
    archive: Annotated[
        str, typer.Argument(help="The archive (treeframe export), or '-' for stdin.")
    ],
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            help="Import under this name (default: the archive's).",
            show_default=False,
        ),
    ] = None,
    trust: Annotated[
        list[str] | None,
        typer.Option(
            "--trust", help="Require a signature by this public key (hex or file); repeat."
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress", help="Show progress even when stderr is no TTY.")
    ] = False,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Verify an archive completely, then write it into the store in one transaction."""
    keys = [load_trusted_key(value) for value in trust or ()]
    # Imported here: opening a store pulls in the backends.
    from treeframe.storage.registry import open_store
    from treeframe.workspace.settings import store_content

    settings, url = configured_store(store)
    content = store_content(settings)
    label = "stdin" if archive == "-" else archive
    enabled = (progress or sys.stderr.isatty()) and not json_out
    with _archive_file(archive) as path, progress_bars(enabled) as update:
        checked = None
        try:
            opened = open_store(url, content=content, create=False)
        except StoreNotFound:
            # Verify before creating the store: a refused archive leaves no empty store behind.
            checked = check_archive(path, trust=keys, progress=update, label=label)
            opened = open_store(url, content=content, create=True)
        with stamped(opened, settings) as opened:
            report = import_snapshot(
                opened,
                path,
                workspace=workspace,
                trust=keys,
                label=label,
                progress=update,
                checked=checked,
            )
    if json_out:
        print_json(report.to_dict())
        return
    made = "created" if report.created else "into existing"
    scope = f" subtree {report.path!r}" if report.path else ""
    console.print(f"imported root {report.root_hash}{scope} {made} workspace {report.workspace}")
    for kind in KINDS:
        if report.written[kind] or report.present[kind]:
            console.print(
                f"  {kind:<11}{report.written[kind]:>9} written {report.present[kind]:>9} present"
            )
    if report.root_moved:
        console.print(f"  the workspace's root is now {report.root_hash}")
    elif report.path:
        console.print(
            "  a subtree: its nodes and frames are stored; the workspace's root did not move"
        )
    signer = f" by {report.signer}" if report.signer else ""
    console.print(f"  signature: {report.signature}{signer}")


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command("import")(import_archive)
