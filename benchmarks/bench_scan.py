"""Scan throughput against git and a bare read+BLAKE3 floor, on the same tree in one run.

Builds a seeded synthetic tree (default 100k files of 1-8 KiB in a 4-level
layout) or uses ``--tree DIR``, then times, warm cache:

* the floor: one Python thread reading every file and BLAKE3-hashing it;
* a bare ``os.scandir`` + lstat walk;
* ``treeframe scan`` cold (fresh store), no-change rescan, one-file-changed rescan
  (each a real ``python -m treeframe`` subprocess; peak RSS from wait4);
* ``git add -A && git write-tree`` (fresh index) and ``git status --porcelain``.

Every tree of one invocation is measured in the same run (the synthetic one
first, then each ``--tree``), so their ratios can be compared. A ``--tree`` is
left as it was (the changed file is put back, ``.git`` and ``.treeframe`` removed).

    python benchmarks/bench_scan.py                  # synthetic 100k files
    python benchmarks/bench_scan.py --files 20000    # smaller
    python benchmarks/bench_scan.py --tree ~/src/linux --rss-files 20000,200000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import blake3

SKIP_DIRS = {".git", ".treeframe"}


def build_tree(root: Path, files: int, seed: int) -> None:
    """4-level layout: 10 x 10 x 10 directories, files spread evenly over the leaves."""
    rng = random.Random(seed)
    leaves = [
        root / f"a{i}" / f"b{j}" / f"c{k}" for i in range(10) for j in range(10) for k in range(10)
    ]
    for leaf in leaves:
        leaf.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        size = rng.randint(1024, 8192)
        (leaves[n % len(leaves)] / f"f{n}.txt").write_bytes(rng.randbytes(size))


def walk_files(root: Path):
    stack = [str(root)]
    while stack:
        top = stack.pop()
        with os.scandir(top) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry


def floor_read_hash(root: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = 0
    for entry in walk_files(root):
        with open(entry.path, "rb") as fh:
            blake3.blake3(fh.read()).digest()
        n += 1
    return time.perf_counter() - t0, n


def bare_walk(root: Path) -> float:
    t0 = time.perf_counter()
    for entry in walk_files(root):
        entry.stat(follow_symlinks=False)
    return time.perf_counter() - t0


LAST_CPU = [0.0]
"""CPU seconds (user + system, its hashing workers included) of the last run: on a
shared host a steadier figure than the wall-clock time."""


def peak_rss_of(cmd: list[str], cwd: Path) -> tuple[float, int, str]:
    """Run a command and return (seconds, its own peak RSS in KiB, stdout) via wait4.

    Its CPU time (its reaped children's included) goes to :data:`LAST_CPU`.
    """
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        LAST_CPU[0] = usage.ru_utime + usage.ru_stime
        if status != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss, out.decode()


def git_times(root: Path) -> dict[str, float]:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_COMMITTER_NAME": "b"}
    git_dir = root / ".git"
    if git_dir.exists():
        shutil.rmtree(git_dir)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    t0 = time.perf_counter()
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run(["git", "write-tree"], cwd=root, check=True, env=env, stdout=subprocess.DEVNULL)
    add = time.perf_counter() - t0
    subprocess.run(
        ["git", "status", "--porcelain"], cwd=root, check=True, stdout=subprocess.DEVNULL
    )
    statuses = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, check=True, stdout=subprocess.DEVNULL
        )
        statuses.append(time.perf_counter() - t0)
    shutil.rmtree(git_dir)
    return {"git_add_write_tree_s": add, "git_status_s": min(statuses)}


def bench_tree(root: Path, label: str, tmp: Path, args: argparse.Namespace) -> dict[str, object]:
    """Every figure for one tree: floor, walk, git, treeframe cold / no-change / one change."""
    results: dict[str, object] = {"tree": label}
    floor_read_hash(root)  # warm the page cache
    results["floor_read_blake3_s"], results["files"] = floor_read_hash(root)
    results["bare_walk_s"] = min(bare_walk(root) for _ in range(3))
    if not args.skip_git:
        results.update(git_times(root))

    store = tmp / "store.db"
    store.unlink(missing_ok=True)
    url = f"sqlite://{store}"
    shutil.rmtree(root / ".treeframe", ignore_errors=True)
    # Only init creates a store (untimed): the cold scan then starts from an empty one.
    subprocess.run(
        [sys.executable, "-m", "treeframe", "init", "--store", url, "--json"],
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    scan_cmd = scan_command(url, args)
    cold_s, cold_rss, out = peak_rss_of(scan_cmd, root)
    results["treeframe_cold_scan_cpu_s"] = LAST_CPU[0]
    cold = json.loads(out)
    results["treeframe_cold_scan_s"] = cold_s
    results["treeframe_cold_scan_peak_rss_mib"] = round(cold_rss / 1024, 1)
    results["treeframe_root"] = cold["root"]
    # The first rescan re-hashes files modified within the racy window of the
    # cold scan (a freshly built tree): untimed, so the timed ones are true no-change scans.
    peak_rss_of(scan_cmd, root)
    nochange, nochange_cpu = [], []
    for _ in range(3):
        nochange.append(peak_rss_of(scan_cmd, root)[0])
        nochange_cpu.append(LAST_CPU[0])
    results["treeframe_nochange_rescan_s"] = min(nochange)
    results["treeframe_nochange_rescan_cpu_s"] = min(nochange_cpu)
    # change one file, keep its size; put it back afterwards
    victim = next(e.path for e in walk_files(root))
    original = Path(victim).read_bytes()
    data = bytearray(original)
    data[0] ^= 0xFF
    try:
        Path(victim).write_bytes(bytes(data))
        one_s, _, out = peak_rss_of(scan_cmd, root)
        results["treeframe_one_change_rescan_cpu_s"] = LAST_CPU[0]
    finally:
        Path(victim).write_bytes(original)
    results["treeframe_one_change_rescan_s"] = one_s
    results["one_change_files_hashed"] = json.loads(out)["files_hashed"]
    shutil.rmtree(root / ".treeframe", ignore_errors=True)

    floor = results["floor_read_blake3_s"]
    assert isinstance(floor, float)
    if not args.skip_git:
        git_add = results["git_add_write_tree_s"]
        git_status = results["git_status_s"]
        assert isinstance(git_add, float)
        assert isinstance(git_status, float)
        results["ratio_cold_vs_git_add"] = round(git_add / cold_s, 2)
        results["ratio_nochange_vs_git_status"] = round(min(nochange) / git_status, 2)
    results["ratio_cold_vs_floor"] = round(cold_s / floor, 2)
    results["ratio_one_change_vs_nochange"] = round(one_s / min(nochange), 2)
    return results


def scan_command(url: str, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "treeframe", "scan", "--json", "--quiet", "--store", url]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    return cmd


def cold_rss(files: int, tmp: Path, args: argparse.Namespace) -> float:
    """Peak RSS (MiB) of a cold CLI scan of a seeded synthetic tree of ``files`` files."""
    root = tmp / f"rss-{files}"
    build_tree(root, files, args.seed)
    store = tmp / f"rss-{files}.db"
    url = f"sqlite://{store}"
    subprocess.run(
        [sys.executable, "-m", "treeframe", "init", "--store", url, "--json"],
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _, rss, _ = peak_rss_of(scan_command(url, args), root)
    shutil.rmtree(root, ignore_errors=True)
    store.unlink(missing_ok=True)
    return round(rss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tree",
        type=Path,
        action="append",
        default=[],
        help="also scan this directory (repeatable); it is left as it was",
    )
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--no-synthetic", action="store_true", help="only the --tree directories")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--skip-git", action="store_true")
    parser.add_argument(
        "--rss-files",
        default="",
        help="comma-separated synthetic tree sizes whose cold-scan peak RSS is measured too",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tf-scan-bench-"))
    try:
        runs: list[dict[str, object]] = []
        if not args.no_synthetic:
            root = tmp / "tree"
            t0 = time.perf_counter()
            build_tree(root, args.files, args.seed)
            print(f"built {args.files} files in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            runs.append(bench_tree(root, f"synthetic:{args.files}:{args.seed}", tmp, args))
            shutil.rmtree(root, ignore_errors=True)
        for tree in args.tree:
            runs.append(bench_tree(tree.absolute(), str(tree), tmp, args))
        results: dict[str, object] = {"trees": runs}
        # python start-up is part of every CLI call; report it so ratios can be read fairly
        results["python_startup_s"] = min(
            peak_rss_of([sys.executable, "-c", "import treeframe.cli.main"], tmp)[0]
            for _ in range(3)
        )
        if args.rss_files:
            results["cold_scan_peak_rss_mib_by_files"] = {
                n: cold_rss(int(n), tmp, args) for n in args.rss_files.split(",")
            }
        rounded = json.loads(json.dumps(results), parse_float=lambda text: round(float(text), 3))
        print(json.dumps(rounded, indent=2))
        if args.json:
            args.json.write_text(json.dumps(rounded, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
