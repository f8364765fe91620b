"""In-process latency of the context engine: synthesis, regeneration, batch reads, writes.

One run, one store (SQLite by default, ``--backend memory|sqlite``), three
workspaces in it so each scenario sees exactly the tree it describes:

* ``synth``: ``wide/`` with 100 files, each with a ``summary`` head frame.
  SynthesizeBranch of ``wide`` is timed ``--runs`` times; before each run one
  child gets a new summary (untimed), so every timed call really synthesizes
  a new frame (checked). The no-op case (inputs unchanged, the call is
  idempotent and returns the same FrameID) is timed too.
* ``regen``: 1,000 files in 10 x 10 x 10 (``d*/e*/f*.txt``), a summary on
  every file and a recursive synthesis (111 directory frames). Per edit:
  new bytes in one file, ``scan_tree`` (timed separately), the file's writer
  re-summarizes it (untimed, as a live agent would, so nothing agent-owned
  stays stale), then ``regenerate(".", recursive=True)`` is timed; it must
  regenerate exactly depth + 1 = 3 frames (leaf dir, its parent, the root).
  A second series times ``regenerate(<parent dir>)`` non-recursively (1
  frame), then cleans up the chain above it untimed. The no-op recursive
  regenerate (nothing stale: a full walk of the tree) is timed as well.
* ``read``: 100 files with 10 frames each; GetNodes of all 100 in one
  ``get_nodes_batch`` call vs 100 ``get_node`` calls (same NodeIDs, default
  view), a 100-frame view of a node with 120 frames, and ``put_frame``
  through the ContextAPI (agent authorization included).

Figures are p50/p99 in microseconds (JSON) and milliseconds (table).

    python benchmarks/bench_engine.py --json out.json
    python benchmarks/bench_engine.py --runs 50 --edits 10 --samples 50   # quick check
    python -m cProfile -s cumtime benchmarks/bench_engine.py --parts batch --samples 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import treeframe
from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.principal import Principal
from treeframe.engine.types import FrameInput
from treeframe.frames.views import ViewPolicy
from treeframe.hashing.ids import workspace_id
from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.registry import open_store
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import ScanResult, scan_tree
from treeframe.tree.statcache import MemoryStatCache
from treeframe.workspace.working_tree import WorkingTreeContents

PARTS = ("synth", "regen", "batch", "misc")
AGENTS = {
    "writer": AgentRecord("writer", "writer"),
    "synth": AgentRecord("synth", "synthesis"),
}
# Issue targets, in milliseconds (p50 unless stated).
TARGETS = {
    "synthesize_100_children": ("< 50 ms p50 (aim <= 15)", 50.0),
    "regenerate_recursive_per_node": ("< 100 ms per node", 100.0),
}
MIN_RATIO = 10.0


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000  # noqa: E731
    return {
        "p50_us": round(p(0.50), 2),
        "p99_us": round(p(0.99), 2),
        "mean_us": round(sum(ordered) / len(ordered) / 1000, 2),
        "n": len(ordered),
    }


def timed(samples: int, op: Callable[[int], object]) -> dict[str, float]:
    out = []
    for i in range(samples):
        t0 = time.perf_counter_ns()
        op(i)
        out.append(time.perf_counter_ns() - t0)
    return percentiles(out)


_STAT_CACHES: dict[Path, MemoryStatCache] = {}


def scan(root: Path, store: StorageBackend, ws: WorkspaceId) -> ScanResult:
    """Scan with the tree's stat cache kept across scans, as a workspace directory has."""
    cache = _STAT_CACHES.setdefault(root, MemoryStatCache())
    return scan_tree(root, store, ws, workers=1, stat_cache=cache)


def write_files(root: Path, files: dict[str, str]) -> None:
    """Files dated an hour back, so rescans trust the stat cache (as in the engine tests)."""
    past = time.time_ns() - 3600 * 10**9
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(past, past))


def workspace(store: StorageBackend, tmp: Path, name: str, files: dict[str, str]) -> ContextAPI:
    """A scanned workspace ``name`` in ``store`` with the writer and synthesis agents."""
    ws = workspace_id(f"bench-engine-{name}")
    root = tmp / name
    write_files(root, files)
    store.create_workspace(workspace_info(ws, name))
    api = ContextAPI(store, ws, files=WorkingTreeContents(root))
    for agent in AGENTS.values():
        api.agents.register(agent)
    scan(root, store, ws)
    return api


def put(api: ContextAPI, node: str, frame_type: str, text: str, agent: str = "writer") -> str:
    return api.put_frame(
        node, FrameInput(frame_type, text.encode()), principal=api.agent_principal(agent)
    )


