"""The TypeScript client (clients/typescript) built and tested with Node.js against a real server.

Its own suite checks its hashing against docs/test-vectors.json, its error classes
against docs/ERRORS.md, and then, against the ``treeframe serve`` started here, pushes a
tree it hashed itself, puts frames and verifies every record, frame and proof it reads.
Without Node.js or npm the tests are skipped as a missing service (a failure on CI).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.api.conftest import issue_token, make_store, start_server, stop_server
from tests.services import service_unavailable

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "clients" / "typescript"
STAMP = PACKAGE / "node_modules" / ".treeframe-lock-sha256"
AGENT = "ts-client"
# npm ci, tsc and the suite each take seconds; the bound is for a stuck registry or server.
STEP_TIMEOUT = 300


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        service_unavailable(
            f"{name} is not installed (the TypeScript client needs Node.js 20 and npm)"
        )
    return str(path)


def _run(command: Sequence[str], env: dict[str, str] | None = None) -> str:
    """Run a step in the package; its whole output is the assertion message when it fails."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    proc = subprocess.run(
        command,
        cwd=PACKAGE,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(command)} exited {proc.returncode}:\n{output}"
    return output


def _install(npm: str) -> None:
    """``npm ci`` unless node_modules was installed from this very package-lock.json."""
    lock = hashlib.sha256((PACKAGE / "package-lock.json").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text() == lock:
        return
    _run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"])
    STAMP.write_text(lock)


def test_generated_route_types_match_openapi_json():
    node = _tool("node")
    assert "up to date" in _run([node, "scripts/generate-openapi.mjs", "--check"])


def test_the_generated_types_check_fails_on_a_changed_openapi_json(tmp_path: Path):
    node = _tool("node")
    package = tmp_path / "clients" / "typescript"
    shutil.copytree(PACKAGE / "scripts", package / "scripts")
    shutil.copytree(PACKAGE / "src" / "generated", package / "src" / "generated")
    spec = json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
    spec["components"]["schemas"]["Live"]["properties"]["uptime"] = {"type": "integer"}
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "openapi.json").write_text(json.dumps(spec), encoding="utf-8")
    check = [node, "scripts/generate-openapi.mjs", "--check"]
    proc = subprocess.run(check, cwd=package, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "out of date with docs/openapi.json" in proc.stderr
    subprocess.run([node, "scripts/generate-openapi.mjs"], cwd=package, check=True, timeout=60)
    assert "uptime?: number;" in (package / "src" / "generated" / "openapi.ts").read_text()
    assert subprocess.run(check, cwd=package, capture_output=True, timeout=60).returncode == 0


def test_typescript_suite_against_a_live_server(tmp_path: Path):
    npm = _tool("npm")
    _install(npm)
    _run([npm, "run", "build"])
    store = make_store(tmp_path / "store.db")
    token = issue_token(store, None, AGENT, scope="all")
    server = start_server(tmp_path, store, app=None)
    try:
        env = {
            "TREEFRAME_TEST_SERVER": server.url,
            "TREEFRAME_TEST_TOKEN": token,
            "TREEFRAME_TEST_AGENT": AGENT,
        }
        output = _run([npm, "test"], env)
    finally:
        stop_server(server)
    assert "# fail 0" in output, output
    assert "# SKIP" not in output, output  # a skipped suite is not counted in "# skipped"
    assert re.search(r"^\s*ok \d+ - answers altered in transit are refused$", output, re.M), output
