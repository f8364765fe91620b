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
    # The stale counts the README's comments claim, in order.
    reports = re.findall(r"^(\d+ stale frames?: .*|nothing stale)$", out, re.M)
    assert reports == [
        "4 stale frames: 3 recomputable, 1 needs its agent",
        "4 stale frames: 0 recomputable, 4 need their agents",
        "nothing stale",
    ]
    assert re.findall(r"^regenerated (\d+) frame\(s\)", out, re.M) == ["3", "3"]
    assert "needs agent" in out
    assert "[stale] [previous version]" in out
    assert "Connection pool (empty)." in out
    gets = [m.start() for m in re.finditer(r"^src: \d+ of \d+ frames", out, re.M)]
    assert len(gets) == 2
    # The first `get src` (up to the FrameID the next `put` prints) shows its
    # synthesis as incomplete, naming what it lacks.
    put = re.compile(r"^[0-9a-f]{64}$", re.M).search(out, gets[0])
    assert put is not None
    first = out[gets[0] : put.start()]
    assert "[incomplete]" in first
    assert "(incomplete: stale or incomplete input from src/db)" in first
    # The last command shows src's complete, fresh synthesis.
    tail = out[gets[1] :]
    assert "[stale]" not in tail
    assert "[incomplete]" not in tail
    assert "- src/app.py: Entry point: prints hi." in tail
    assert "Connection pool, made at import." in tail
