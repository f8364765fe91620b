"""Run the real CLI in a subprocess and read its store back through the library."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote


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


def run_cli_in_process(
    cwd: Path,
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """:func:`run_cli` without the subprocess: ``main(args)`` in this process, output captured.

    For tests about what a command prints, where a fresh interpreter per call
    adds only its start-up time. Environment, cwd and stdin are those
    :func:`run_cli` gives the child, restored afterwards. Tests about exit
    codes of a real process, signals, locale or start-up keep :func:`run_cli`.
    """
    from treeframe.cli.main import main

    clean = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    clean.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    fake_in = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    saved_in = sys.stdin
    os.environ.clear()
    os.environ.update(clean)
    os.chdir(cwd)
    sys.stdin = fake_in
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = saved_in
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Result(code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: Result, code: str) -> None:
    assert result.code != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"[{code}]" in lines[0], lines[0]


def store_state(root: Path, *, audit: bool = True) -> dict[str, Any]:
    """Every row of every table of the workspace's store, for before/after comparisons.

    Read straight from the SQLite file (read-only), so no table can be left
    out: agents, contents, path history, basis index, stat cache, scan
    staging and the workspace's sequence counter are compared like frames and
    paths. ``history`` is the root history; ``frames`` lists the stored frame
    records in append order (``frame_rows`` holds the table's raw rows).
    ``audit=False`` leaves the audit log out, for a refused write: it changes
    nothing but appends its refused entry (check that with
    :func:`assert_one_refused_entry`).
    """
    db = root / ".treeframe" / "store.db"
    conn = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        state: dict[str, Any] = {
            _TABLE_KEYS.get(name, name): sorted(
                conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr
            )
            for name in tables
        }
        # Frames as their stored records, in append order (tests read their IDs).
        state["frames"] = [
            json.loads(record)
            for (record,) in conn.execute("SELECT record FROM frames ORDER BY ws, seq")
        ]
        state["frame_rows"] = sorted(conn.execute("SELECT * FROM frames").fetchall(), key=repr)
    finally:
        conn.close()
    assert set(state) >= STORE_TABLES, sorted(state)
    if not audit:
        del state["audit_log"]
    return state


def audit_entries(root: Path) -> list[dict[str, Any]]:
    """The store's audit log, every workspace's, as dicts in (workspace, seq) order."""
    db = root / ".treeframe" / "store.db"
    conn = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM audit_log ORDER BY ws, seq").fetchall()
    finally:
        conn.close()
    return [dict(row) for row in rows]


def assert_one_refused_entry(root: Path, before: list[dict[str, Any]], code: str) -> None:
    """Exactly one audit entry was appended since ``before``: a refused write with ``code``."""
    after = audit_entries(root)
    assert after[: len(before)] == before, "existing audit entries changed"
    new = after[len(before) :]
    assert len(new) == 1, new
    assert (new[0]["success"], new[0]["error"]) == (0, code), new[0]


# The tables every store has; store_state refuses to compare fewer.
STORE_TABLES = {
    "acl",
    "agents",
    "audit_log",
    "basis_refs",
    "contents",
    "frame_sets",
    "frames",
    "heads",
    "history",
    "meta",
    "nodes",
    "path_history",
    "paths",
    "scan_staging",
    "scans",
    "tokens",
    "workspaces",
}
_TABLE_KEYS = {"root_history": "history"}


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
