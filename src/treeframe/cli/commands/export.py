"""export: write a workspace's state at one root as a verifiable snapshot archive."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from treeframe.cli.common import JsonOpt, StoreOpt, WorkspaceOpt, configured_store
from treeframe.cli.output import console, err_console, print_json, progress_bars
from treeframe.errors import InvalidRequest, StorageError
from treeframe.ids import NodeId, parse_hex_id
from treeframe.snapshot.export import ExportReport, export_snapshot
from treeframe.snapshot.signing import load_signing_key
from treeframe.snapshot.streams import COMPRESSIONS
from treeframe.storage.dump import find_workspace

__all__ = ["register", "report_payload"]


def report_payload(report: ExportReport, output: str) -> dict[str, Any]:
    """The ``--json`` document: where the archive went and its manifest."""
    return {
        "output": output,
        "archive_bytes": report.archive_bytes,
        "manifest": report.manifest.to_dict(),
    }


def export(
    root: Annotated[
        str | None,
        typer.Option(
            "--root", help="Export this root (default: the current root).", show_default=False
        ),
    ] = None,
    path: Annotated[
        str,
        typer.Option("--path", help="Export only this subtree (a workspace path such as src/lib)."),
    ] = "",
    compression: Annotated[
        str, typer.Option("--compression", help="none, zstd or gzip (the whole stream).")
    ] = "none",
    output: Annotated[
        str,
        typer.Option("-o", "--output", help="Archive file to write ('-': stdout)."),
    ] = "-",
    sign: Annotated[
        Path | None,
        typer.Option(
            "--sign",
            help="Sign the manifest with this ed25519 key (treeframe keygen).",
            show_default=False,
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress", help="Show progress even when stderr is no TTY.")
    ] = False,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the workspace at a root (or one subtree) as a reproducible, verifiable archive."""
    if compression not in COMPRESSIONS:
        raise InvalidRequest(
            f"--compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}"
        )
    root_id = None if root is None else NodeId(parse_hex_id(root, "--root"))
    key = None if sign is None else load_signing_key(sign)
    if output == "-" and sys.stdout.isatty():
        raise InvalidRequest("refusing to write a binary archive to a terminal: use -o FILE")
    # Imported here: opening a store pulls in the backends.
    from treeframe.storage.registry import open_store
    from treeframe.workspace.settings import store_content

    settings, url = configured_store(store)
    with open_store(url, content=store_content(settings), create=False, read_only=True) as opened:
        info = find_workspace(opened, workspace or settings.workspace)
        enabled = (progress or sys.stderr.isatty()) and not json_out
        with progress_bars(enabled) as update:
            report = _write(
                output,
                lambda out: export_snapshot(
                    opened,
                    info.workspace_id,
                    out,
                    root=root_id,
                    path=path,
                    compression=compression,
                    signing_key=key,
                    progress=update,
                ),
            )
    payload = report_payload(report, output)
    if json_out:
        if output == "-":
            err_console.print_json(data=payload)
        else:
            print_json(payload)
        return
    target = err_console if output == "-" else console
    manifest = report.manifest
    where = f" subtree {manifest.path!r} ({manifest.node_id})" if manifest.path else ""
    target.print(f"exported root {manifest.root_hash}{where} of workspace {info.name}")
    counts = manifest.counts
    target.print(
        f"  {counts.nodes} nodes, {counts.frames} frames, {counts.contents} contents"
        f" ({counts.content_bytes} bytes), {counts.agents} agents"
    )
    signed = f", signed by {key.public_key}" if key is not None else ", unsigned"
    target.print(f"  {report.archive_bytes} bytes ({compression}{signed}) -> {output}")


def _write(output: str, run: Any) -> ExportReport:
    """Run the export into stdout, or into ``output`` atomically (nothing is left on failure)."""
    if output == "-":
        result: ExportReport = run(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return result
    target = Path(output)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=directory)
    except OSError as exc:
        raise StorageError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            result = run(_Sink(out))
            out.flush()
            os.fsync(out.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes it 0600; an archive is no secret
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return result


class _Sink:
    """A file writer that reports a full disk as a StorageError (one line, no traceback)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write(self, data: bytes) -> None:
        try:
            self._out.write(data)
        except OSError as exc:
            raise StorageError(f"cannot write the archive: {exc.strerror}") from None


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command("export")(export)
