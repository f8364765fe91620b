"""The typer app and ``main()``: every error becomes one line on stderr and an exit code.

Exit codes: 0 success, 1 a treeframe error (the line names its stable code),
2 usage error, 3 ``verify`` found damage, 70 an unexpected internal error,
130 interrupted. Set ``TREEFRAME_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import os
import sys

import typer

from treeframe.cli.commands import agents, config, demo, frames, integrity, tree, workflow
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
)
for group in (tree, frames, agents, workflow, integrity, config, demo):
    group.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    debug = os.environ.get("TREEFRAME_DEBUG") == "1"
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
    if argv is None:
        sys.exit(code)
    return code
