"""API v1 through the Python client, next to a bare FastAPI endpoint of the same server process.

One run: builds a store (a workspace with ``hot.txt`` holding 100 frames,
``put.txt`` and 100 files of 10 frames under ``batch/``), makes a token,
starts ``treeframe serve`` (one worker, loopback) with
``bench_api_app:bench_app``, which serves the real app and, under
``/bare/``, a plain FastAPI app returning the same GetNode JSON; then,
through :class:`treeframe.client.Client` / ``AsyncClient`` over keep-alive:

* GetNode with a 100-frame view and PutFrame: p50/p99, each next to the bare
  endpoint (same client, same response model parsed) and the ratio;
* GetNode requests/s at 32 concurrent connections (AsyncClient, one process);
* a batch of 100 nodes against 100 single GetNode calls (ratio);
* 1,000 concurrent GetNode requests (1,000 connections), counting errors.

    python benchmarks/bench_api.py [--samples 2000] [--json out.json]

The client runs in this process, so the throughput figure includes the
client's own CPU time (on a shared 2-core host: the server and the client
compete for the same cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from treeframe.client import AsyncClient, Client
from treeframe.client.call import Call, model
from treeframe.engine.access import LOCAL_OWNER, AccessService
from treeframe.engine.principal import Permission, Principal
from treeframe.engine.types import FrameInput
from treeframe.engine.workspaces import WorkspaceService
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.tree.scan import scan_tree
from treeframe.wire.frames import FrameSpec, PutFrameResult
from treeframe.wire.nodes import NodeView, ViewSpec

HERE = Path(__file__).resolve().parent
AGENT = "bench"
TEXT = "Context about this file: what it does, who calls it, what to watch out for. " * 3


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

    return {"p50_ms": round(at(0.50), 3), "p99_ms": round(at(0.99), 3), "n": len(ordered)}


def build_store(directory: Path) -> tuple[Path, str, str]:
    """The store, the workspace ID and a token with every permission."""
    tree = directory / "tree"
    (tree / "batch").mkdir(parents=True)
    (tree / "hot.txt").write_text("hot\n")
    (tree / "put.txt").write_text("put\n")
    for i in range(100):
        (tree / "batch" / f"f{i:03}.txt").write_text(f"file {i}\n")
    path = directory / "store.db"
    with open_store(sqlite_url(path), create=True) as store:
        service = WorkspaceService(store)
        access = AccessService(service)
        info, _ = access.create_workspace("bench", actor=LOCAL_OWNER, owner=AGENT)
        ws = info.workspace_id
        scan_tree(tree, store, ws, workers=1)
        api = service.open(ws)
        principal = Principal(AGENT, ws, frozenset(Permission))
        for i in range(100):
            frame = FrameInput(f"note{i % 5}", f"{i}: {TEXT}".encode())
            api.put_frame_record("hot.txt", frame, principal=principal)
        for n in range(100):
            for i in range(10):
                frame = FrameInput(f"note{i % 3}", f"{n}/{i}: {TEXT}".encode())
                api.put_frame_record(f"batch/f{n:03}.txt", frame, principal=principal)
        issued = access.create_token(
            actor=LOCAL_OWNER, agent_id=AGENT, permissions=set(Permission), scope=ws
        )
    return path, ws, issued.token


def start_server(directory: Path, store: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    log = directory / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "treeframe", "serve", "--port", "0", "--workers", "1"]
    command += ["--store", sqlite_url(store), "--app", "bench_api_app:bench_app"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            return process, found.group(1), log
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def timed(samples: int, fn: Callable[[int], object], warmup: int = 100) -> list[int]:
    for i in range(warmup):
        fn(i)
    out = []
    for i in range(samples):
        start = time.perf_counter_ns()
        fn(warmup + i)
        out.append(time.perf_counter_ns() - start)
    return out


async def throughput(url: str, token: str, ws: str, node: str, total: int, conns: int) -> float:
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with AsyncClient(url, token=token, limits=limits, retries=0) as client:
        await asyncio.gather(*(client.get_node(ws, node) for _ in range(conns)))  # connect
        remaining = total

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await client.get_node(ws, node)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conns)))
        return total / (time.perf_counter() - start)


async def burst(url: str, token: str, ws: str, node: str, n: int) -> tuple[int, int, float]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    timeout = httpx.Timeout(120.0, connect=60.0, pool=120.0)
    async with AsyncClient(url, token=token, limits=limits, timeout=timeout, retries=0) as client:
        start = time.perf_counter()
        results = await asyncio.gather(
            *(client.get_node(ws, node) for _ in range(n)), return_exceptions=True
        )
        elapsed = time.perf_counter() - start
    errors = sum(1 for r in results if isinstance(r, BaseException))
    return n - errors, errors, elapsed


def run(samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        store, ws, token = build_store(directory)
        process, url, _log = start_server(directory, store)
        try:
            return measure(url, ws, token, samples)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def measure(url: str, ws: str, token: str, samples: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with Client(url, token=token, retries=0) as client:
        hot = client.get_node_by_path(ws, "hot.txt").node_id
        put = client.get_node_by_path(ws, "put.txt").node_id
        view = ViewSpec(max_frames=100)
        assert len(client.get_node(ws, hot, view=view).frames) == 100
        bare_node = Call("GET", "/bare/node", model(NodeView))
        assert len(client.request(bare_node).frames) == 100

        out["get_node_100"] = percentiles(
            timed(samples, lambda _: client.get_node(ws, hot, view=view))
        )
        out["bare_get_100"] = percentiles(timed(samples, lambda _: client.request(bare_node)))

        def put_frame(i: int) -> object:
            return client.put_frame(ws, put, FrameSpec(frame_type="note", content=f"{i} {TEXT}"))

        def bare_put(i: int) -> object:
            spec = FrameSpec(frame_type="note", content=f"{i} {TEXT}")
            call = Call(
                "POST",
                "/bare/frames",
                model(PutFrameResult),
                json={"node_id": put, "frame": spec.model_dump(exclude_unset=True)},
            )
            return client.request(call)

        out["put_frame"] = percentiles(timed(samples, put_frame))
        out["bare_put"] = percentiles(timed(samples, bare_put))

        ids = [
            v.node_id
            for v in client.get_nodes_batch(
                ws, [f"batch/f{i:03}.txt" for i in range(100)]
            ).nodes.values()
        ]
        reps = max(10, samples // 100)
        out["batch_100"] = percentiles(
            timed(reps, lambda _: client.get_nodes_batch(ws, ids), warmup=3)
        )

        def singles(_: int) -> None:
            for node_id in ids:
                client.get_node(ws, node_id)

        out["single_100"] = percentiles(timed(reps, singles, warmup=3))
        small = ids[0]
    out["rps_32"] = round(asyncio.run(throughput(url, token, ws, small, samples * 5, 32)))
    ok, errors, elapsed = asyncio.run(burst(url, token, ws, small, 1000))
    out["burst_1000"] = {"ok": ok, "errors": errors, "seconds": round(elapsed, 2)}
    return out


def table(r: dict[str, Any]) -> str:
    def ratio(a: str, b: str) -> str:
        return f"{r[a]['p50_ms'] / r[b]['p50_ms']:.2f}x"

    rows = [
        (
            "GetNode, 100-frame view",
            r["get_node_100"],
            "<= 1.5 p50, <= 1.5x bare",
            ratio("get_node_100", "bare_get_100"),
        ),
        ("bare FastAPI, same JSON", r["bare_get_100"], "", ""),
        ("PutFrame", r["put_frame"], "<= 1.5 p50, <= 1.5x bare", ratio("put_frame", "bare_put")),
        ("bare FastAPI, same body", r["bare_put"], "", ""),
        ("GetNodesBatch, 100 nodes x 10 frames", r["batch_100"], "", ""),
        (
            "100 single GetNode calls, same nodes",
            r["single_100"],
            "batch >= 10x",
            f"{r['single_100']['p50_ms'] / r['batch_100']['p50_ms']:.1f}x faster",
        ),
    ]
    lines = [
        "| case | p50 ms | p99 ms | n | target | ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, p, target, note in rows:
        lines.append(f"| {name} | {p['p50_ms']} | {p['p99_ms']} | {p['n']} | {target} | {note} |")
    burst_row = r["burst_1000"]
    lines.append("")
    lines.append(
        f"GetNode (10-frame node, default view) at 32 connections: **{r['rps_32']} req/s** (target >= 3,000)."
    )
    lines.append(
        f"1,000 concurrent GetNode requests on 1,000 connections: {burst_row['ok']} ok, "
        f"**{burst_row['errors']} errors**, {burst_row['seconds']} s."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = run(args.samples)
    results["host"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }
    print(table(results))
    print(f"\nhost: {results['host']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
