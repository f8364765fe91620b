"""Command-line arguments: non-UTF-8 bytes, counts below 1, --version and -h."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import typer.main  # noqa: TID251 (the app's own command tree)

from tests.cli.helpers import Result, assert_one_line_error, run_cli, store_state
from treeframe.cli.main import app
from treeframe.release import version_line


def run_bytes(cwd: Path | bytes, *args: bytes) -> Result:
    """The CLI with raw byte arguments, as a shell passes ``$'\\xff'``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    proc = subprocess.run(
        [sys.executable, "-m", "treeframe", *args],
        cwd=cwd,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


PUT = (b"put", b"src/app.py", b"--type", b"t", b"--agent", b"a1")


@pytest.mark.parametrize(
    "args",
    [
        (*PUT, b"--content", b"\xff"),
        (b"put", b"src/app.py", b"--type", b"t", b"--agent", b"a\xff", b"--content", b"x"),
        (*PUT, b"--content", b"x", b"--meta", b"k=\xff"),
        (*PUT, b"--file", b"/tmp/\xff"),
        (b"put", b"src/\xff.py", b"--type", b"t", b"--agent", b"a1", b"--content", b"x"),
        (b"get", b"\xff"),
        (b"ls", b"--store", b"sqlite:///tmp/\xff.db"),
        (b"get", b"src/app.py", b"--json", b"--type", b"\xfe"),
    ],
    ids=["content", "agent", "meta", "file", "path", "get-path", "store", "json"],
)
def test_non_utf8_argument_is_one_clear_line(workspace: Path, args: tuple[bytes, ...]):
    before = store_state(workspace)
    result = run_bytes(workspace, *args)
    assert result.code == 1, result
    if b"--json" in args:
        assert '"invalid_request"' in result.stderr
        assert "\\\\x" in result.stderr
    else:
        assert_one_line_error(result, "invalid_request")
        assert "\\xff" in result.stderr or "\\xfe" in result.stderr
        assert "not valid UTF-8" in result.stderr
    assert store_state(workspace) == before


def test_workspace_directory_that_is_not_utf8_is_refused(tmp_path: Path):
    bad = os.fsencode(tmp_path) + b"/dir\xff"
    os.mkdir(bad)
    result = run_bytes(bad, b"init")
    assert_one_line_error(result, "invalid_path")
    assert "dir\\xff" in result.stderr
    assert os.listdir(bad) == []


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("scan", "--workers", "0"), "usage_error"),
        (("scan", "--workers", "-2"), "usage_error"),
        (("status", "--history", "0"), "usage_error"),
        (("status", "--history", "-1"), "usage_error"),
        (("verify", "--limit", "-5"), "usage_error"),
        (("verify", "--limit", "0"), "usage_error"),
        (("get", "src/app.py", "--max", "-1"), "invalid_view_policy"),
        (("get", "src/app.py", "--max-bytes", "-1"), "invalid_view_policy"),
        (("compose", "src/app.py", "--max", "-3"), "invalid_view_policy"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v,
)
def test_counts_below_one_are_refused(workspace: Path, args: tuple[str, ...], code: str):
    before = store_state(workspace)
    result = run_cli(workspace, *args)
    assert_one_line_error(result, code)
    assert store_state(workspace) == before


# Integer options the engine validates itself (invalid_view_policy), tested above.
ENGINE_CHECKED = {("get", "--max"), ("get", "--max-bytes"), ("compose", "--max")}


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            out.extend(_commands(command, f"{prefix}{name} "))
        else:
            out.append((prefix + name, command))
    return out


def _is_int(annotation: Any) -> bool:
    return annotation is int or int in typing.get_args(annotation)


def test_every_integer_option_has_a_lower_bound():
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 15
    unbounded = []
    for name, command in commands:
        for param in command.params:
            if not _is_int(param.type_descriptor.annotation):
                continue
            flag = max(param.opts, key=len)
            low, high = getattr(param, "min", None), getattr(param, "max", None)
            # A count starts at 1; a ranged value (serve --port 0..65535, 0 = any) is bounded too.
            bounded = (low or 0) >= 1 or (low is not None and high is not None)
            if not bounded and (name, flag) not in ENGINE_CHECKED:
                unbounded.append(f"{name} {flag}")
    assert unbounded == []


def test_version_and_short_help(tmp_path: Path):
    version = run_cli(tmp_path, "--version")
    assert (version.code, version.stdout) == (0, version_line() + "\n")
    top = run_cli(tmp_path, "-h")
    assert top.code == 0
    assert "Usage: treeframe" in top.stdout
    assert "--version" in top.stdout
    sub = run_cli(tmp_path, "get", "-h")
    assert sub.code == 0
    assert "--max" in sub.stdout
