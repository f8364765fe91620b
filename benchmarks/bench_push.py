"""Push throughput: a generated tree into a ``treeframe serve`` subprocess over real loopback HTTP.

Builds a seeded synthetic tree (default 100k small files in a 10 x 10 x 10
directory layout, like bench_scan.py), scans it into an in-memory store
(timed apart: the scan is not the push), starts ``treeframe serve`` on a
fresh SQLite store with :func:`bench_app` (every caller an agent with
every permission: the benchmark measures the push, not tokens), then times
through one keep-alive ``httpx.Client``:

* the first push of the whole tree (records/s = records sent / wall time,
  negotiation, batches and the commit's path-index write included);
* a push after a one-file edit (depth + 1 records);
* a push of an unchanged tree (one negotiation, one commit).

    python benchmarks/bench_push.py                  # 100k files
    python benchmarks/bench_push.py --files 20000    # smaller
    python benchmarks/bench_push.py --json push.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi import FastAPI  # noqa: E402

from treeframe.api import create_app  # noqa: E402
from treeframe.api.deps import Identity, authenticate  # noqa: E402
from treeframe.client.push import push_tree  # noqa: E402
from treeframe.config.settings import Settings  # noqa: E402
from treeframe.engine.principal import Permission  # noqa: E402
from treeframe.engine.workspaces import WorkspaceService  # noqa: E402
from treeframe.hashing.ids import workspace_id  # noqa: E402
from treeframe.storage.base import StorageBackend  # noqa: E402
from treeframe.storage.memory import MemoryStore  # noqa: E402
from treeframe.storage.registry import open_store, sqlite_url  # noqa: E402
from treeframe.storage.values import WorkspaceInfo  # noqa: E402
from treeframe.tree.scan import scan_tree  # noqa: E402

LOCAL = workspace_id("bench-local")
_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def bench_app(settings: Settings, store: StorageBackend, *, close_store: bool = False) -> FastAPI:
    """The v1 app with authentication replaced by one all-permission agent."""
    app = create_app(settings, store, close_store=close_store)
    app.dependency_overrides[authenticate] = lambda: Identity(
        agent_id="bench", token_id="t", scope=None, permissions=frozenset(Permission)
    )
    return app


def build_tree(root: Path, files: int, seed: int) -> None:
    """10 x 10 x 10 leaf directories, files spread evenly; small files (the push sends no bytes)."""
    rng = random.Random(seed)
    leaves = [
        root / f"a{i}" / f"b{j}" / f"c{k}" for i in range(10) for j in range(10) for k in range(10)
    ]
    for leaf in leaves:
        leaf.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        (leaves[n % len(leaves)] / f"f{n}.txt").write_bytes(rng.randbytes(rng.randint(64, 256)))


def start_server(tmp: Path, store_path: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    log_path = tmp / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "treeframe", "serve", "--port", "0"]
    command += ["--store", sqlite_url(store_path), "--app", "benchmarks.bench_push:bench_app"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve exited:\n{log_path.read_text()}")
        match = _RUNNING.search(log_path.read_text(errors="replace"))
        if match:
            return process, f"http://127.0.0.1:{match.group(1)}", log_path
        time.sleep(0.05)
    process.kill()
    raise SystemExit("serve did not start")


def timed_push(
    http: httpx.Client, ws: Any, local: MemoryStore, root: Any, label: str
) -> dict[str, Any]:
    started = time.perf_counter()
    result = push_tree(http, ws, local, LOCAL, root)
    seconds = time.perf_counter() - started
    row = {
        "case": label,
        "seconds": round(seconds, 3),
        "offered": result.offered,
        "sent": result.sent,
        "batches": result.batches,
        "negotiations": result.negotiations,
        "paths_changed": result.paths_changed,
        "records_per_s": round(result.sent / seconds) if result.sent else None,
    }
    print(
        f"{label:<14} {seconds * 1000:10.1f} ms  sent {result.sent:>7}  offered {result.offered:>7}  "
        f"batches {result.batches:>4}  negotiations {result.negotiations:>4}"
        + (f"  {row['records_per_s']:>8} records/s" if result.sent else "")
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="Write the results here too.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp_name:
        tmp = Path(tmp_name)
        tree = tmp / "tree"
        began = time.perf_counter()
        build_tree(tree, args.files, args.seed)
        print(f"built {args.files} files in {time.perf_counter() - began:.1f} s")
        local = MemoryStore("memory://")
        local.create_workspace(WorkspaceInfo(LOCAL, "bench-local", "", None, "", None))
        began = time.perf_counter()
        scan = scan_tree(tree, local, LOCAL)
        print(
            f"local scan     {(time.perf_counter() - began) * 1000:10.1f} ms  ({scan.files} files)"
        )
        store_path = tmp / "server.db"
        with open_store(sqlite_url(store_path), create=True) as store:
            info, _ = WorkspaceService(store).create("bench", owner="bench")
        process, url, _log = start_server(tmp, store_path)
        rows = []
        try:
            with httpx.Client(base_url=url, timeout=600) as http:
                rows.append(timed_push(http, info.workspace_id, local, scan.root, "full push"))
                edited = tree / "a3" / "b4" / "c5" / "f345.txt"
                edited.write_bytes(b"edited")
                began = time.perf_counter()
                rescan = scan_tree(tree, local, LOCAL)
                print(f"local rescan   {(time.perf_counter() - began) * 1000:10.1f} ms")
                rows.append(
                    timed_push(http, info.workspace_id, local, rescan.root, "one-file edit")
                )
                rows.append(timed_push(http, info.workspace_id, local, rescan.root, "unchanged"))
        finally:
            process.terminate()
            process.wait(timeout=30)
        result = {
            "files": args.files,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "rows": rows,
        }
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
