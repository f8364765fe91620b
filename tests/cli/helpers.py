"""Run the real CLI in a subprocess and read its store back through the library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treeframe.hashing.ids import workspace_id
from treeframe.storage.registry import open_store
from treeframe.workspace.layout import default_store_url


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(
    cwd: Path,
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> Result:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    full_env.update(env or {})
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "treeframe", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def assert_one_line_error(result: Result, code: str) -> None:
    assert result.code != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"[{code}]" in lines[0], lines[0]


def store_state(root: Path) -> dict[str, Any]:
    """Everything a store holds for the default workspace, for before/after comparisons."""
    ws = workspace_id("default")
    with open_store(default_store_url(root)) as store:
        return {
            "history": store.root_history(ws, 1000),
            "paths": sorted(store.iter_all_paths(ws)),
            "nodes": sorted(n.node_id for n in store.iter_all_nodes(ws)),  # type: ignore[union-attr]
            "frames": [f.to_dict() for f in store.iter_all_frames(ws)],  # type: ignore[union-attr]
            "heads": sorted(store.iter_all_heads(ws)),
            "sets": sorted(store.iter_all_frame_sets(ws), key=lambda x: x[0]),
        }


def make_tree(root: Path, files: dict[str, str]) -> None:
    """Write files with mtimes in the past, so the stat cache can trust them (not racy)."""
    past = time.time_ns() - 3600 * 10**9
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(past, past))


SAMPLE = {
    "README.md": "# project\n",
    "src/app.py": "print('hi')\n",
    "src/lib/util.py": "X = 1\n",
    "docs/guide.md": "guide\n",
}
