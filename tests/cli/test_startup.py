"""CLI start-up: commands load lazily, and the fast paths stay free of heavy imports.

No timing here (figures come from benchmarks/bench_cli_startup.py): these
tests fail when an eager import comes back, or when the lazy command table
and the command modules disagree.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer  # noqa: TID251 (the app's own command tree)
import typer.main  # noqa: TID251
from typer.testing import CliRunner  # noqa: TID251

import treeframe.cli.commands
from tests.cli.helpers import run_cli
from treeframe.cli import app as app_module
from treeframe.cli.app import COMMANDS, MODULES, app
from treeframe.release import version_line

HEAVY = ("typer", "rich", "pydantic", "pydantic_core", "pydantic_settings", "structlog", "httpx")


def _command_modules() -> list[str]:
    package = treeframe.cli.commands
    return sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if hasattr(importlib.import_module(f"{package.__name__}.{info.name}"), "register")
    )


def _eager_app() -> typer.Typer:
    """The app as it was built before lazy loading: every module registered up front."""
    eager = typer.Typer(
        name="treeframe",
        help=app.info.help,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    eager.callback()(app_module._root)
    for module in MODULES:
        importlib.import_module(f"treeframe.cli.commands.{module}").register(eager)
    return eager


def test_command_table_names_every_module_and_command():
    assert sorted(MODULES) == _command_modules()
    registered = {}
    for module in MODULES:
        sub = typer.Typer()
        importlib.import_module(f"treeframe.cli.commands.{module}").register(sub)
        registered.update(dict.fromkeys(typer.main.get_group(sub).commands, module))
    assert registered == COMMANDS


def test_lazy_root_lists_commands_in_the_eager_order():
    lazy = typer.main.get_command(app)
    eager = typer.main.get_command(_eager_app())
    assert list(lazy.commands) == list(eager.commands)
    assert lazy.list_commands(None) == eager.list_commands(None)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        [],
        ["agent", "--help"],
        ["status", "--help"],
        ["config", "show", "--help"],
        ["stat"],
        ["--bogus"],
        ["--version"],
    ],
    ids=lambda args: " ".join(args) or "no-args",
)
def test_lazy_app_prints_what_the_eager_app_prints(args):
    runner = CliRunner()
    lazy = runner.invoke(app, args, prog_name="treeframe")
    eager = runner.invoke(_eager_app(), args, prog_name="treeframe")
    assert (lazy.exit_code, lazy.output) == (eager.exit_code, eager.output)
    assert lazy.output


def test_a_command_imports_only_its_own_module():
    code = (
        "import sys\n"
        "from treeframe.cli.main import main\n"
        "code = main(['status', '--help'])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('treeframe.cli.commands.'))\n"
        "print(code, ','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "0 treeframe.cli.commands.tree"


_PROBE = """
import atexit, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = ["treeframe", *sys.argv[2:]]
runpy.run_module("treeframe", run_name="__main__")
"""


def _imported(args: list[str], cwd: Path) -> set[str]:
    """Every module ``python -m treeframe ARGS`` has imported when it exits (``sys.modules``)."""
    out = cwd / "modules.txt"
    subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args], cwd=cwd, capture_output=True, check=True
    )
    names = set(out.read_text().splitlines())
    out.unlink()
    assert "treeframe.cli.main" in names
    return names


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_imports_no_cli_stack_and_no_engine(tmp_path, flag):
    names = _imported([flag], tmp_path)
    heavy = sorted(n for n in names if n.split(".")[0] in HEAVY)
    assert heavy == []
    core = ("treeframe.engine", "treeframe.workspace", "treeframe.storage", "treeframe.config")
    assert sorted(n for n in names if n.startswith(core)) == []
    assert run_cli(tmp_path, flag).stdout == version_line() + "\n"


def test_version_in_other_arguments_goes_through_typer(tmp_path):
    # Only a lone --version/-V takes the fast path; anything else is typer's to parse.
    assert _imported(["--version", "status"], tmp_path) >= {"typer", "treeframe.cli.app"}
    bad = run_cli(tmp_path, "--version", "--bogus")
    assert bad.code == 2
    assert bad.stderr.startswith("error: No such option: --bogus")


# What a no-change status never needs: the server, the client, logging, snapshots, other commands.
NOT_FOR_STATUS = (
    "pydantic_settings",
    "structlog",
    "httpx",
    "fastapi",
    "rich.progress",
    "treeframe.api",
    "treeframe.client",
    "treeframe.snapshot",
    "treeframe.engine.diagnostics",
    "treeframe.tree.scan",
    "treeframe.tree.filehash",
    "treeframe.workspace.verify",
)


def _loaded(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(
        n for n in names if n in prefixes or n.startswith(tuple(p + "." for p in prefixes))
    )


def test_status_imports_only_what_it_uses(workspace):
    names = _imported(["status"], workspace)
    assert "treeframe.cli.commands.tree" in names
    assert _loaded(names, NOT_FOR_STATUS) == []
    others = [n for n in names if n.startswith("treeframe.cli.commands.")]
    assert others == ["treeframe.cli.commands.tree"]


def test_json_output_imports_no_rich(workspace):
    names = _imported(["status", "--json"], workspace)
    assert _loaded(names, ("rich", *NOT_FOR_STATUS)) == []
    assert run_cli(workspace, "status", "--json").json()["current"]["seq"] == 1
