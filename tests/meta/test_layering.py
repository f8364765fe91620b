"""The core never pulls in the CLI stack, and only the edges read the environment."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "treeframe"


def test_core_import_does_not_load_cli_libraries():
    code = (
        "import sys, treeframe.workspace, treeframe.storage, treeframe.frames.views,"
        " treeframe.config;"
        "bad = [m for m in ('typer', 'rich') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_only_edges_read_the_environment():
    allowed_packages = {"cli"}
    # The one core module that turns files and TREEFRAME_* variables into settings.
    allowed_files = {Path("config/loading.py")}
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in allowed_packages or rel in allowed_files:
            continue
        if re.search(r"os\.environ|os\.getenv", path.read_text(encoding="utf-8")):
            offenders.append(str(rel))
    assert offenders == []


def test_settings_model_does_no_io():
    text = (SRC / "config" / "settings.py").read_text(encoding="utf-8")
    assert re.search(r"\bimport os\b|tomllib|open\(|read_text|read_bytes", text) is None


def test_no_test_skips_on_an_in_repo_module():
    """``importorskip`` of treeframe (or tests) would turn a broken import into a skip."""
    tests = SRC.parents[1] / "tests"
    offenders = [
        f"{path.relative_to(tests)}:{number}"
        for path in tests.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"importorskip\(\s*[\"'](treeframe|tests)\b", line)
    ]
    assert offenders == []
