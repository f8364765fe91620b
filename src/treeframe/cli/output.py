"""The only module that imports rich: console, tables, progress and JSON rendering.

rich is imported on first use (printing to ``console``, a table, progress
bars), not with this module: error lines and ``--json`` output never need it.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import ProgressColumn

    from treeframe.observability.progress import ProgressFn

__all__ = [
    "console",
    "err_console",
    "print_error",
    "print_json",
    "print_table",
    "progress_bars",
    "show_progress",
    "shown",
]

_made: dict[str, Console] = {}


def _console(name: str) -> Console:
    """The rich console ``console`` or ``err_console``, made (rich imported) on first use."""
    made = _made.get(name)
    if made is not None:
        return made
    from rich.console import Console

    if name == "console":
        # Off a terminal (pipes, CI logs) lines are never folded: a 64-hex ID must stay whole.
        made = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 1000)
    else:
        made = Console(stderr=True, highlight=False, soft_wrap=True)
    _made[name] = made
    return made


class _LazyConsole:
    """Stands for a rich console until its first use (``--json`` output never imports rich)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(_console(self._name), attr)


console = cast("Console", _LazyConsole("console"))
"""Standard output's console."""
err_console = cast("Console", _LazyConsole("err_console"))
"""Standard error's console."""


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
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title or None, show_edge=False, pad_edge=False, box=None)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Cells are data (file names, frame types), never markup: "[/]" must print as is.
        table.add_row(*(Text(shown(cell)) for cell in row))
    _console("console").print(table)


def show_progress(quiet: bool) -> bool:
    """Progress bars appear only on an interactive terminal and never with ``--quiet``."""
    return not quiet and sys.stdout.isatty() and sys.stderr.isatty()


def _count_column() -> ProgressColumn:
    """A column showing ``done/total`` of a phase: sizes for a bytes phase, counts otherwise."""
    from rich import filesize
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class CountColumn(ProgressColumn):
        """``done/total`` (``?``: total unknown)."""

        def render(self, task: Task) -> Text:
            done, total = int(task.completed), task.total
            if task.fields.get("bytes"):
                shown_total = "?" if total is None else filesize.decimal(int(total))
                return Text(f"{filesize.decimal(done)}/{shown_total}", style="progress.download")
            return Text(f"{done}/{'?' if total is None else int(total)}", style="progress.download")

    return CountColumn()


@contextmanager
def progress_bars(enabled: bool, *, transient: bool = False) -> Iterator[ProgressFn]:
    """The one progress renderer: one bar per phase on stderr; yields a :data:`ProgressFn`.

    Every long operation reports ``progress(phase, done, total)``; a phase
    that counts bytes (:func:`~treeframe.observability.progress.is_bytes_phase`)
    is shown as sizes, an unknown total as a pulsing bar. Redrawn at most
    every 1/10 s from the caller's thread, and never from a thread of its
    own: a threaded process makes the scanner start its hashing workers
    with forkserver instead of the much cheaper fork. ``transient`` clears
    the bars when the operation ends.
    """
    from treeframe.observability.progress import INTERVAL, is_bytes_phase, no_progress

    if not enabled:
        yield no_progress
        return
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<13}"),
        BarColumn(),
        _count_column(),
        TimeElapsedColumn(),
        console=_console("err_console"),
        transient=transient,
        auto_refresh=False,
    ) as progress:
        tasks: dict[str, TaskID] = {}
        last = [0.0]

        def update(phase: str, done: int, total: int | None) -> None:
            task = tasks.get(phase)
            if task is None:
                task = tasks[phase] = progress.add_task(
                    phase, total=total, bytes=is_bytes_phase(phase)
                )
            progress.update(task, completed=done, total=total)
            now = time.monotonic()
            if now - last[0] >= INTERVAL:
                last[0] = now
                progress.refresh()

        yield update
        progress.refresh()
