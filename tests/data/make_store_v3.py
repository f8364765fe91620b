"""Regenerate store-v3.db and store-v3.json with the treeframe of schema version 3.

Version 3 is the schema of commit 6c928f7 (before ``frames.put_seq``). Run from
the repository root, with the test dependencies installed::

    mkdir /tmp/treeframe-v3 && git archive 6c928f7 src | tar -x -C /tmp/treeframe-v3
    python tests/data/make_store_v3.py /tmp/treeframe-v3/src

It drives that old code's CLI in a scratch workspace (a scan, frames, a re-put,
a synthesis), copies the store file here and records in store-v3.json what the
old code answered, so tests/cli/test_migrate_schema.py can check that today's
code gives the same answers after upgrading the file.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FILES = {"README.md": "# demo\n", "src/app.py": "print('hi')\n", "src/util.py": "X = 1\n"}


def main(old_src: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    env["PYTHONPATH"] = old_src

    def cli(cwd: Path, *args: str) -> Any:
        proc = subprocess.run(
            [sys.executable, "-m", "treeframe", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode:
            raise SystemExit(f"treeframe {' '.join(args)}: {proc.stderr.strip()}")
        return json.loads(proc.stdout) if "--json" in args else proc.stdout

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in FILES.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        cli(root, "init")
        cli(root, "scan", "--quiet")
        cli(root, "agent", "add", "alice", "--role", "writer")
        cli(root, "agent", "add", "sam", "--role", "synthesis")
        for path, body in (("src/app.py", "first"), ("src/app.py", "second"), ("src", "dir")):
            cli(root, "put", path, "--type", "note", "--agent", "alice", "--content", body)
        cli(root, "put", "src/app.py", "--type", "note", "--agent", "alice", "--content", "first")
        cli(root, "synthesize", "src", "--type", "note", "--agent", "sam")
        answers = {
            "files": FILES,
            "status": cli(root, "status", "--json"),
            "ls": cli(root, "ls", "src", "--json"),
            "heads": {p: cli(root, "heads", p, "--json") for p in ("src", "src/app.py")},
            "get": {p: cli(root, "get", p, "--json") for p in ("src", "src/app.py")},
        }
        store = root / ".treeframe" / "store.db"
        conn = sqlite3.connect(store)  # checkpoint the WAL into the file, then drop it
        (version,) = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA page_size = 512")  # a small file to commit
        conn.execute("VACUUM")
        conn.close()
        if version != "3":
            raise SystemExit(f"{old_src} writes schema version {version}, not 3")
        if sorted(p.name for p in store.parent.iterdir()) != ["store.db"]:
            raise SystemExit(f"{store.parent} holds more than the store; copy that too")
        shutil.copyfile(store, HERE / "store-v3.db")
    (HERE / "store-v3.json").write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
