"""LMDB next to SQLite in one run: bulk put_nodes, NodeRecord lookup, head lookup, PutFrame.

Reports records/s for ``put_nodes`` of ``--nodes`` file records (in batches of
1000, as a scan writes them) and p50/p99 microseconds of ``get_node`` (random
stored IDs), ``get_head`` (nodes carrying frames) and ``append_frame`` (one
frame, one transaction each), for every backend named by ``--backends``
(``lmdb-nosync`` is LMDB with ``?sync=off``: no flush per commit).

    python benchmarks/bench_lmdb.py --nodes 100000 --samples 5000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from treeframe.frames import merkle_set
from treeframe.frames.frame import new_frame
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.storage.registry import lmdb_url, open_store, sqlite_url
from treeframe.testing.factories import put_frame, workspace_info
from treeframe.tree.records import NodeRecord

WS = workspace_id("bench")
NOW = "2026-01-01T00:00:00.000Z"
BATCH = 1000


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000, 2)

    return {"p50_us": at(0.50), "p99_us": at(0.99), "n": len(ordered)}


def timed(samples: int, op: Callable[[int], object]) -> dict[str, float]:
    out = []
    for i in range(samples):
        t0 = time.perf_counter_ns()
        op(i)
        out.append(time.perf_counter_ns() - t0)
    return percentiles(out)


def run(url: str, n_nodes: int, samples: int, rng: random.Random) -> dict[str, object]:
    records = [
        NodeRecord.file(f"d{i // 100}/f{i}.txt", content_hash(str(i).encode()), i, False)
        for i in range(n_nodes)
    ]
    result: dict[str, object] = {}
    with open_store(url) as store:
        store.create_workspace(workspace_info(WS, "bench"))
        t0 = time.perf_counter()
        for start in range(0, n_nodes, BATCH):
            store.put_nodes(WS, records[start : start + BATCH])
        seconds = time.perf_counter() - t0
        result["put_nodes"] = {"records": n_nodes, "seconds": round(seconds, 3)}
        result["put_nodes_per_s"] = round(n_nodes / seconds)
        with_frames = rng.sample(records, min(samples, n_nodes))
        frames = []
        for i, node in enumerate(with_frames):
            body = f"note {i}".encode()
            frames.append((new_frame(node.node_id, "note", "bench", body), body))
        put_ms = []
        for frame, body in frames:
            t = time.perf_counter_ns()
            put_frame(store, WS, frame, body, merkle_set.root_of_raw, NOW)
            put_ms.append(time.perf_counter_ns() - t)
        result["put_frame"] = percentiles(put_ms)
        ids = [r.node_id for r in records]
        result["node_lookup"] = timed(samples, lambda i: store.get_node(WS, rng.choice(ids)))
        heads = [n.node_id for n in with_frames]
        result["head_lookup"] = timed(
            samples, lambda i: store.get_head(WS, heads[i % len(heads)], "note")
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=5_000)
    parser.add_argument("--backends", nargs="+", default=["lmdb", "lmdb-nosync", "sqlite"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            url = {
                "lmdb": lmdb_url(Path(tmp) / "lmdb"),
                "lmdb-nosync": lmdb_url(Path(tmp) / "lmdb-nosync") + "?sync=off",
                "sqlite": sqlite_url(Path(tmp) / "store.db"),
                "memory": "memory://",
            }[backend]
            results[backend] = run(url, args.nodes, args.samples, random.Random(7))
            print(backend, json.dumps(results[backend]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
