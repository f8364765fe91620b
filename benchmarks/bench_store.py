"""In-process latency of the store's hot paths at two store sizes.

Reports p50/p99 (microseconds) for NodeRecord lookup, head lookup, PutFrame
and GetNode with a 100-frame view, at 10k and 1M stored nodes (``--sizes``),
next to a bare sqlite3 point lookup on a table of the same size (the peer:
what any SQLite-backed design pays for one indexed read).

    python benchmarks/bench_store.py --sizes 10000 1000000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from treeframe.frames import merkle_set
from treeframe.frames.frame import new_frame
from treeframe.frames.views import ViewPolicy, select_view
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.storage.registry import open_store
from treeframe.testing.factories import put_frame, workspace_info
from treeframe.tree.records import NodeRecord

WS = workspace_id("bench")
NOW = "2026-01-01T00:00:00.000Z"


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000  # noqa: E731
    return {"p50_us": round(p(0.50), 2), "p99_us": round(p(0.99), 2), "n": len(ordered)}


def timed(samples: int, op: Callable[[int], object]) -> dict[str, float]:
    out = []
    for i in range(samples):
        t0 = time.perf_counter_ns()
        op(i)
        out.append(time.perf_counter_ns() - t0)
    return percentiles(out)


def build(store, n_nodes: int, rng: random.Random) -> list[NodeRecord]:
    records: list[NodeRecord] = []
    batch: list[NodeRecord] = []
    for i in range(n_nodes):
        digest = content_hash(i.to_bytes(8, "big"))
        rec = NodeRecord.file(f"d{i % 1000:03d}/f{i}.txt", digest, 100 + i % 4000, False)
        batch.append(rec)
        if len(batch) == 10_000:
            store.put_nodes(WS, batch)
            records.extend(batch)
            batch = []
    if batch:
        store.put_nodes(WS, batch)
        records.extend(batch)
    rng.shuffle(records)
    return records


def bare_sqlite_peer(path: Path, n: int, samples: int, rng: random.Random) -> dict[str, float]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
    keys = [os.urandom(32) for _ in range(n)]
    conn.executemany("INSERT INTO t VALUES (?, ?)", ((k, b"x" * 200) for k in keys))
    conn.commit()
    picks = [keys[rng.randrange(n)] for _ in range(samples)]
    result = timed(
        samples, lambda i: conn.execute("SELECT v FROM t WHERE k=?", (picks[i],)).fetchone()
    )
    conn.close()
    return result


def run_size(n_nodes: int, samples: int, backend: str, tmp: Path) -> dict[str, object]:
    rng = random.Random(n_nodes)
    url = "memory://" if backend == "memory" else f"sqlite://{tmp / f'store-{n_nodes}.db'}"
    store = open_store(url)
    store.create_workspace(workspace_info(WS, "bench"))
    t0 = time.perf_counter()
    records = build(store, n_nodes, rng)
    build_s = time.perf_counter() - t0

    # 100 frames on one "hot" node for the view; one frame on many nodes for heads.
    hot = records[0]
    for i in range(120):
        frame = new_frame(hot.node_id, f"type{i % 5}", f"agent{i % 3}", f"frame {i}".encode())
        put_frame(store, WS, frame, f"frame {i}".encode(), merkle_set.root_of_raw, NOW)
    headed = records[1 : 1 + min(samples, len(records) - 1)]
    for rec in headed:
        frame = new_frame(rec.node_id, "summary", "bench", b"summary of " + rec.path.encode())
        put_frame(store, WS, frame, b"summary of " + rec.path.encode(), merkle_set.root_of_raw, NOW)

    lookups = [records[rng.randrange(len(records))].node_id for _ in range(samples)]
    out: dict[str, object] = {"nodes": n_nodes, "backend": backend, "build_s": round(build_s, 2)}
    out["node_lookup"] = timed(samples, lambda i: store.get_node(WS, lookups[i]))
    out["head_lookup"] = timed(
        samples, lambda i: store.get_head(WS, headed[i % len(headed)].node_id, "summary")
    )
    put_targets = [records[rng.randrange(len(records))] for _ in range(samples)]

    def put(i: int) -> None:
        rec = put_targets[i]
        content = f"note {i} on {rec.path}".encode()
        frame = new_frame(rec.node_id, "note", "bench", content)
        put_frame(store, WS, frame, content, merkle_set.root_of_raw, NOW)

    out["put_frame"] = timed(samples, put)
    policy = ViewPolicy(max_frames=100)

    def get_node(_: int) -> None:
        record = store.get_node(WS, hot.node_id)
        assert record is not None
        view = select_view(store, WS, hot.node_id, policy)
        store.blobs.get_many(WS, [f.content_hash for f in view.frames])
        assert len(view.frames) == 100

    out["get_node_100"] = timed(max(200, samples // 10), get_node)
    if backend == "sqlite":
        out["peer_bare_sqlite_lookup"] = bare_sqlite_peer(
            tmp / f"peer-{n_nodes}.db", n_nodes, samples, rng
        )
    store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        for size in args.sizes:
            result = run_size(size, args.samples, args.backend, Path(tmp))
            results.append(result)
            print(json.dumps(result))
    print()
    print(f"{'nodes':>9} {'op':<24} {'p50 us':>9} {'p99 us':>9}")
    for result in results:
        for key, value in result.items():
            if isinstance(value, dict):
                print(f"{result['nodes']:>9} {key:<24} {value['p50_us']:>9} {value['p99_us']:>9}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
