"""Cost of ignore rules, in-process: rescans of a tree with ignore files, and single checks.

Builds a seeded tree (default 20k files in 10 x 10 x 10 directories; a root
``.gitignore`` with a few patterns and one in each top-level directory), scans
it once into a MemoryStore, then times no-change rescans (stat-cache hits, so
the walk and the ignore checks dominate; CPU time of this process, hashing in
process) and ``IgnoreRules.is_ignored`` with 9 and with 163 patterns.

    python benchmarks/bench_ignore.py
    python benchmarks/bench_ignore.py --files 50000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import timeit
from pathlib import Path

from treeframe.hashing import ids as h
from treeframe.storage.memory import MemoryStore
from treeframe.testing.factories import workspace_info
from treeframe.tree.ignore import IgnoreRules
from treeframe.tree.scan import scan_tree
from treeframe.tree.statcache import MemoryStatCache

ROOT_PATTERNS = ["*.log", "!keep.log", "build/", "/dist", "node_modules", "*.tmp", "docs/**/*.pdf"]
DIR_PATTERNS = ["*.bak", "/b9/"]


def build_tree(root: Path, files: int, seed: int) -> None:
    rng = random.Random(seed)
    leaves = [
        root / f"a{i}" / f"b{j}" / f"c{k}" for i in range(10) for j in range(10) for k in range(10)
    ]
    for leaf in leaves:
        leaf.mkdir(parents=True, exist_ok=True)
    exts = [".txt"] * 8 + [".log", ".tmp", ".py", ".bak"]
    for n in range(files):
        (leaves[n % len(leaves)] / f"f{n}{rng.choice(exts)}").write_bytes(b"x" * 64)
    (root / ".gitignore").write_text("".join(f"{p}\n" for p in ROOT_PATTERNS))
    for i in range(10):
        (root / f"a{i}" / ".gitignore").write_text("".join(f"{p}\n" for p in DIR_PATTERNS))


def per_check_us(rules: IgnoreRules, paths: list[str]) -> float:
    def run() -> None:
        for path in paths:
            rules.is_ignored(path, is_dir=False)

    return min(timeit.repeat(run, number=5, repeat=5)) / (5 * len(paths)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rescans", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        build_tree(root, args.files, args.seed)
        store = MemoryStore()
        ws = h.workspace_id("bench-ignore")
        store.create_workspace(workspace_info(ws, "bench-ignore"))
        cache = MemoryStatCache()  # what the workspace's .treeframe/statcache.sqlite gives a rescan
        first = scan_tree(root, store, ws, workers=1, stat_cache=cache)
        time.sleep(0.1)
        cpu: list[float] = []
        for _ in range(args.rescans):
            start = time.process_time()
            scan_tree(root, store, ws, workers=1, stat_cache=cache)
            cpu.append(time.process_time() - start)
        results.update(
            files=first.files,
            dirs=first.dirs,
            root=first.root,
            rescan_cpu_s_best=round(min(cpu), 4),
            rescan_cpu_s_median=round(statistics.median(cpu), 4),
        )

    paths = [f"a1/b2/c3/f{n}.txt" for n in range(1000)]
    small = IgnoreRules().with_directory("", ROOT_PATTERNS).with_directory("a1", DIR_PATTERNS)
    many: list[str] = []
    for i in range(40):
        many += [f"*.ext{i}", f"/build{i}/", f"dir{i}/**/*.o", f"name{i}"]
    many += ["!keep.ext1", "**/cache/", "docs/*.tmp"]
    results["check_us_9_patterns"] = round(per_check_us(small, paths), 2)
    results["check_us_163_patterns"] = round(
        per_check_us(IgnoreRules().with_directory("", many), paths), 2
    )
    for key, value in results.items():
        print(f"{key:>24}: {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