# -- 1. SynthesizeBranch of a 100-child directory -----------------------------------------
def bench_synth(store: StorageBackend, tmp: Path, runs: int) -> dict[str, Any]:
    children = [f"wide/c{i:03d}.txt" for i in range(100)]
    api = workspace(store, tmp, "synth", {rel: f"child {rel}\n" for rel in children})
    for rel in children:
        put(api, rel, "summary", f"summary of {rel}: " + "x" * 200)
    last = (
        api.synthesize_branch("wide", "summary", principal=api.agent_principal("synth"))
        .frames[0]
        .frame_id
    )

    samples: list[int] = []
    for i in range(runs):
        put(api, children[i % len(children)], "summary", f"revision {i} of a summary")
        t0 = time.perf_counter_ns()
        result = api.synthesize_branch("wide", "summary", principal=api.agent_principal("synth"))
        samples.append(time.perf_counter_ns() - t0)
        frame_id = result.frames[0].frame_id
        assert frame_id != last, "a run did not synthesize a new frame"
        last = frame_id

    def noop(_: int) -> None:
        assert (
            api.synthesize_branch("wide", "summary", principal=api.agent_principal("synth"))
            .frames[0]
            .frame_id
            == last
        )

    return {
        "synthesize_100_children": percentiles(samples),
        "synthesize_100_children_noop": timed(runs, noop),
    }


