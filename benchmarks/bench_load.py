"""Load: many concurrent clients against ``treeframe serve --workers N`` on PostgreSQL, a mixed workload.

One run: creates a fresh PostgreSQL database (127.0.0.1:5432, user postgres;
``--store sqlite`` for a SQLite file instead), fills it with ``--workspaces``
workspaces (each a scanned tree of a few files; the first ``--hot`` of them
also get a note frame on every file, so their directories can be
synthesized), makes one owner token for all of them, starts ``treeframe serve
--workers N`` on a loopback port, and then runs ``--clients`` concurrent
clients for ``--duration`` seconds. Each client is one connection that loops:
think (exponential, mean ``--think-ms``), then one operation on a random
workspace, drawn from the mix

* GetNode by path (65%), PutFrame (20%), a batch GetNodes of every file of a
  workspace (10%), and a non-recursive synthesize of a directory of a hot
  workspace (5%).

It reports, per operation, the count, errors (after the client's own retries
of 429/503), p50/p99/max latency and the throughput; then the server's
refusals (429/503) read from its metrics, and it exits non-zero if any
operation failed. The client runs in this process (asyncio, the treeframe
``AsyncClient``), on the same 2 cores as the server workers and PostgreSQL.

    python benchmarks/bench_load.py                       # 1,000 clients, 3 workers, 1,000 workspaces, 60 s
    python benchmarks/bench_load.py --clients 100 --duration 10 --workspaces 50 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from treeframe.client import AsyncClient
from treeframe.engine.access import LOCAL_OWNER, AccessService
from treeframe.engine.principal import Permission, Principal
from treeframe.engine.types import FrameInput
from treeframe.engine.workspaces import WorkspaceService
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.tree.scan import scan_tree
from treeframe.wire.frames import FrameSpec
from treeframe.wire.operations import SynthesizeRequest

ADMIN_DSN = os.environ.get("TREEFRAME_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
AGENT = "loadbench"
FILES = [
    "README.md",
    "src/app.py",
    "src/util.py",
    "src/db/models.py",
    "src/db/pool.py",
    "docs/a.md",
]
DIRS = ["src", "src/db"]
MIX = (("get_node", 65), ("put_frame", 20), ("batch", 10), ("synthesize", 5))
TEXT = "Context about this file: what it does, who calls it, what to watch out for. " * 2


@dataclass
class Op:
    """What one operation kind did."""

    latencies_ns: list[int] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def summary(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(self.latencies_ns)

        def at(q: float) -> float:
            if not ordered:
                return 0.0
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6, 2)

        return {
            "ok": len(ordered),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "p50_ms": at(0.50),
            "p99_ms": at(0.99),
            "max_ms": round(ordered[-1] / 1e6, 2) if ordered else 0.0,
            "per_s": round(len(ordered) / seconds, 1),
        }


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the local server, dropped afterwards."""
    import psycopg

    name = f"treeframe_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_DSN.rpartition("/")[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build(url: str, directory: Path, workspaces: int, hot: int) -> tuple[list[str], str, float]:
    """``workspaces`` scanned workspaces (the first ``hot`` with notes); their IDs, a token, seconds."""
    started = time.perf_counter()
    tree = directory / "tree"
    for rel in FILES:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(f"# {rel}\n")
    ids = []
    with open_store(url, create=True) as store:
        service = WorkspaceService(store)
        access = AccessService(service)
        for n in range(workspaces):
            info, _ = access.create_workspace(f"load-{n:05}", actor=LOCAL_OWNER, owner=AGENT)
            scan_tree(tree, store, info.workspace_id, workers=1)
            ids.append(info.workspace_id)
            if n < hot:
                api = service.open(info.workspace_id)
                principal = Principal(AGENT, info.workspace_id, frozenset(Permission))
                for rel in FILES:
                    api.put_frame(rel, FrameInput("note", TEXT.encode()), principal=principal)
        token = access.create_token(
            actor=LOCAL_OWNER, agent_id=AGENT, permissions=set(Permission), scope=None
        ).token
    return ids, token, time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(directory: Path, url: str, workers: int, extra: list[str]) -> tuple[Any, str]:
    port = free_port()
    log = directory / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    command = [sys.executable, "-m", "treeframe", "serve", "--port", str(port)]
    command += ["--workers", str(workers), "--store", url, *extra]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{base}/v1/health/ready", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit(f"server did not start:\n{log.read_text()[-3000:]}")


