"""What the read-through caches save: store look-ups with and without them, in one run.

Builds a PostgreSQL store (a fresh database on 127.0.0.1:5432; ``--store
sqlite`` for a file) with one workspace of ``--nodes`` file records, a frame
on every tenth, then times in-process, single thread, p50/p99 of:

* ``get_node`` of a random record: the store itself; behind the in-process
  cache (every record cached: a hit); behind the Redis tier only (each look-up
  misses this process and hits Redis; 127.0.0.1:6379);
* ``get_heads_many`` of one node: the store itself; behind Redis stamps (one
  GET of the workspace stamp, then the cached answer).

    python benchmarks/bench_cache.py [--nodes 10000] [--samples 5000] [--store postgres|sqlite]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_load import postgres_database
from treeframe.frames.merkle_set import root_of_raw
from treeframe.storage.cache import cached_store
from treeframe.storage.cache.lru import ByteLRU
from treeframe.storage.cache.redis import RedisCache
from treeframe.storage.cache.store import CachedStore
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.testing.factories import CREATED_AT, make_file, make_frame, make_ws, workspace_info

REDIS = "redis://127.0.0.1:6379/0"
WS = make_ws("bench-cache")


def percentiles(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": round(ordered[len(ordered) // 2] / 1e3, 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] / 1e3, 1),
    }


def timed(samples: int, fn: Callable[[int], object]) -> dict[str, float]:
    for i in range(min(500, samples)):
        fn(i)
    out = []
    for i in range(samples):
        started = time.perf_counter_ns()
        fn(i)
        out.append(time.perf_counter_ns() - started)
    return percentiles(out)


def run(url: str, nodes: int, samples: int) -> dict[str, Any]:
    prefix = f"treeframe-bench:{uuid.uuid4().hex}:"
    store = open_store(url, create=True)
    store.create_workspace(workspace_info(WS, "bench-cache"))
    records = [make_file(f"d{i // 100}/f{i}.txt", b"%d" % i) for i in range(nodes)]
    for start in range(0, nodes, 2000):
        store.put_nodes(WS, records[start : start + 2000])
    with store.unit_of_work():
        for record in records[::10]:
            frame, body = make_frame(record, b"note on " + record.path.encode())
            store.blobs.put(WS, frame.content_hash, body)
            store.append_frame(WS, frame, root_of_raw, CREATED_AT)
    ids = [r.node_id for r in records]
    with_heads = ids[::10]
    rng = random.Random(1)
    order = [rng.randrange(nodes) for _ in range(samples)]
    heads_order = [rng.randrange(len(with_heads)) for _ in range(samples)]

    memory = CachedStore(store, records=ByteLRU(256 << 20))
    for node_id in ids:
        memory.get_node(WS, node_id)
    tier = RedisCache(REDIS, ttl_seconds=600, prefix=prefix)
    shared_only = CachedStore(store, records=ByteLRU(0), tier=tier)
    for node_id in ids:
        shared_only.get_node(WS, node_id)  # fills Redis
    stamped = cached_store(store, REDIS, memory_bytes=64 << 20, prefix=prefix)
    result: dict[str, Any] = {
        "nodes": nodes,
        "samples": samples,
        "url_scheme": url.partition(":")[0],
        "get_node": {
            "store": timed(samples, lambda i: store.get_node(WS, ids[order[i]])),
            "memory_hit": timed(samples, lambda i: memory.get_node(WS, ids[order[i]])),
            "redis_hit": timed(samples, lambda i: shared_only.get_node(WS, ids[order[i]])),
        },
        "get_heads_many": {
            "store": timed(
                samples, lambda i: store.get_heads_many(WS, [with_heads[heads_order[i]]])
            ),
            "stamped_hit": timed(
                samples, lambda i: stamped.get_heads_many(WS, [with_heads[heads_order[i]]])
            ),
        },
    }
    client = tier._client
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    stamped.close_cache()
    tier.close()
    store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.store == "postgres":
        with postgres_database() as url:
            result = run(url, args.nodes, args.samples)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(sqlite_url(Path(tmp) / "store.db"), args.nodes, args.samples)
    print(f"{result['url_scheme']}, {result['nodes']} nodes, {result['samples']} samples, µs")
    print("| look-up | path | p50 | p99 | vs store p50 |")
    print("| --- | --- | --- | --- | --- |")
    for lookup in ("get_node", "get_heads_many"):
        base = result[lookup]["store"]["p50_us"]
        for path, figures in result[lookup].items():
            ratio = base / figures["p50_us"] if figures["p50_us"] else 0
            print(
                f"| {lookup} | {path} | {figures['p50_us']} | {figures['p99_us']} | {ratio:.1f}x |"
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
