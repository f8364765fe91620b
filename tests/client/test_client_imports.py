"""The client is usable without the server stack: no FastAPI, Starlette, uvicorn or treeframe.api."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "src" / "treeframe" / "client"


def test_importing_the_client_loads_no_server_module():
    code = (
        "import sys, treeframe.client, treeframe.client.remote, treeframe.client.push;"
        "bad = [m for m in ('fastapi', 'starlette', 'uvicorn', 'treeframe.api') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_no_client_module_imports_the_server_package():
    offenders = []
    for path in sorted(CLIENT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            offenders += [
                f"{path.name}:{name}"
                for name in names
                if name.split(".")[0] in ("fastapi", "starlette", "uvicorn")
                or name.startswith("treeframe.api")
            ]
    assert offenders == []
