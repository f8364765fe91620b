"""One workspace grown to 10M nodes: lookup latency at each decade, bytes and rows per frame.

The store is opened through ``open_store`` (a ``sqlite://`` file in a temp
dir, or a fresh PostgreSQL database created on ``--pg-admin`` and dropped at
the end) and grown through the store seams, no filesystem scan:

* ``put_nodes`` in batches of synthetic, seeded file NodeRecords (file ``i``
  is ``mMMM/lLLLLLL/fIIIIIIII.txt``, 100 files per leaf directory, 1,000 leaf
  directories per middle directory) plus the directory records above them,
  so every checkpoint is a real tree: its root is in the root history
  (``import_roots``, one entry per checkpoint, as one scan commit each);
* the path index of every file and directory (``import_paths``);
* one ``summary`` frame on every ``--head-every``-th file (default 1 in 10):
  ``import_frames``, ``import_frame_sets``, ``import_heads`` and
  ``import_basis_refs`` (the BulkImport seam; the engine rows an append
  writes, minus the content blob and the audit entry, which are measured on
  the engine path below), so the heads table grows with the tree.

At each checkpoint (10k, 100k, 1M, 10M files, up to ``--max-nodes``) it
times ``--samples`` calls each, single thread, in-process, keys drawn at
random over the whole workspace (cold-ish): ``get_node``,
``get_heads_many`` of one headed node, ``lookup_path`` and
``current_root``; each interleaved call by call with its peer, the same
primary-key SELECT through the raw driver (``sqlite3`` / ``psycopg``, its
own random keys) on the same database, so ratios to the raw floor come from
the same moment. It also records the table sizes (``pg_total_relation_size``
and ``pg_indexes_size``; SQLite's ``dbstat``) and row counts. PostgreSQL
gets an ``ANALYZE`` after each growth step, as autovacuum would.

After the last checkpoint, ``--engine-frames`` frames go through the engine
(``ContextAPI.put_frame``: blob, append, set root, head, basis index, audit
entry), half on files without a frame, half replacing a head, counting the
rows each table gains: rows per frame. With bytes per row from the grown
tables this gives a capacity estimate for ``--estimate-frames`` (100M)
frames on a ``--estimate-nodes`` (10M) file tree, and with the measured
rates the load time.

    python benchmarks/bench_scale.py --backend both --json scale.json
    python benchmarks/bench_scale.py --backend sqlite --max-nodes 100000   # quick check
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench_engine import machine
from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.types import FrameInput
from treeframe.frames import merkle_set
from treeframe.frames.frame import Frame, new_frame
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.ids import NodeId
from treeframe.storage.base import StorageBackend
from treeframe.storage.registry import open_store
from treeframe.storage.values import NodeSetState, RootEntry, basis_refs
from treeframe.testing.factories import workspace_info
from treeframe.tree.records import NodeRecord

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
WS = workspace_id("bench-scale")
NOW = "2026-12-01T00:00:00.000Z"
FILES_PER_LEAF = 100
LEAVES_PER_MID = 1000
BATCH = 50_000  # files per put_nodes / import batch
CHECKPOINTS = (10_000, 100_000, 1_000_000, 10_000_000)
TABLES = (
    "nodes",
    "paths",
    "root_history",
    "frames",
    "frame_sets",
    "heads",
    "basis_refs",
    "contents",
    "audit_log",
)
FRAME_TABLES = ("frames", "frame_sets", "heads", "basis_refs", "contents", "audit_log")
OPS = ("get_node", "get_heads_many", "lookup_path", "current_root")


# -- the synthetic tree: everything about file i is recomputed from i ---------------------
def file_path(i: int) -> str:
    leaf = i // FILES_PER_LEAF
    return f"m{leaf // LEAVES_PER_MID:03d}/l{leaf:06d}/f{i:08d}.txt"


def file_record(i: int) -> NodeRecord:
    return NodeRecord.file(file_path(i), content_hash(i.to_bytes(8, "big")), 100 + i % 4000, False)


def leaf_path(leaf: int) -> str:
    return f"m{leaf // LEAVES_PER_MID:03d}/l{leaf:06d}"


def summary(i: int) -> bytes:
    return b"summary of " + file_path(i).encode()


@dataclass
class Grower:
    """Appends files (and their directories, paths, frames) to one workspace, batch by batch."""

    store: StorageBackend
    head_every: int
    files: int = 0
    seq: int = 0  # frame seq
    roots: int = 0
    node_rows: int = 0
    path_rows: int = 0
    frames: int = 0
    mid_children: list[tuple[str, NodeId]] = field(default_factory=list)
    mids: list[tuple[str, NodeId]] = field(default_factory=list)
    seconds: dict[str, float] = field(
        default_factory=lambda: {"generate": 0.0, "nodes": 0.0, "paths": 0.0, "frames": 0.0}
    )

    def grow_to(self, target: int) -> None:
        while self.files < target:
            self._batch(min(BATCH, target - self.files))

    def _batch(self, n: int) -> None:
        t0 = time.perf_counter()
        records: list[NodeRecord] = []
        frames: list[Frame] = []
        leaf_children: list[tuple[str, NodeId]] = []
        for i in range(self.files, self.files + n):
            rec = file_record(i)
            records.append(rec)
            leaf_children.append((rec.name, rec.node_id))
            if i % self.head_every == 0:
                self.seq += 1
                frame = new_frame(rec.node_id, "summary", "bench", summary(i))
                frames.append(replace(frame, seq=self.seq, put_seq=self.seq, created_at=NOW))
            if (i + 1) % FILES_PER_LEAF == 0:
                leaf = i // FILES_PER_LEAF
                directory = NodeRecord.directory(leaf_path(leaf), leaf_children)
                records.append(directory)
                leaf_children = []
                self.mid_children.append((directory.name, directory.node_id))
                if (leaf + 1) % LEAVES_PER_MID == 0:
                    mid = NodeRecord.directory(f"m{leaf // LEAVES_PER_MID:03d}", self.mid_children)
                    records.append(mid)
                    self.mids.append((mid.name, mid.node_id))
                    self.mid_children = []
        assert not leaf_children, "batches end on leaf-directory boundaries"
        self.files += n
        paths = [(r.path, r.node_id) for r in records]
        sets = [(f.node_id, NodeSetState(merkle_set.root_of([f.frame_id]), 1)) for f in frames]
        heads = [(f.node_id, f.frame_type, f.frame_id) for f in frames]
        refs = [(ref, f.seq, f.frame_id) for f in frames for ref in basis_refs(f)]
        t1 = time.perf_counter()
        self.store.put_nodes(WS, records)
        t2 = time.perf_counter()
        self.store.import_paths(WS, paths)
        t3 = time.perf_counter()
        if frames:
            self.store.import_frames(WS, frames)
            self.store.import_frame_sets(WS, sets)
            self.store.import_heads(WS, heads)
            self.store.import_basis_refs(WS, refs)
        t4 = time.perf_counter()
        self.node_rows += len(records)
        self.path_rows += len(paths)
        self.frames += len(frames)
        for key, seconds in zip(self.seconds, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            self.seconds[key] += seconds

    def commit_root(self) -> NodeRecord:
        """Directory records of the partial middle directory and the root; a new root entry."""
        top = list(self.mids)
        extra: list[NodeRecord] = []
        if self.mid_children:
            partial = NodeRecord.directory(
                f"m{(self.files - 1) // FILES_PER_LEAF // LEAVES_PER_MID:03d}", self.mid_children
            )
            extra.append(partial)
            top.append((partial.name, partial.node_id))
        root = NodeRecord.directory("", top)
        extra.append(root)
        self.store.put_nodes(WS, extra)
        self.store.import_paths(WS, [(r.path, r.node_id) for r in extra])
        self.roots += 1
        self.store.import_roots(WS, [RootEntry(self.roots, root.node_id, NOW)])
        # As a migration does: the engine's next frame seq follows the imported ones.
        self.store.import_workspace(workspace_info(WS, "bench-scale"), self.seq + 1)
        self.node_rows += len(extra)
        self.path_rows += len(extra)
        return root


# -- the raw-driver peers and the store's own numbers ------------------------------------
class Peer:
    """The same primary-key SELECTs through the bare driver, on the same database."""

    def __init__(self, backend: str, target: str, wid: int) -> None:
        self.backend = backend
        self.wid = wid
        if backend == "sqlite":
            self.conn: Any = sqlite3.connect(target, isolation_level=None)
            self.conn.execute("PRAGMA cache_size = -32768")
            self.conn.execute("PRAGMA mmap_size = 268435456")
            self.mark = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(target, autocommit=True, prepare_threshold=0)
            self.mark = "%s"

    def _q(self, sql: str) -> str:
        return sql.replace("?", self.mark)

    def one(self, sql: str, params: tuple[Any, ...]) -> Any:
        return self.conn.execute(self._q(sql), params).fetchone()

    def all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return list(self.conn.execute(self._q(sql), params).fetchall())

    def get_node(self, node: bytes) -> Any:
        return self.one("SELECT record FROM nodes WHERE ws = ? AND node = ?", (self.wid, node))

    def get_heads(self, node: bytes) -> Any:
        return self.all("SELECT type, frame FROM heads WHERE ws = ? AND node = ?", (self.wid, node))

    def lookup_path(self, path: str) -> Any:
        return self.one("SELECT node FROM paths WHERE ws = ? AND path = ?", (self.wid, path))

    def current_root(self) -> Any:
        return self.one(
            "SELECT seq, root, created_at FROM root_history WHERE ws = ? ORDER BY seq DESC LIMIT 1",
            (self.wid,),
        )

    def counts(self) -> dict[str, int]:
        return {t: int(self.one(f"SELECT count(*) FROM {t}", ())[0]) for t in TABLES}

    def sizes(self) -> dict[str, Any]:
        """Bytes per table (with its indexes) and of its indexes alone, and the whole database."""
        if self.backend == "sqlite":
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            rows = self.all(
                "SELECT name, tbl_name FROM sqlite_master WHERE tbl_name IN"
                f" ({','.join('?' * len(TABLES))})",
                tuple(TABLES),
            )
            owner = dict(rows)
            per: dict[str, dict[str, int]] = {t: {"total": 0, "indexes": 0} for t in TABLES}
            for name, size in self.all("SELECT name, sum(pgsize) FROM dbstat GROUP BY name", ()):
                table = owner.get(name)
                if table is None:
                    continue
                per[table]["total"] += int(size)
                if name != table:
                    per[table]["indexes"] += int(size)
            page = int(self.one("PRAGMA page_size", ())[0]) * int(
                self.one("PRAGMA page_count", ())[0]
            )
            return {"tables": per, "database": page}
        per = {}
        for table in TABLES:
            total, indexes = self.one(
                "SELECT pg_total_relation_size(?::regclass), pg_indexes_size(?::regclass)",
                (table, table),
            )
            per[table] = {"total": int(total), "indexes": int(indexes)}
        database = int(self.one("SELECT pg_database_size(current_database())", ())[0])
        return {"tables": per, "database": database}

    def analyze(self) -> None:
        """What autovacuum does after bulk growth (planner statistics); SQLite needs none."""
        if self.backend == "postgres":
            self.conn.execute("ANALYZE")

    def close(self) -> None:
        self.conn.close()


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000  # noqa: E731
    return {"p50_us": round(p(0.50), 1), "p99_us": round(p(0.99), 1), "n": len(ordered)}


def interleaved(
    samples: int, op: Callable[[int], object], peer: Callable[[int], object]
) -> tuple[list[int], list[int]]:
    """``op(i)`` and ``peer(i)`` timed alternately (ns), so both see the same machine."""
    mine, theirs = [], []
    for i in range(samples):
        t0 = time.perf_counter_ns()
        op(i)
        t1 = time.perf_counter_ns()
        peer(i)
        t2 = time.perf_counter_ns()
        mine.append(t1 - t0)
        theirs.append(t2 - t1)
    return mine, theirs


def one_round(
    store: StorageBackend, peer: Peer, grower: Grower, samples: int, rng: random.Random
) -> dict[str, tuple[list[int], list[int]]]:
    """One round of every lookup with fresh random keys (the peer draws its own)."""
    n = grower.files
    headed = (n + grower.head_every - 1) // grower.head_every

    def picks() -> list[int]:
        return [rng.randrange(n) for _ in range(samples)]

    def headed_picks() -> list[int]:
        return [rng.randrange(headed) * grower.head_every for _ in range(samples)]

    mine_nodes = [NodeId(file_record(i).node_id) for i in picks()]
    peer_nodes = [bytes.fromhex(file_record(i).node_id) for i in picks()]
    mine_heads = [NodeId(file_record(i).node_id) for i in headed_picks()]
    peer_heads = [bytes.fromhex(file_record(i).node_id) for i in headed_picks()]
    mine_paths = [file_path(i) for i in picks()]
    peer_paths = [file_path(i) for i in picks()]
    misses: dict[str, int] = dict.fromkeys(OPS, 0)

    def get_node(i: int) -> None:
        if store.get_node(WS, mine_nodes[i]) is None:
            misses["get_node"] += 1

    def heads(i: int) -> None:
        if not store.get_heads_many(WS, [mine_heads[i]]):
            misses["get_heads_many"] += 1

    def path(i: int) -> None:
        if store.lookup_path(WS, mine_paths[i]) is None:
            misses["lookup_path"] += 1

    def root(_: int) -> None:
        if store.current_root(WS) is None:
            misses["current_root"] += 1

    out = {
        "get_node": interleaved(samples, get_node, lambda i: peer.get_node(peer_nodes[i])),
        "get_heads_many": interleaved(samples, heads, lambda i: peer.get_heads(peer_heads[i])),
        "lookup_path": interleaved(samples, path, lambda i: peer.lookup_path(peer_paths[i])),
        "current_root": interleaved(samples, root, lambda i: peer.current_root()),
    }
    assert not any(misses.values()), f"lookups of stored keys came back empty: {misses}"
    return out


def measure(
    store: StorageBackend,
    peer: Peer,
    grower: Grower,
    samples: int,
    rounds: int,
    rng: random.Random,
) -> dict[str, Any]:
    """The four lookups at the current size, each against its raw peer, in ``rounds`` rounds.

    The figures pool every round's samples; ``best_round_p99_us`` is the
    lowest round p99 (the round least hit by other processes on a shared host).
    """
    pooled: dict[str, tuple[list[int], list[int]]] = {op: ([], []) for op in OPS}
    best: dict[str, list[float]] = {op: [math.inf, math.inf] for op in OPS}
    for _ in range(rounds):
        for op, (mine, theirs) in one_round(store, peer, grower, samples, rng).items():
            pooled[op][0].extend(mine)
            pooled[op][1].extend(theirs)
            best[op][0] = min(best[op][0], percentiles(mine)["p99_us"])
            best[op][1] = min(best[op][1], percentiles(theirs)["p99_us"])
    return {
        op: {
            "store": percentiles(pooled[op][0]) | {"best_round_p99_us": best[op][0]},
            "peer": percentiles(pooled[op][1]) | {"best_round_p99_us": best[op][1]},
        }
        for op in OPS
    }


def engine_sample(store: StorageBackend, peer: Peer, grower: Grower, frames: int) -> dict[str, Any]:
    """``frames`` puts through the engine: rows per table gained, frames/s, p50/p99 per put."""
    api = ContextAPI(store, WS)
    api.agents.register(AgentRecord("writer", "writer"))
    writer = api.agent_principal("writer")
    rng = random.Random(7)
    every = grower.head_every
    # Half on files that have no frame yet, half replacing an existing summary head.
    fresh = [k * every + 1 for k in rng.sample(range(grower.files // every), frames // 2)]
    headed = [k * every for k in rng.sample(range(grower.files // every), frames - len(fresh))]
    result: dict[str, Any] = {}
    for name, picks in (("new_node", fresh), ("replace_head", headed)):
        targets = [file_record(i).node_id for i in picks]
        before = peer.counts()
        times = []
        t0 = time.perf_counter()
        for k, node in enumerate(targets):
            s0 = time.perf_counter_ns()
            api.put_frame(
                node,
                FrameInput("summary", b"engine summary %d of %s" % (k, node.encode())),
                principal=writer,
            )
            times.append(time.perf_counter_ns() - s0)
        seconds = time.perf_counter() - t0
        after = peer.counts()
        result[name] = {
            "frames": len(targets),
            "frames_s": round(len(targets) / seconds, 1),
            "latency": percentiles(times),
            "rows_per_frame": {t: round((after[t] - before[t]) / len(targets), 3) for t in TABLES},
        }
    return result


# -- stores ---------------------------------------------------------------------------
@contextlib.contextmanager
def opened(backend: str, tmp: Path, pg_admin: str) -> Iterator[tuple[StorageBackend, str]]:
    """A fresh store and the raw target of its peer (a file path or a DSN); removed afterwards."""
    if backend == "sqlite":
        path = tmp / "scale.db"
        store = open_store(f"sqlite://{path}")
        try:
            yield store, str(path)
        finally:
            store.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    name = f"tf_scale_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            dsn = f"{pg_admin.rpartition('/')[0]}/{name}"
            store = open_store(dsn)
            try:
                yield store, dsn
            finally:
                store.close()
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def workspace_key(backend: str, target: str) -> int:
    """The store's small integer key of the workspace (the first column of every table)."""
    if backend == "sqlite":
        with contextlib.closing(sqlite3.connect(target)) as conn:
            row = conn.execute("SELECT id FROM workspaces WHERE wsid = ?", (bytes.fromhex(WS),))
            return int(row.fetchone()[0])
    import psycopg

    with psycopg.connect(target) as conn:
        found = conn.execute("SELECT id FROM workspaces WHERE wsid = %s", (bytes.fromhex(WS),))
        return int(found.fetchone()[0])


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    checkpoints = [c for c in CHECKPOINTS if c <= args.max_nodes]
    if args.max_nodes not in checkpoints:
        checkpoints.append(args.max_nodes)
    out: dict[str, Any] = {"backend": backend, "checkpoints": []}
    with opened(backend, tmp, args.pg_admin) as (store, target):
        store.create_workspace(workspace_info(WS, "bench-scale"))
        peer = Peer(backend, target, workspace_key(backend, target))
        empty = peer.sizes()
        grower = Grower(store, args.head_every)
        started = time.perf_counter()
        try:
            for checkpoint in checkpoints:
                grower.grow_to(checkpoint)
                grower.commit_root()
                peer.analyze()
                point: dict[str, Any] = {
                    "files": grower.files,
                    "node_rows": grower.node_rows,
                    "path_rows": grower.path_rows,
                    "frames": grower.frames,
                    "elapsed_s": round(time.perf_counter() - started, 1),
                    "seconds": {k: round(v, 1) for k, v in grower.seconds.items()},
                    "load_average": os.getloadavg(),
                }
                point["latency"] = measure(store, peer, grower, args.samples, args.rounds, rng)
                point["rows"] = peer.counts()
                point["sizes"] = peer.sizes()
                out["checkpoints"].append(point)
                print(json.dumps({"backend": backend, **summary_line(point)}), flush=True)
            out["empty_sizes"] = empty
            out["engine"] = engine_sample(store, peer, grower, args.engine_frames)
            out["final_rows"] = peer.counts()
            out["final_sizes"] = peer.sizes()
        finally:
            peer.close()
    return out


