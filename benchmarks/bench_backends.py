"""Every storage backend side by side, in one run on one machine: latency and bulk ingest.

For each backend (``--backends``; memory is the floor; ``+file`` puts every
content in a file blob store, ``inline_max`` 0) on a fresh, empty store:

* the engine workspace of ``bench_engine.read_workspace``: 100 files with 10
  frames each and a node with 120 frames;
* ``node_lookup`` (``store.get_node`` by NodeID), ``head_lookup``
  (``store.get_head``), ``put_frame`` (``ContextAPI.put_frame``: authorization,
  blob, append, audit), ``get_node_100_frame_view`` (``ContextAPI.get_node``
  with ``max_frames=100``) and ``batch_100`` (one ``get_nodes_batch`` of the 100
  files): p50/p99 in ms and ops/s (1 / mean);
* ``bulk_ingest``: a scan of a generated ``--files``-file tree
  (``bench_scan.build_tree``, built once under a temp dir) into the store, its
  records/s = NodeRecords written / wall time. File hashes come from a warm
  stat cache filled by one untimed scan first, so the figure is the store's
  ingest, not hashing (hashing is the same on every backend).

PostgreSQL databases are created and dropped by the script (``--pg-admin``, a
DSN on the loopback interface); every other store lives in a temp dir.

    python benchmarks/bench_backends.py --json out.json
    python benchmarks/bench_backends.py --files 2000 --samples 100   # quick check
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench_engine import machine, percentiles, read_workspace
from bench_scan import build_tree
from treeframe.engine.principal import Principal
from treeframe.engine.types import FrameInput
from treeframe.frames.views import ViewPolicy
from treeframe.hashing.ids import workspace_id
from treeframe.ids import NodeId
from treeframe.storage.base import StorageBackend
from treeframe.storage.registry import content_policy, open_store
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree
from treeframe.tree.statcache import MemoryStatCache

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

Opener = Callable[[Path, argparse.Namespace], contextlib.AbstractContextManager[StorageBackend]]


@contextlib.contextmanager
def _opened(url: str, blobs_url: str | None = None) -> Iterator[StorageBackend]:
    """``url``'s store; with ``blobs_url`` every content goes to that blob store (inline_max 0)."""
    store = open_store(url, content=content_policy(blobs_url, inline_max=0) if blobs_url else None)
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def _postgres(admin_dsn: str) -> Iterator[str]:
    """A new database on the server of ``admin_dsn``; its store URL. Dropped afterwards."""
    import psycopg

    name = f"tf_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{admin_dsn.rpartition('/')[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _postgres_store(tmp: Path, args: argparse.Namespace) -> Iterator[StorageBackend]:
    with _postgres(args.pg_admin) as url, _opened(url) as store:
        yield store


BACKENDS: dict[str, Opener] = {
    "memory": lambda tmp, args: _opened("memory://"),
    "sqlite": lambda tmp, args: _opened(f"sqlite://{tmp / 'store.db'}"),
    "lmdb": lambda tmp, args: _opened(f"lmdb://{tmp / 'store.lmdb'}"),
    "sqlite+file": lambda tmp, args: _opened(f"sqlite://{tmp / 'store.db'}", f"file://{tmp / 'b'}"),
    "postgres": _postgres_store,
}
"""Backend name -> a fresh, empty store of it (closed and removed after)."""


def timed(samples: int, op: Callable[[int], object]) -> dict[str, float]:
    """bench_engine's percentiles, in ms, with ops/s."""
    out = []
    for i in range(samples):
        t0 = time.perf_counter_ns()
        op(i)
        out.append(time.perf_counter_ns() - t0)
    stats = percentiles(out)
    return {
        "p50_ms": round(stats["p50_us"] / 1000, 3),
        "p99_ms": round(stats["p99_us"] / 1000, 3),
        "ops_s": round(1e6 / stats["mean_us"], 1),
        "n": stats["n"],
    }