def stop_server(process: Any) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def load(
    base: str,
    token: str,
    ids: list[str],
    hot: int,
    clients: int,
    duration: float,
    think_ms: float,
    seed: int,
) -> tuple[dict[str, Op], float]:
    ops = {name: Op() for name, _ in MIX}
    names = [name for name, _ in MIX]
    weights = [weight for _, weight in MIX]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(60.0, connect=30.0, pool=60.0)
    async with AsyncClient(base, token=token, limits=limits, timeout=timeout) as client:
        calls: dict[str, Callable[[random.Random], Awaitable[object]]] = {
            "get_node": lambda r: client.get_node_by_path(r.choice(ids), r.choice(FILES)),
            "put_frame": lambda r: client.put_frame(
                r.choice(ids),
                r.choice(FILES),
                FrameSpec(frame_type=f"load{r.randrange(3)}", content=f"{r.random()} {TEXT}"),
            ),
            "batch": lambda r: client.get_nodes_batch(r.choice(ids), FILES),
            "synthesize": lambda r: client.synthesize(
                r.choice(ids[:hot]), SynthesizeRequest(node=r.choice(DIRS), frame_type="note")
            ),
        }
        deadline = time.monotonic() + duration
        started = time.monotonic()

        async def one_client(index: int) -> None:
            rng = random.Random(seed * 100_003 + index)
            await asyncio.sleep(rng.random() * think_ms / 1000)  # spread the first wave
            while time.monotonic() < deadline:
                name = rng.choices(names, weights)[0]
                began = time.perf_counter_ns()
                try:
                    await calls[name](rng)
                except Exception as exc:  # counted, by kind; the run fails at the end
                    kind = getattr(exc, "code", None) or type(exc).__name__
                    ops[name].errors[kind] = ops[name].errors.get(kind, 0) + 1
                else:
                    ops[name].latencies_ns.append(time.perf_counter_ns() - began)
                await asyncio.sleep(rng.expovariate(1000 / think_ms) if think_ms else 0)

        await asyncio.gather(*(one_client(i) for i in range(clients)))
        elapsed = time.monotonic() - started
    return ops, elapsed


def refusals(base: str) -> dict[str, float]:
    """The server's 429/503 answers (it merges its workers' metrics), by error code."""
    text = httpx.get(f"{base}/v1/metrics", timeout=10).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r'treeframe_errors_total\{code="([a-z_]+)"\} ([0-9.e+]+)', line)
        if match and match.group(1) in (
            "queue_full",
            "server_busy",
            "rate_limited",
            "backend_unavailable",
        ):
            found[match.group(1)] = float(match.group(2))
    return found


def run(
    *,
    clients: int = 1000,
    workers: int = 3,
    workspaces: int = 1000,
    hot: int = 50,
    duration: float = 60.0,
    think_ms: float = 1000.0,
    backend: str = "postgres",
    seed: int = 1,
    serve_args: list[str] | None = None,
) -> dict[str, Any]:
    """One whole run; the result the table and ``--json`` show."""
    directory = Path(tempfile.mkdtemp(prefix="treeframe-load-"))
    try:
        with _store(backend, directory) as url:
            ids, token, built = build(url, directory, workspaces, hot)
            process, base = start_server(directory, url, workers, serve_args or [])
            try:
                ops, elapsed = asyncio.run(
                    load(base, token, ids, hot, clients, duration, think_ms, seed)
                )
                refused = refusals(base)
            finally:
                stop_server(process)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    summary = {name: op.summary(elapsed) for name, op in ops.items()}
    return {
        "backend": backend,
        "clients": clients,
        "workers": workers,
        "workspaces": workspaces,
        "think_ms": think_ms,
        "duration_s": round(elapsed, 1),
        "build_s": round(built, 1),
        "total_per_s": round(sum(s["ok"] for s in summary.values()) / elapsed, 1),
        "errors": sum(s["errors"] for s in summary.values()),
        "refused": refused,
        "ops": summary,
    }


@contextmanager
def _store(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield sqlite_url(directory / "store.db")
        return
    with postgres_database() as url:
        yield url


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['clients']} clients, {result['workers']} workers, {result['backend']}, "
        f"{result['workspaces']} workspaces, think {result['think_ms']} ms, "
        f"{result['duration_s']} s (store built in {result['build_s']} s)",
        "| operation | ok | errors | p50 ms | p99 ms | max ms | per s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in result["ops"].items():
        lines.append(
            f"| {name} | {s['ok']} | {s['errors']} | {s['p50_ms']} | {s['p99_ms']} | "
            f"{s['max_ms']} | {s['per_s']} |"
        )
    lines.append(
        f"total {result['total_per_s']} req/s, errors {result['errors']}, "
        f"server refusals (retried by the client) {result['refused']}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--hot", type=int, default=50, help="workspaces with notes (synthesized)")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--think-ms", type=float, default=1000.0)
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(
        clients=args.clients,
        workers=args.workers,
        workspaces=args.workspaces,
        hot=min(args.hot, args.workspaces),
        duration=args.duration,
        think_ms=args.think_ms,
        backend=args.store,
        seed=args.seed,
    )
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(1 if result["errors"] else 0)


if __name__ == "__main__":
    main()