def summary_line(point: dict[str, Any]) -> dict[str, Any]:
    return {
        "files": point["files"],
        "elapsed_s": point["elapsed_s"],
        "seconds": point["seconds"],
        **{
            op: [point["latency"][op]["store"]["p99_us"], point["latency"][op]["peer"]["p99_us"]]
            for op in OPS
        },
    }


# -- the estimate ---------------------------------------------------------------------
def estimate(result: dict[str, Any], frames: int, nodes: int) -> dict[str, Any]:
    """Disk, index bytes and load time of ``frames`` frames on a ``nodes``-node tree."""
    sizes = result["final_sizes"]["tables"]
    empty = result["empty_sizes"]["tables"]
    rows = result["final_rows"]
    per_row = {t: (sizes[t]["total"] - empty[t]["total"]) / rows[t] for t in TABLES if rows[t]}
    index_per_row = {
        t: (sizes[t]["indexes"] - empty[t]["indexes"]) / rows[t] for t in TABLES if rows[t]
    }
    engine = result["engine"]
    new_node = engine["new_node"]["rows_per_frame"]
    replace_head = engine["replace_head"]["rows_per_frame"]
    # Rows every frame adds whatever its node: frames, basis refs, its content, its audit entry.
    every = {t: replace_head[t] for t in FRAME_TABLES if t not in ("heads", "frame_sets")}
    # A (node, type) head and a frame set exist once per node with frames (at most ``nodes``).
    with_heads = min(frames, nodes)
    bytes_per_frame = sum(every[t] * per_row.get(t, 0.0) for t in every)
    index_per_frame = sum(every[t] * index_per_row.get(t, 0.0) for t in every)
    pointer_bytes = with_heads * sum(
        new_node[t] * per_row.get(t, 0.0) for t in ("heads", "frame_sets")
    )
    pointer_index = with_heads * sum(
        new_node[t] * index_per_row.get(t, 0.0) for t in ("heads", "frame_sets")
    )
    tree_bytes = nodes * 1.01 * (per_row["nodes"] + per_row["paths"])  # + directory records
    tree_index = nodes * 1.01 * (index_per_row["nodes"] + index_per_row["paths"])
    # The rate of the last stretch between checkpoints: inserts slow down as the tables grow.
    points = result["checkpoints"][-2:]
    first = points[0] if len(points) == 2 else {"frames": 0, "seconds": {"frames": 0.0}}
    last = points[-1]
    spent = last["seconds"]["frames"] - first["seconds"]["frames"]
    bulk_rate = (last["frames"] - first["frames"]) / spent if spent else 0.0
    engine_rate = (engine["new_node"]["frames_s"] + engine["replace_head"]["frames_s"]) / 2
    disk = frames * bytes_per_frame + pointer_bytes + tree_bytes
    return {
        "frames": frames,
        "nodes": nodes,
        "bytes_per_row": {t: round(v, 1) for t, v in per_row.items()},
        "index_bytes_per_row": {t: round(v, 1) for t, v in index_per_row.items()},
        "rows_per_frame": {"every_frame": every, "first_on_node": new_node},
        "bytes_per_frame": round(bytes_per_frame, 1),
        "frame_gib": round(frames * bytes_per_frame / 2**30, 1),
        "frame_index_gib": round(frames * index_per_frame / 2**30, 1),
        "heads_and_sets_gib": round(pointer_bytes / 2**30, 1),
        "heads_and_sets_index_gib": round(pointer_index / 2**30, 1),
        "tree_gib": round(tree_bytes / 2**30, 1),
        "tree_index_gib": round(tree_index / 2**30, 1),
        "total_gib": round(disk / 2**30, 1),
        "bulk_frames_s": round(bulk_rate),
        "bulk_load_h": round(frames / bulk_rate / 3600, 2) if bulk_rate else None,
        "engine_frames_s": round(engine_rate, 1),
        "engine_load_h": round(frames / engine_rate / 3600, 1),
    }


