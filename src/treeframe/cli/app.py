"""The typer app: the root options, and every command loaded from its module only when needed.

A command's module (and what it imports: the engine, pydantic, rich, the
client...) is imported when that command is looked up, so ``treeframe
status`` loads ``cli/commands/tree.py`` and nothing of ``serve`` or
``export``. Listing every command (``--help``, a mistyped command's
suggestions) still sees the full table below; showing their help loads them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core
import typer.main

from treeframe.release import version_line

if TYPE_CHECKING:
    # typer vendors click; its Command class has no public name.
    from typer._click import Command

__all__ = ["COMMANDS", "app"]

COMMANDS: dict[str, str] = {
    # Command name -> its module under treeframe.cli.commands, in ``--help`` order:
    # typer lists a group's plain commands first, then its sub-apps, each in
    # registration order (tests/cli/test_lazy_commands.py holds this table to that).
    "init": "tree",
    "scan": "tree",
    "status": "tree",
    "ls": "tree",
    "node": "tree",
    "put": "frames",
    "get": "frames",
    "frame": "frames",
    "heads": "frames",
    "proof": "frames",
    "synthesize": "workflow",
    "stale": "workflow",
    "regenerate": "workflow",
    "compose": "workflow",
    "generate": "generate",
    "watch": "watch",
    "verify": "integrity",
    "diff": "diagnostics",
    "explain": "diagnostics",
    "doctor": "diagnostics",
    "migrate": "migrate",
    "migrate-schema": "schema",
    "demo": "demo",
    "serve": "serve",
    "mcp": "mcp",
    "push": "push",
    "keygen": "keys",
    "export": "export",
    "verify-export": "verify_export",
    "import": "importing",
    "agent": "agents",
    "workspace": "workspaces",
    "token": "tokens",
    "acl": "tokens",
    "config": "config",
    "audit": "audit",
}
"""Every top-level command and the module whose ``register(app)`` attaches it."""

MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))
"""The command modules, each once, in the order their commands are listed."""


class LazyCommands(MutableMapping[str, "Command"]):
    """A group's ``commands``: names known up front, each command built on first access.

    ``load(module)`` returns the commands of one module by name. Iterating
    keys (``list_commands``, typo suggestions) loads nothing; reading a
    value loads its module (once).
    """

    def __init__(self, table: dict[str, str], load: Callable[[str], dict[str, Command]]) -> None:
        self._table = table
        self._load = load
        self._order = list(table)
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            module = self._table.get(name)
            if module is None:
                raise KeyError(name)
            loaded = self._load(module)
            expected = {n for n, m in self._table.items() if m == module}
            if set(loaded) != expected:
                # A command added to a module but not to COMMANDS (or the reverse).
                raise RuntimeError(
                    f"treeframe.cli.commands.{module} registers {sorted(loaded)}, "
                    f"COMMANDS lists {sorted(expected)}"
                )
            for loaded_name, command in loaded.items():
                self._built.setdefault(loaded_name, command)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._built and name not in self._table:
            self._order.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._order.remove(name)
        self._table.pop(name, None)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order


class LazyGroup(typer.core.TyperGroup):
    """The root group: its commands come from :data:`COMMANDS`, each module imported on demand."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._markup = kwargs.get("rich_markup_mode")
        self._suggest = bool(kwargs.get("suggest_commands", True))
        self.commands = LazyCommands(dict(COMMANDS), self._commands_of)

    def _commands_of(self, module: str) -> dict[str, Command]:
        """The click commands one module registers, built as the root app would build them."""
        sub = typer.Typer(
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=self._markup,
            suggest_commands=self._suggest,
        )
        importlib.import_module(f"treeframe.cli.commands.{module}").register(sub)
        return dict(typer.main.get_group(sub).commands)


app = typer.Typer(
    name="treeframe",
    help="Deterministic Merkle store of a workspace's files plus immutable context frames.",
    cls=LazyGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
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
