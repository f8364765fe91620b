"""verify-export: check a snapshot archive on its own, with no store, config or network."""

from __future__ import annotations

import os
import re
import stat
import sys
from typing import Annotated, Any, BinaryIO

import typer

from treeframe.cli.common import JsonOpt
from treeframe.cli.output import console, print_json, progress_bars, shown
from treeframe.engine.access import parse_duration
from treeframe.engine.push import check_path
from treeframe.errors import InvalidRequest, from_os_error
from treeframe.snapshot.signing import load_trusted_key
from treeframe.snapshot.streams import DEFAULT_MAX_BYTES, DEFAULT_MAX_RATIO
from treeframe.snapshot.verify import VerifyReport, verify_archive

__all__ = ["register"]

EXIT_DAMAGED = 3
_SIZE = re.compile(r"([0-9]+)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*%?")


def parse_size(text: str) -> int:
    """``1073741824``, ``512M``, ``10GiB``, ``1T`` (binary units) as bytes; InvalidRequest otherwise."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise InvalidRequest(f"invalid size {text[:40]!r}: use bytes or K, M, G, T (e.g. 512M)")
    return int(match.group(1)) << (10 * " KMGT".index(match.group(2).upper() or " "))


def parse_percent(text: str) -> float:
    """``10%`` or ``10`` as a percentage in [0, 100]; InvalidRequest otherwise."""
    match = _PERCENT.fullmatch(text.strip())
    if match is None or not 0 <= float(match.group(1)) <= 100:
        raise InvalidRequest(f"invalid sample {text[:40]!r}: use a percentage from 0% to 100%")
    return float(match.group(1))


def _open(file: str) -> tuple[BinaryIO, int | None]:
    """The archive's byte stream and its size when known (a regular file)."""
    if file == "-":
        return sys.stdin.buffer, None
    try:
        handle = open(file, "rb")  # noqa: SIM115 (closed by the caller)
        info = os.fstat(handle.fileno())
    except OSError as exc:
        raise from_os_error(exc, f"cannot read {file}", InvalidRequest) from exc
    return handle, info.st_size if stat.S_ISREG(info.st_mode) else None


def verify_export(
    file: Annotated[str, typer.Argument(help="The archive, or - to read it from stdin.")],
    path: Annotated[
        str | None,
        typer.Option(
            "--path",
            help="Check only nodes at or under PREFIX (and the chain to the root).",
            metavar="PREFIX",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        str | None,
        typer.Option(
            "--sample",
            help="Check a deterministic N% sample of nodes and contents.",
            metavar="N%",
            show_default=False,
        ),
    ] = None,
    max_duration: Annotated[
        str | None,
        typer.Option(
            "--max-duration",
            help="Stop after this long (e.g. 30s, 5m) and say so.",
            show_default=False,
        ),
    ] = None,
    trust: Annotated[
        list[str] | None,
        typer.Option(
            "--trust",
            help="A trusted public key (64 hex or a .pub file); repeatable.",
            metavar="PUBKEY",
            show_default=False,
        ),
    ] = None,
    max_bytes: Annotated[
        str | None,
        typer.Option(
            "--max-bytes",
            help="Largest uncompressed archive accepted (default 1T).",
            metavar="SIZE",
            show_default=False,
        ),
    ] = None,
    max_ratio: Annotated[
        int,
        typer.Option("--max-ratio", min=1, help="Largest decompression ratio accepted."),
    ] = DEFAULT_MAX_RATIO,
    progress: Annotated[
        bool,
        typer.Option("--progress", help="Show progress on stderr even when it is not a terminal."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Check an exported archive without any store; exit 3 when anything is wrong."""
    prefix = None if path is None else check_path(path.strip("/"))
    keys = [load_trusted_key(value) for value in trust or ()]
    percent = parse_percent(sample) if sample is not None else None
    seconds = parse_duration(max_duration).total_seconds() if max_duration is not None else None
    cap = parse_size(max_bytes) if max_bytes is not None else DEFAULT_MAX_BYTES
    source, total = _open(file)
    try:
        with progress_bars(progress or sys.stderr.isatty()) as update:
            report = verify_archive(
                source,
                trust=keys,
                path=prefix,
                sample_percent=percent,
                max_duration=seconds,
                progress=update,
                total_bytes=total,
                max_bytes=cap,
                max_ratio=max_ratio,
            )
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    if json_out:
        print_json(report.to_dict())
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(EXIT_DAMAGED)


def _print(report: VerifyReport) -> None:
    """The human report: what the archive is, what was checked, every problem."""
    manifest = report.manifest
    if manifest is not None:
        where = f"subtree {shown(manifest.path)!r}" if manifest.path else "the whole tree"
        console.print(
            f"archive of workspace {shown(manifest.workspace.name)!r} at root"
            f" {manifest.root_hash}, {where}"
        )
    signer = f" by {report.signer}" if report.signer else ""
    console.print(f"signature: {report.signature}{signer}")
    checked: dict[str, Any] = report.checked
    part = {
        "all": "everything",
        "path": f"path {shown(str(checked.get('prefix', '')))!r}",
        "sample": f"a {checked.get('percent')}% sample",
    }[checked["scope"]]
    if checked["scope"] == "path" and "percent" in checked:
        part += f", a {checked['percent']}% sample"
    console.print(
        f"checked {part}: {checked['nodes']} nodes, {checked['frames']} frames,"
        f" {checked['contents']} contents ({checked['content_bytes']} bytes)"
        + ("" if checked["complete"] else "; stopped early, the rest was not checked")
    )
    for problem in report.problems:
        typer.echo(f"{problem.code}: {shown(problem.where)}: {shown(problem.detail)}", err=True)
    if report.ok:
        console.print("ok: no problem found")
    else:
        typer.echo(f"{len(report.problems)} problem(s) found", err=True)


def register(app: typer.Typer) -> None:
    """Attach this command to the app."""
    app.command("verify-export")(verify_export)
