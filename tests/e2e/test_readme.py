"""The README's end-to-end example runs as written, and does what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- e2e:start -->\s*```sh\n(.*?)```\s*<!-- e2e:end -->", text, re.S)
    assert block is not None, "README lost its e2e example markers"
    return block.group(1)


def test_readme_example_runs(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "treeframe"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m treeframe "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    env.update(PATH=f"{bindir}:{env['PATH']}", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    work = tmp_path / "project"
    work.mkdir()
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _example()],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "regenerated 3 frame(s)" in out
    assert "needs agent" in out
    assert "[stale] [previous version]" in out
    assert "Connection pool (empty)." in out
    # the last command shows src's fresh synthesis
    tail = out[out.rindex("src: ") :]
    assert "[stale]" not in tail
    assert "- src/app.py: Entry point: prints hi." in tail
