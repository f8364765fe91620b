"""``main()``: every error becomes one line on stderr and an exit code.

The typer app (``treeframe.cli.app``) is imported only when a command runs:
``treeframe --version`` (or ``-V``) alone is answered before that.

Exit codes: 0 success, 1 a treeframe error (the line names its stable code),
2 usage error, 3 ``verify`` found damage, 70 an unexpected internal error,
130 interrupted. Set ``TREEFRAME_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from treeframe.cli.output import print_error
from treeframe.errors import TreeframeError
from treeframe.release import version_line

if TYPE_CHECKING:
    from treeframe.cli.app import app

__all__ = ["app", "main"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

_VERSION_ARGS = (["--version"], ["-V"])
"""Answered before typer and the command modules are imported (the root option does the same)."""


def __getattr__(name: str) -> object:
    """``app`` (the typer app) is imported on first use: ``--version`` never needs it."""
    if name == "app":
        from treeframe.cli.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _not_utf8(args: list[str]) -> str | None:
    """The first argument that is not valid UTF-8, escaped for printing (None: all are).

    Python hands such bytes over as lone surrogates, which every later encode
    would trip over; one clear error here covers every option and path.
    """
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(arg).decode("utf-8", errors="backslashreplace")
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    debug = os.environ.get("TREEFRAME_DEBUG") == "1"
    code = _run(args, as_json=as_json, debug=debug)
    if argv is None:
        sys.exit(code)
    return code


def _run(args: list[str], *, as_json: bool, debug: bool) -> int:
    """Dispatch to the app and turn every outcome into an exit code."""
    bad = _not_utf8(args)
    if bad is not None:
        message = f"command-line argument '{bad}' is not valid UTF-8"
        hint = " (for content from such a file, use '- < FILE')"
        print_error(message + hint, "invalid_request", as_json=as_json)
        return EXIT_ERROR
    try:
        if args in _VERSION_ARGS:
            sys.stdout.write(version_line() + "\n")
            sys.stdout.flush()
            return 0
        code = _dispatch(args, as_json=as_json)
    except TreeframeError as exc:
        if debug:
            raise
        print_error(exc.message, exc.code, as_json=as_json)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        print_error("interrupted", "interrupted", as_json=as_json)
        code = EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        print_error(
            f"internal error: {type(exc).__name__}: {exc}", "internal_error", as_json=as_json
        )
        code = EXIT_INTERNAL
    return code


def _dispatch(args: list[str], *, as_json: bool) -> int:
    """Run the typer app; its own outcomes (exit, usage error, abort) become exit codes here."""
    import typer

    from treeframe.cli.app import app

    try:
        result = app(args=args, prog_name="treeframe", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message:
            print_error(message, "usage_error", as_json=as_json)
        # else: no arguments at all; the help text was printed and says it all
        return EXIT_USAGE
    except typer.Abort as exc:
        raise KeyboardInterrupt from exc
    code = result if isinstance(result, int) else 0
    if code == EXIT_INTERRUPTED:
        # typer turns Ctrl-C into a silent ``return 130`` without standalone mode.
        print_error("interrupted", "interrupted", as_json=as_json)
    return code
