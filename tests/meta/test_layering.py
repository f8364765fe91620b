"""The core never pulls in the CLI stack, and only the edges read the environment."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "treeframe"


def test_core_import_does_not_load_cli_libraries():
    code = (
        "import sys, treeframe.workspace, treeframe.storage, treeframe.frames.views;"
        "bad = [m for m in ('typer', 'rich') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_only_edges_read_the_environment():
    allowed = {"cli"}
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in allowed:
            continue
        if re.search(r"os\.environ|os\.getenv", path.read_text(encoding="utf-8")):
            offenders.append(str(rel))
    assert offenders == []
