"""The typer app and ``main()``: every error becomes one line on stderr and an exit code.

Exit codes: 0 success, 1 a treeframe error (the line names its stable code),
2 usage error, 3 ``verify`` found damage, 70 an unexpected internal error,
130 interrupted. Set ``TREEFRAME_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from treeframe import __version__
from treeframe.cli.commands import (
    agents,
    audit,
    config,
    demo,
    diagnostics,
    export,
    frames,
    importing,
    integrity,
    keys,
    migrate,
    push,
    schema,
    serve,
    tokens,
    tree,
    verify_export,
    workflow,
    workspaces,
)
from treeframe.cli.output import print_error
from treeframe.errors import TreeframeError

__all__ = ["app", "main"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="treeframe",
    help="Deterministic Merkle store of a workspace's files plus immutable context frames.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
for group in (
    tree,
    frames,
    agents,
    workflow,
    integrity,
    diagnostics,
    migrate,
    schema,
    workspaces,
    tokens,
    config,
    demo,
    serve,
    push,
    audit,
    keys,
    export,
    verify_export,
    importing,
):
    group.register(app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"treeframe {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Log to stderr what the command does (engine events); -vv adds debug lines.",
        ),
    ] = 0,
) -> None:
    """Deterministic Merkle store of a workspace's files plus immutable context frames."""
    if verbose:
        # The server's pipeline (treeframe.observability.logs): readable on a terminal, else JSON.
        from treeframe.observability.logs import configure_logging

        configure_logging("debug" if verbose > 1 else "info")


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
        result = app(args=args, prog_name="treeframe", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == EXIT_INTERRUPTED:
            # typer turns Ctrl-C into a silent ``return 130`` without standalone mode.
            print_error("interrupted", "interrupted", as_json=as_json)
    except TreeframeError as exc:
        if debug:
            raise
        print_error(exc.message, exc.code, as_json=as_json)
        code = EXIT_ERROR
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message:
            print_error(message, "usage_error", as_json=as_json)
        # else: no arguments at all; the help text was printed and says it all
        code = EXIT_USAGE
    except (KeyboardInterrupt, typer.Abort):
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
