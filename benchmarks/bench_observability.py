"""What metrics + logging cost a request: the same API with observability on and off, in one run.

Two ``treeframe serve`` processes (one worker each, loopback) over two copies
of the same SQLite store (``bench_api.build_store``): *on* runs the defaults
(Prometheus metrics with every store and blob call timed, one JSON request
line per request plus one per engine event, written to a file), *off* sets
``metrics.enabled = false``, ``log.requests = false`` and ``log.level =
warning``. Calls alternate between the two servers (on, off, on, off, ...)
so drift of the shared 2-core host hits both alike; each case reports
p50/p99 for both and the overhead of *on* at p50 and p99.

    python benchmarks/bench_observability.py [--samples 2000] [--json out.json] [--in-process]

``--in-process`` measures the same two apps without sockets or processes
(httpx's ASGI transport, alternating requests, median of each): the
difference is the observability work alone, with far less noise than two
servers sharing two cores with the client.

Cases: GetNode with the default view (10-frame node), PutFrame (a new frame
each call: blob, frame, head, audit entry, one engine event), GetWorkspace
(the cheapest authenticated route: where a fixed per-request cost shows most).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench_api import TEXT, build_store, percentiles
from treeframe.client import Client
from treeframe.storage.registry import sqlite_url
from treeframe.wire.frames import FrameSpec

OFF = {
    "TREEFRAME_METRICS__ENABLED": "false",
    "TREEFRAME_LOG__REQUESTS": "false",
    "TREEFRAME_LOG__LEVEL": "warning",
}
ON = {"TREEFRAME_LOG__FORMAT": "json"}


def start(directory: Path, store: Path, extra: dict[str, str], name: str) -> tuple[Any, str, Path]:
    log = directory / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    env.update(extra)
    with socket.socket() as sock:  # the "off" server logs nothing at info: poll a known port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "treeframe", "serve", "--port", str(port), "--workers", "1"]
    command += ["--store", sqlite_url(store)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/v1/health/live", timeout=2).status_code == 200:
                return process, url, log
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{name} server did not start:\n{log.read_text()}")


def stop(process: Any) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def interleaved(samples: int, on: Any, off: Any, warmup: int = 200) -> tuple[list[int], list[int]]:
    """Alternate calls (which server goes first alternates too); nanoseconds per call."""
    for i in range(warmup):
        on(i)
        off(i)
    a: list[int] = []
    b: list[int] = []
    for i in range(samples):
        order = ((on, a), (off, b)) if i % 2 == 0 else ((off, b), (on, a))
        for fn, out in order:
            started = time.perf_counter_ns()
            fn(warmup + i)
            out.append(time.perf_counter_ns() - started)
    return a, b


def case(samples: int, on: Any, off: Any) -> dict[str, Any]:
    a, b = interleaved(samples, on, off)
    p_on, p_off = percentiles(a), percentiles(b)
    return {
        "on": p_on,
        "off": p_off,
        "overhead_p50_pct": round((p_on["p50_ms"] / p_off["p50_ms"] - 1) * 100, 2),
        "overhead_p99_pct": round((p_on["p99_ms"] / p_off["p99_ms"] - 1) * 100, 2),
    }


def run(samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        store, ws, token = build_store(directory)
        copy = directory / "store-off.db"
        shutil.copyfile(store, copy)
        servers: list[tuple[Any, str, Path]] = []
        try:
            servers.append(start(directory, store, ON, "on"))
            servers.append(start(directory, copy, OFF, "off"))
            (_, url_on, log_on), (_, url_off, _log_off) = servers
            with (
                Client(url_on, token=token, retries=0) as c_on,
                Client(url_off, token=token, retries=0) as c_off,
            ):
                node = c_on.get_node_by_path(ws, "batch/f000.txt").node_id
                put = c_on.get_node_by_path(ws, "put.txt").node_id
                results = {
                    "get_node_default_view": case(
                        samples,
                        lambda _: c_on.get_node(ws, node),
                        lambda _: c_off.get_node(ws, node),
                    ),
                    "put_frame": case(
                        samples,
                        lambda i: c_on.put_frame(
                            ws, put, FrameSpec(frame_type="on", content=f"{i} {TEXT}")
                        ),
                        lambda i: c_off.put_frame(
                            ws, put, FrameSpec(frame_type="off", content=f"{i} {TEXT}")
                        ),
                    ),
                    "get_workspace": case(
                        samples, lambda _: c_on.get_workspace(ws), lambda _: c_off.get_workspace(ws)
                    ),
                }
                scraped = c_on.http.get("/v1/metrics").text
            lines = sum(1 for line in log_on.read_text().splitlines() if line.startswith("{"))
        finally:
            for process, _url, _log in servers:
                stop(process)
    return {
        "results": results,
        "log_lines_on": lines,
        "metrics_bytes": len(scraped),
        "samples": samples,
        "host": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load": os.getloadavg(),
        },
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def in_process(samples: int) -> dict[str, Any]:
    """The two apps in this process over two store copies; median per request, alternating."""
    import asyncio
    import logging
    import statistics

    directory = Path(tempfile.mkdtemp())
    multiproc = directory / "metrics"
    multiproc.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)  # before prometheus-client loads
    from treeframe.api import create_app
    from treeframe.config.settings import Settings
    from treeframe.observability.logs import configure_logging
    from treeframe.storage.registry import open_store

    try:
        store, ws, token = build_store(directory)
        copy = directory / "store-off.db"
        shutil.copyfile(store, copy)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)
        log = (directory / "on.log").open("w")
        configure_logging("info", "json", log)
        on_settings = Settings.model_validate({"metrics": {"multiprocess_dir": str(multiproc)}})
        off_settings = Settings.model_validate(
            {"metrics": {"enabled": False}, "log": {"requests": False}}
        )
        on_store, off_store = open_store(sqlite_url(store)), open_store(sqlite_url(copy))
        apps = (create_app(on_settings, on_store), create_app(off_settings, off_store))
        node = on_store.lookup_path(ws, "batch/f000.txt")
        urls = {
            "get_node_default_view": f"/v1/workspaces/{ws}/nodes/{node}",
            "get_workspace": f"/v1/workspaces/{ws}",
        }

        async def measure(url: str) -> dict[str, float]:
            headers = {"Authorization": f"Bearer {token}"}
            clients = [
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://a", headers=headers
                )
                for app in apps
            ]
            times: tuple[list[int], list[int]] = ([], [])
            try:
                for _ in range(300):
                    for c in clients:
                        await c.get(url)
                for i in range(samples):
                    for k in (0, 1) if i % 2 else (1, 0):
                        started = time.perf_counter_ns()
                        await clients[k].get(url)
                        times[k].append(time.perf_counter_ns() - started)
            finally:
                for c in clients:
                    await c.aclose()
            on_us, off_us = (statistics.median(t) / 1000 for t in times)
            return {
                "on_us": round(on_us, 1),
                "off_us": round(off_us, 1),
                "delta_us": round(on_us - off_us, 1),
                "overhead_pct": round((on_us / off_us - 1) * 100, 2),
            }

        results = {name: asyncio.run(measure(url)) for name, url in urls.items()}
        on_store.close()
        off_store.close()
        return {
            "in_process": results,
            "samples": samples,
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    if args.in_process:
        found = in_process(args.samples)
        for name, r in found["in_process"].items():
            print(
                f"{name:<24} on {r['on_us']:>8.1f} us  off {r['off_us']:>8.1f} us  "
                f"Δ {r['delta_us']:>6.1f} us ({r['overhead_pct']:.2f}%)"
            )
        if args.json:
            args.json.write_text(json.dumps(found, indent=2, sort_keys=True))
        return
    out = run(args.samples)
    print(
        f"{'case':<24} {'on p50':>8} {'off p50':>8} {'Δp50':>7} {'on p99':>8} {'off p99':>8} {'Δp99':>7}"
    )
    for name, r in out["results"].items():
        print(
            f"{name:<24} {r['on']['p50_ms']:>8.3f} {r['off']['p50_ms']:>8.3f} "
            f"{r['overhead_p50_pct']:>6.2f}% {r['on']['p99_ms']:>8.3f} {r['off']['p99_ms']:>8.3f} "
            f"{r['overhead_p99_pct']:>6.2f}%"
        )
    print(
        f"log lines written by the 'on' server: {out['log_lines_on']}; load {out['host']['load']}"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