# -- 2. Regenerate after one-file edits in a 1,000-file tree --------------------------------
def bench_regen(store: StorageBackend, tmp: Path, edits: int, seed: int) -> dict[str, Any]:
    files = [f"d{a}/e{b}/f{c}.txt" for a in range(10) for b in range(10) for c in range(10)]
    t0 = time.perf_counter()
    api = workspace(store, tmp, "regen", {rel: f"file {rel}\n" for rel in files})
    for rel in files:
        put(api, rel, "summary", f"about {rel}")
    synthesized = api.synthesize_branch(
        ".", "summary", principal=api.agent_principal("synth"), recursive=True
    )
    assert len(synthesized.frames) == 1 + 10 + 100
    setup_s = time.perf_counter() - t0
    assert api.root is not None
    root = api.root
    rng = random.Random(seed)
    past_ns = time.time_ns() - 1800 * 10**9
    counter = 0

    def edit() -> tuple[str, int]:
        """Edit one file and rescan; returns (its path, scan ns)."""
        nonlocal counter
        counter += 1
        rel = files[rng.randrange(len(files))]
        path = root / rel
        path.write_text(f"edit {counter} of {rel}\n", encoding="utf-8")
        # A distinct past mtime: detected as changed, and not racy on later rescans.
        stamp = past_ns + counter * 10**9
        os.utime(path, ns=(stamp, stamp))
        s0 = time.perf_counter_ns()
        scanned = scan(root, store, api.ws)
        scan_ns = time.perf_counter_ns() - s0
        assert scanned.changed
        put(api, rel, "summary", f"about {rel}, edit {counter}")  # the writer re-summarizes
        return rel, scan_ns

    scan_ns: list[int] = []
    total_ns: list[int] = []
    per_node_ns: list[int] = []
    counts: list[int] = []
    for _ in range(edits):
        _, took = edit()
        scan_ns.append(took)
        t0_ns = time.perf_counter_ns()
        report = api.regenerate(".", recursive=True, principal=Principal.owner(api.ws))
        elapsed = time.perf_counter_ns() - t0_ns
        assert not report.stale_unrecomputable, report.stale_unrecomputable
        counts.append(report.regenerated_count)
        total_ns.append(elapsed)
        per_node_ns.append(elapsed // max(1, report.regenerated_count))

    parent_ns: list[int] = []
    for _ in range(edits):
        rel, took = edit()
        scan_ns.append(took)
        parent = rel.rsplit("/", 1)[0]
        t0_ns = time.perf_counter_ns()
        report = api.regenerate(parent, principal=Principal.owner(api.ws))
        parent_ns.append(time.perf_counter_ns() - t0_ns)
        assert report.regenerated_count == 1, report
        assert (
            api.regenerate(".", recursive=True, principal=Principal.owner(api.ws)).regenerated_count
            == 2
        )  # untimed cleanup

    def noop(_: int) -> None:
        assert (
            api.regenerate(".", recursive=True, principal=Principal.owner(api.ws)).regenerated_count
            == 0
        )

    return {
        "regen_setup_s": round(setup_s, 2),
        "regen_counts": {str(c): counts.count(c) for c in sorted(set(counts))},
        "scan_one_file_changed": percentiles(scan_ns),
        "regenerate_recursive_total": percentiles(total_ns),
        "regenerate_recursive_per_node": percentiles(per_node_ns),
        "regenerate_parent_dir": percentiles(parent_ns),
        "regenerate_recursive_noop": timed(max(5, edits // 2), noop),
    }


# -- 3./4. Reads and writes through the ContextAPI ------------------------------------------
def read_workspace(store: StorageBackend, tmp: Path) -> tuple[ContextAPI, list[str], str]:
    names = [f"batch/n{i:03d}.txt" for i in range(100)]
    api = workspace(store, tmp, "read", {**{rel: f"node {rel}\n" for rel in names}, "hot.txt": ""})
    ids = []
    for rel in names:
        put(api, rel, "summary", f"summary of {rel}")
        for j in range(9):
            put(api, rel, f"note{j % 3}", f"note {j} on {rel}: " + "y" * 100)
        ids.append(api.resolve(rel, principal=Principal.owner(api.ws)).node_id)
    for i in range(120):
        put(api, "hot.txt", f"type{i % 5}", f"frame {i} on hot.txt")
    return api, ids, api.resolve("hot.txt", principal=Principal.owner(api.ws)).node_id


def bench_batch(api: ContextAPI, ids: list[str], samples: int) -> dict[str, Any]:
    assert all(
        len(ctx.frames) == 10 for ctx in api.get_nodes_batch(ids, principal=Principal.owner(api.ws))
    )

    def batch(_: int) -> None:
        api.get_nodes_batch(ids, principal=Principal.owner(api.ws))

    def singles(_: int) -> None:
        for node_id in ids:
            api.get_node(node_id, principal=Principal.owner(api.ws))

    out: dict[str, Any] = {
        "get_nodes_batch_100": timed(samples, batch),
        "get_node_x100_single": timed(samples, singles),
    }
    out["single_over_batch_p50"] = round(
        out["get_node_x100_single"]["p50_us"] / out["get_nodes_batch_100"]["p50_us"], 2
    )
    return out


def bench_misc(api: ContextAPI, hot: str, ids: list[str], samples: int) -> dict[str, Any]:
    policy = ViewPolicy(max_frames=100)

    def get_100(_: int) -> None:
        assert len(api.get_node(hot, policy, principal=Principal.owner(api.ws)).frames) == 100

    def put_frame(i: int) -> None:
        put(api, ids[i % len(ids)], "bench", f"put {i}")

    return {
        "get_node_100_frame_view": timed(samples, get_100),
        "put_frame_api": timed(samples, put_frame),
    }


# -- report ---------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "treeframe": treeframe.__version__,
    }


def print_table(results: dict[str, Any]) -> None:
    print(f"{'op':<32} {'p50 ms':>9} {'p99 ms':>9} {'n':>6}  target")
    for key, value in results.items():
        if isinstance(value, dict) and "p50_us" in value:
            target = TARGETS.get(key)
            mark = ""
            if target is not None:
                mark = f"{target[0]}: {'ok' if value['p50_us'] / 1000 < target[1] else 'MISSED'}"
            print(
                f"{key:<32} {value['p50_us'] / 1000:>9.3f} {value['p99_us'] / 1000:>9.3f} "
                f"{value['n']:>6}  {mark}"
            )
    if "regen_counts" in results:
        counts = results["regen_counts"]
        verdict = "ok" if set(counts) == {"3"} else "MISMATCH"
        print(f"regenerated per edit (count: edits): {counts} (expected only 3: {verdict})")
    if "single_over_batch_p50" in results:
        ratio = results["single_over_batch_p50"]
        verdict = "ok" if ratio >= MIN_RATIO else "MISSED"
        print(
            f"100 single get_node / 1 batch (p50): {ratio}x (target >= {MIN_RATIO:g}x: {verdict})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--runs", type=int, default=1000, help="synthesis runs")
    parser.add_argument("--edits", type=int, default=100, help="one-file edits per series")
    parser.add_argument("--samples", type=int, default=1000, help="samples per read/write op")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results: dict[str, Any] = {"backend": args.backend, "machine": machine()}
    results["params"] = {
        "runs": args.runs,
        "edits": args.edits,
        "samples": args.samples,
        "parts": args.parts,
        "seed": args.seed,
    }
    with tempfile.TemporaryDirectory(prefix="tf-bench-engine-") as tmp_dir:
        tmp = Path(tmp_dir)
        url = "memory://" if args.backend == "memory" else f"sqlite://{tmp / 'store.db'}"
        store = open_store(url)
        try:
            if "synth" in args.parts:
                results.update(bench_synth(store, tmp, args.runs))
            if "regen" in args.parts:
                results.update(bench_regen(store, tmp, args.edits, args.seed))
            if "batch" in args.parts or "misc" in args.parts:
                api, ids, hot = read_workspace(store, tmp)
                if "batch" in args.parts:
                    results.update(bench_batch(api, ids, args.samples))
                if "misc" in args.parts:
                    results.update(bench_misc(api, hot, ids, args.samples))
        finally:
            store.close()
    print(json.dumps(results))
    print()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