def latency(store: StorageBackend, tmp: Path, samples: int) -> dict[str, Any]:
    """The five per-operation figures on the read workspace of bench_engine."""
    api, names, hot = read_workspace(store, tmp)
    ids = [NodeId(n) for n in names]
    owner = Principal.owner(api.ws)
    writer = api.agent_principal("writer")
    view = ViewPolicy(max_frames=100)
    assert len(api.get_node(hot, view, principal=owner).frames) == 100

    def put(i: int) -> None:
        api.put_frame(ids[i % len(ids)], FrameInput("bench", b"put %d" % i), principal=writer)

    return {
        "node_lookup": timed(samples, lambda i: store.get_node(api.ws, ids[i % len(ids)])),
        "head_lookup": timed(
            samples, lambda i: store.get_head(api.ws, ids[i % len(ids)], "summary")
        ),
        "put_frame": timed(samples, put),
        "get_node_100_frame_view": timed(
            max(20, samples // 5), lambda i: api.get_node(hot, view, principal=owner)
        ),
        "batch_100": timed(
            max(20, samples // 5), lambda i: api.get_nodes_batch(ids, principal=owner)
        ),
    }


def ingest(store: StorageBackend, tree: Path, cache: MemoryStatCache) -> dict[str, Any]:
    """One full scan of ``tree`` into a new workspace of ``store`` (hashes from ``cache``)."""
    ws = workspace_id("bench-backends-ingest")
    store.create_workspace(workspace_info(ws, "ingest"))
    t0 = time.perf_counter()
    result = scan_tree(tree, store, ws, workers=1, stat_cache=cache)
    seconds = time.perf_counter() - t0
    return {
        "records": result.nodes_written,
        "files": result.files,
        "seconds": round(seconds, 2),
        "records_s": round(result.nodes_written / seconds),
    }


def print_table(results: dict[str, Any]) -> None:
    ops = ("node_lookup", "head_lookup", "put_frame", "get_node_100_frame_view", "batch_100")
    print(f"{'backend':<18} {'op':<26} {'p50 ms':>9} {'p99 ms':>9} {'ops/s':>10}")
    for name, figures in results["backends"].items():
        for op in ops:
            row = figures[op]
            print(
                f"{name:<18} {op:<26} {row['p50_ms']:>9.3f} {row['p99_ms']:>9.3f} "
                f"{row['ops_s']:>10.1f}"
            )
        bulk = figures["bulk_ingest"]
        print(
            f"{name:<18} {'bulk_ingest':<26} {bulk['records']:>9} records "
            f"in {bulk['seconds']} s = {bulk['records_s']} records/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS))
    parser.add_argument("--samples", type=int, default=500, help="samples per single operation")
    parser.add_argument("--files", type=int, default=100_000, help="files in the ingest tree")
    parser.add_argument("--pg-admin", default=os.environ.get("TREEFRAME_TEST_PG", PG_ADMIN))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "machine": machine(),
        "load_average": os.getloadavg(),
        "params": {"samples": args.samples, "files": args.files, "backends": args.backends},
        "backends": {},
    }
    with tempfile.TemporaryDirectory(prefix="tf-bench-backends-") as tmp_dir:
        tmp = Path(tmp_dir)
        tree = tmp / "tree"
        build_tree(tree, args.files, seed=1)
        cache = MemoryStatCache()
        with _opened("memory://") as warm:  # untimed: fills the stat cache
            warm.create_workspace(workspace_info(workspace_id("warm"), "warm"))
            scan_tree(tree, warm, workspace_id("warm"), workers=1, stat_cache=cache)
        for name in args.backends:
            place = tmp / name
            place.mkdir()
            with BACKENDS[name](place, args) as store:
                figures = latency(store, place, args.samples)
                figures["bulk_ingest"] = ingest(store, tree, cache)
            results["backends"][name] = figures
            print(f"{name}: done", flush=True)
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results))
    print()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
