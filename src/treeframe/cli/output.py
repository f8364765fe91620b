"""The only module that imports rich: console, tables, progress and JSON rendering."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

__all__ = [
    "console",
    "counted_progress",
    "err_console",
    "print_error",
    "print_json",
    "print_table",
    "progress_bar",
    "show_progress",
    "shown",
]

# Off a terminal (pipes, CI logs) lines are never folded: a 64-hex ID must stay whole.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 1000)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


# C0 controls but newline and tab, DEL, and C1 controls: what a terminal may act on.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(value: str | bytes) -> str:
    r"""Stored text (frame content, names) made safe for human output.

    Bytes are decoded as UTF-8 (invalid bytes replaced); control characters
    other than newline and tab are shown escaped (``\x1b``), on a terminal
    or not, so content can never move the cursor, retitle the window or hide
    text. ``--json`` output is never escaped this way.
    """
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def print_json(value: Any) -> None:
    """Print one JSON document (sorted keys) on stdout: the stable machine interface."""
    sys.stdout.write(json.dumps(value, sort_keys=True, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(message: str, code: str, *, as_json: bool) -> None:
    """Print one error line on stderr (JSON when ``--json`` was asked for)."""
    if as_json:
        line = json.dumps({"error": {"code": code, "message": message}}, sort_keys=True)
    else:
        line = f"error: {message} [{code}]"
    sys.stderr.write(line.replace("\n", " ") + "\n")
    sys.stderr.flush()


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> None:
    """Render rows as a table."""
    table = Table(title=title or None, show_edge=False, pad_edge=False, box=None)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Cells are data (file names, frame types), never markup: "[/]" must print as is.
        table.add_row(*(Text(shown(cell)) for cell in row))
    console.print(table)


def show_progress(quiet: bool) -> bool:
    """Progress bars appear only on an interactive terminal and never with ``--quiet``."""
    return not quiet and sys.stdout.isatty() and sys.stderr.isatty()


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A spinner with a live status line on stderr; yields ``update(text)``."""
    if not enabled:
        yield lambda _text: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        # No refresh thread: a threaded process makes the scanner start its
        # hashing workers with forkserver instead of the much cheaper fork.
        auto_refresh=False,
    ) as progress:
        task = progress.add_task(label, status="")

        def update(text: str) -> None:
            progress.update(task, status=text, refresh=True)

        yield update


@contextmanager
def counted_progress(enabled: bool) -> Iterator[Callable[[str, int, int | None], None]]:
    """One bar per kind of item on stderr; yields ``update(kind, done, total)`` (total None: open).

    Redrawn at most every 1/10 s from the caller's thread (no refresh thread).
    """
    if not enabled:
        yield lambda _kind, _done, _total: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        auto_refresh=False,
    ) as progress:
        tasks: dict[str, TaskID] = {}
        last = [0.0]

        def update(kind: str, done: int, total: int | None) -> None:
            task = tasks.get(kind)
            if task is None:
                task = tasks[kind] = progress.add_task(kind, total=total)
            progress.update(task, completed=done, total=total)
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                progress.refresh()

        yield update
        progress.refresh()
