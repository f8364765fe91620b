"""docs/EXAMPLES.md runs as written: every marked block exits 0 and prints what it says.

A block follows a ``<!-- example: NAME -->`` marker and is fenced ``sh`` (run
with ``bash -e -o pipefail``) or ``python`` (run with this interpreter). Each
runs in a fresh temporary directory with a fresh ``HOME``, no ``TREEFRAME_*``
variables and a ``treeframe`` on ``PATH`` that is this checkout's; every
``# expect: TEXT`` comment in it names text its output must contain.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "EXAMPLES.md"
BLOCK = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)
EXPECT = re.compile(r"# expect: (.+?)\s*$", re.M)


def _examples() -> list[tuple[str, str, str]]:
    found = [(m["name"], m["lang"], m["body"]) for m in BLOCK.finditer(PAGE.read_text("utf-8"))]
    names = [name for name, _, _ in found]
    assert len(names) == len(set(names)), "two examples share a name"
    return found


def test_examples_page_has_marked_shell_and_python_examples():
    languages = {lang for _, lang, _ in _examples()}
    assert languages == {"sh", "python"}
    assert all(EXPECT.search(body) for _, _, body in _examples()), "an example checks nothing"


@pytest.mark.parametrize(("name", "lang", "body"), _examples(), ids=[e[0] for e in _examples()])
def test_example_runs_and_prints_what_it_says(tmp_path: Path, name: str, lang: str, body: str):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "treeframe"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m treeframe "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    env.update(PATH=f"{bindir}:{env['PATH']}", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    if lang == "sh":
        command = ["bash", "-e", "-o", "pipefail", "-c", body]
    else:
        assert lang == "python", f"{name}: unknown language {lang}"
        command = [sys.executable, "-c", body]
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{name}:\n{result.stdout}\n{result.stderr}"
    missing = [text for text in EXPECT.findall(body) if text not in result.stdout]
    assert missing == [], f"{name} did not print {missing}:\n{result.stdout}"
