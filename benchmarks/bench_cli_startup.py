"""CLI start-up: wall time of short ``treeframe`` commands next to the interpreter floor and git.

One run: builds a seeded tree of 100 small files (10 directories of 10), makes
it a git repository (one commit) and a treeframe workspace (``init`` +
``scan``), then runs each case as a fresh subprocess, round-robin (every
round runs every case once, so load on the host hits all cases alike), and
reports p50 / p99 / min wall time per case:

* ``python -c pass``: the interpreter floor (same interpreter as treeframe);
* ``treeframe --version``, ``treeframe --help``;
* ``treeframe status`` on the unchanged, already-scanned tree;
* ``git --version`` and ``git status --porcelain`` on the same tree (peers).

    python benchmarks/bench_cli_startup.py [--runs 30] [--json out.json]

``treeframe`` is the console script installed next to this interpreter (the
command a user types); the environment is cleared of ``TREEFRAME_*`` and
points ``HOME`` / ``XDG_CONFIG_HOME`` at an empty directory, so no user
configuration is read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def build_tree(root: Path, seed: int) -> None:
    """100 files of 64-512 bytes in 10 directories."""
    rng = random.Random(seed)
    for d in range(10):
        folder = root / f"d{d}"
        folder.mkdir(parents=True)
        for f in range(10):
            (folder / f"f{f}.txt").write_bytes(rng.randbytes(rng.randint(64, 512)))


def treeframe_command() -> list[str]:
    """The console script next to this interpreter, else ``python -m treeframe``."""
    script = Path(sys.executable).with_name("treeframe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "treeframe"]


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment without treeframe settings or a user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), LC_ALL="C.UTF-8")
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.invalid")
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.invalid")
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Wall nanoseconds of one run of ``cmd`` (output discarded; a failure stops the benchmark)."""
    start = time.perf_counter_ns()
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter_ns() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed


def stats(samples_ns: list[int]) -> dict[str, float]:
    """p50 / p99 / min in milliseconds (nearest rank)."""
    ordered = sorted(samples_ns)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] / 1e6

    return {"p50_ms": rank(0.5), "p99_ms": rank(0.99), "min_ms": ordered[0] / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="Timed runs of every case.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed rounds first.")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()

    tf = treeframe_command()
    git = shutil.which("git")
    with tempfile.TemporaryDirectory(prefix="tf-startup-") as tmp:
        home, tree = Path(tmp) / "home", Path(tmp) / "tree"
        home.mkdir()
        build_tree(tree, args.seed)
        env = clean_env(home)
        run([*tf, "init"], tree, env)
        run([*tf, "scan", "--quiet"], tree, env)
        cases: dict[str, list[str]] = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "treeframe --version": [*tf, "--version"],
            "treeframe --help": [*tf, "--help"],
            "treeframe status": [*tf, "status"],
        }
        if git is not None:
            run([git, "init", "-q"], tree, env)
            # .treeframe/ is the workspace's own state, as .git/ is git's.
            (tree / ".git" / "info" / "exclude").write_text(".treeframe/\n")
            run([git, "add", "-A"], tree, env)
            run([git, "commit", "-q", "-m", "seed"], tree, env)
            cases["git --version"] = [git, "--version"]
            cases["git status --porcelain"] = [git, "status", "--porcelain"]
        samples: dict[str, list[int]] = {name: [] for name in cases}
        for round_no in range(args.warmup + args.runs):
            for name, cmd in cases.items():
                elapsed = run(cmd, tree, env)
                if round_no >= args.warmup:
                    samples[name].append(elapsed)

    floor = stats(samples["python -c pass"])["p50_ms"]
    results = {name: stats(values) for name, values in samples.items()}
    print(f"{args.runs} runs per case, round-robin; load average {os.getloadavg()[0]:.2f}")
    print(f"{'case':26} {'p50 ms':>8} {'p99 ms':>8} {'min ms':>8} {'p50 / floor':>12}")
    for name, figures in results.items():
        ratio = figures["p50_ms"] / floor
        print(
            f"{name:26} {figures['p50_ms']:8.1f} {figures['p99_ms']:8.1f} "
            f"{figures['min_ms']:8.1f} {ratio:11.1f}x"
        )
    if "git status --porcelain" in results:
        ratio = results["treeframe status"]["p50_ms"] / results["git status --porcelain"]["p50_ms"]
        print(f"treeframe status / git status --porcelain (p50): {ratio:.1f}x")
    if args.json is not None:
        report: dict[str, Any] = {
            "runs": args.runs,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cases": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