def print_report(results: list[dict[str, Any]]) -> None:
    print()
    print(
        f"{'backend':<9} {'files':>10} {'op':<15} {'p50 us':>8} {'p99 us':>8}"
        f" {'peer p50':>9} {'peer p99':>9} {'p99/peer':>8}"
    )
    for result in results:
        for point in result["checkpoints"]:
            for op in OPS:
                mine, peer = point["latency"][op]["store"], point["latency"][op]["peer"]
                print(
                    f"{result['backend']:<9} {point['files']:>10} {op:<15} {mine['p50_us']:>8}"
                    f" {mine['p99_us']:>8} {peer['p50_us']:>9} {peer['p99_us']:>9}"
                    f" {mine['p99_us'] / peer['p99_us']:>8.2f}"
                )
        first, last = result["checkpoints"][0], result["checkpoints"][-1]
        for op in OPS:
            ratio = last["latency"][op]["store"]["p99_us"] / first["latency"][op]["store"]["p99_us"]
            print(
                f"{result['backend']}: {op} p99({last['files']})/p99({first['files']}) = {ratio:.2f}"
            )
        est = result["estimate"]
        print(
            f"{result['backend']}: estimate for {est['frames']:,} frames on {est['nodes']:,} nodes:"
            f" {json.dumps(est)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--max-nodes", type=int, default=10_000_000, help="files at the last checkpoint"
    )
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --samples per op")
    parser.add_argument("--head-every", type=int, default=10, help="one frame per this many files")
    parser.add_argument("--engine-frames", type=int, default=4000)
    parser.add_argument("--estimate-frames", type=int, default=100_000_000)
    parser.add_argument(
        "--estimate-nodes", type=int, default=10_000_000, help="files of the estimated tree"
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--pg-admin", default=os.environ.get("TREEFRAME_TEST_PG", PG_ADMIN))
    parser.add_argument(
        "--tmp", type=Path, help="directory for the SQLite file (default: a temp dir)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    report: dict[str, Any] = {
        "machine": machine(),
        "params": vars(args) | {"json": str(args.json), "tmp": str(args.tmp)},
        "results": [],
    }
    with tempfile.TemporaryDirectory(prefix="tf-bench-scale-", dir=args.tmp) as tmp:
        for backend in backends:
            result = run_backend(backend, args, Path(tmp))
            result["estimate"] = estimate(result, args.estimate_frames, args.estimate_nodes)
            report["results"].append(result)
            if args.json:  # after each backend, so a long run keeps what it measured
                args.json.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report["results"])


if __name__ == "__main__":
    main()
