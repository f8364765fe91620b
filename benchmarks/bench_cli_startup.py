"""CLI start-up: wall time of short ``treeframe`` commands next to the interpreter floor and git.

One run: builds a seeded tree of 100 small files (10 directories of 10), makes
it a git repository (one commit) and a treeframe workspace (``init`` +
``scan``), then runs each case as a fresh subprocess, round-robin (every
round runs every case once, so load on the host hits all cases alike), and
reports p50 / p99 / min wall time and the p50 of the child's CPU time
(user + system) per case:

* ``python -c pass``: the interpreter floor (same interpreter as treeframe);
* ``treeframe --version``, ``treeframe --help``;
* ``treeframe status`` and ``status --json`` on the unchanged, already-scanned tree;
* a bare typer app parsing the options ``status`` parses (typer's own floor:
  typer >= 0.29 validates every option through a pydantic ``TypeAdapter``);
* ``git --version`` and ``git status --porcelain`` on the same tree (peers).

    python benchmarks/bench_cli_startup.py [--runs 30] [--json out.json]
    python benchmarks/bench_cli_startup.py --baseline OLD/src   # also an older checkout
    python benchmarks/bench_cli_startup.py --breakdown          # where status's time goes

``--baseline`` adds the three treeframe cases run with ``PYTHONPATH`` set to
another checkout's ``src`` (e.g. ``git archive <commit> | tar -x -C OLD``),
in the same rounds, so a before/after comparison shares the host's load.

``treeframe`` is the console script installed next to this interpreter (the
command a user types); the environment is cleared of ``TREEFRAME_*`` and
``PYTHONDONTWRITEBYTECODE`` (the warm-up rounds leave bytecode caches, as an
installed package has) and points ``HOME`` / ``XDG_CONFIG_HOME`` at an empty
directory, so no user configuration is read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TYPER_FLOOR = """
from typing import Annotated
import typer
app = typer.Typer(add_completion=False)
@app.callback()
def root(verbose: Annotated[int, typer.Option("-v", count=True)] = 0) -> None: pass
@app.command()
def status(
    store: Annotated[str | None, typer.Option("--store")] = None,
    workspace: Annotated[str | None, typer.Option("--workspace")] = None,
    history: Annotated[int, typer.Option("--history", min=1)] = 5,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None: print("ok")
@app.command()
def other() -> None: pass
app(["status"])
"""
"""A typer app parsing what ``treeframe status`` parses, and doing nothing: typer's own floor."""


BREAKDOWN = """
import contextlib, io, time
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
import treeframe.cli.main; mark("entry: cli.main, output, errors")
import typer, typer.main; mark("typer")
import pydantic.main, pydantic.types; mark("pydantic (typer imports it too)")
import treeframe.cli.app; mark("cli.app (the lazy table)")
import treeframe.frames.frame, treeframe.storage.registry; mark("frames, storage seams")
import treeframe.config.settings; mark("config.settings (pydantic models built)")
import treeframe.engine.workspaces; mark("engine (context API and its parts)")
import treeframe.cli.commands.tree; mark("workspace, cli.common, commands.tree")
import rich.console, rich.table; mark("rich console and table")
import treeframe.storage.sqlite; mark("storage.sqlite")
with contextlib.redirect_stdout(io.StringIO()):
    treeframe.cli.main.main(["status"])
mark("run: parse, settings, open, query, print")
for (_, t0), (name, t1) in zip(marks, marks[1:]):
    print(f"{name}\t{(t1 - t0) * 1e3:.3f}")
"""
"""``treeframe status`` in one process, its imports taken one group at a time (ms each)."""


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
    # PYTHONDONTWRITEBYTECODE would recompile every treeframe module on every run of an
    # editable install: an installed package has its bytecode, and so does this run.
    skipped = ("TREEFRAME_", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skipped)}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), LC_ALL="C.UTF-8")
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.invalid")
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.invalid")
    return env


def run(cmd: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, int]:
    """Wall and CPU (user + system) nanoseconds of one run of ``cmd``, output discarded.

    A failure stops the benchmark. CPU time is the child's own (``wait4``):
    unlike wall time it hardly moves when other processes share the cores.
    """
    start = time.perf_counter_ns()
    child = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter_ns() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({child.returncode}): {errors.decode()}")
    return elapsed, round((usage.ru_utime + usage.ru_stime) * 1e9)


def stats(samples: list[tuple[int, int]]) -> dict[str, float]:
    """Wall p50 / p99 / min and CPU p50 in milliseconds (nearest rank)."""
    wall = sorted(w for w, _ in samples)
    cpu = sorted(c for _, c in samples)

    def rank(ordered: list[int], q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] / 1e6

    return {
        "p50_ms": rank(wall, 0.5),
        "p99_ms": rank(wall, 0.99),
        "min_ms": wall[0] / 1e6,
        "cpu_p50_ms": rank(cpu, 0.5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="Timed runs of every case.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed rounds first.")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument(
        "--breakdown", action="store_true", help="Also time status's import groups in process."
    )
    parser.add_argument(
        "--baseline", type=Path, help="Another checkout's src/ to time alongside (PYTHONPATH)."
    )
    args = parser.parse_args()

    tf = treeframe_command()
    git = shutil.which("git")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tf-startup-") as tmp:
        home, tree = Path(tmp) / "home", Path(tmp) / "tree"
        home.mkdir()
        build_tree(tree, args.seed)
        env = clean_env(home)
        run([*tf, "init"], tree, env)
        run([*tf, "scan", "--quiet"], tree, env)
        cases: dict[str, tuple[list[str], Mapping[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "treeframe --version": ([*tf, "--version"], env),
            "treeframe --help": ([*tf, "--help"], env),
            "treeframe status": ([*tf, "status"], env),
            "treeframe status --json": ([*tf, "status", "--json"], env),
            "typer floor (status args)": ([sys.executable, "-c", TYPER_FLOOR], env),
        }
        if args.baseline is not None:
            old = {**env, "PYTHONPATH": str(args.baseline.resolve())}
            for sub in ("--version", "--help", "status"):
                cases[f"baseline {sub}"] = ([*tf, sub], old)
        if git is not None:
            run([git, "init", "-q"], tree, env)
            # .treeframe/ is the workspace's own state, as .git/ is git's.
            (tree / ".git" / "info" / "exclude").write_text(".treeframe/\n")
            run([git, "add", "-A"], tree, env)
            run([git, "commit", "-q", "-m", "seed"], tree, env)
            cases["git --version"] = ([git, "--version"], env)
            cases["git status --porcelain"] = ([git, "status", "--porcelain"], env)
        samples: dict[str, list[tuple[int, int]]] = {name: [] for name in cases}
        parts: dict[str, list[float]] = {}
        for round_no in range(args.warmup + args.runs):
            for name, (cmd, case_env) in cases.items():
                elapsed = run(cmd, tree, case_env)
                if round_no >= args.warmup:
                    samples[name].append(elapsed)
            if args.breakdown and round_no >= args.warmup:
                # In the same rounds, so that it shares the cases' load.
                out = subprocess.run(
                    [sys.executable, "-c", BREAKDOWN],
                    cwd=tree,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                for line in out.splitlines():
                    name, ms = line.split("\t")
                    parts.setdefault(name, []).append(float(ms))

    floor = stats(samples["python -c pass"])["p50_ms"]
    results = {name: stats(values) for name, values in samples.items()}
    load = f"{load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    print(f"{args.runs} runs per case, round-robin; load average {load}")
    print(
        f"{'case':26} {'p50 ms':>8} {'p99 ms':>8} {'min ms':>8} {'cpu p50':>8} {'p50 / floor':>12}"
    )
    for name, figures in results.items():
        ratio = figures["p50_ms"] / floor
        print(
            f"{name:26} {figures['p50_ms']:8.1f} {figures['p99_ms']:8.1f} "
            f"{figures['min_ms']:8.1f} {figures['cpu_p50_ms']:8.1f} {ratio:11.1f}x"
        )
    if "git status --porcelain" in results:
        ratio = results["treeframe status"]["p50_ms"] / results["git status --porcelain"]["p50_ms"]
        print(f"treeframe status / git status --porcelain (p50): {ratio:.1f}x")
    if args.baseline is not None:
        for sub in ("--version", "--help", "status"):
            ratio = results[f"baseline {sub}"]["p50_ms"] / results[f"treeframe {sub}"]["p50_ms"]
            print(f"baseline / treeframe {sub} (p50): {ratio:.2f}x")
    breakdown = {name: statistics.median(values) for name, values in parts.items()}
    if breakdown:
        print(f"status in one process, median of {args.runs} (ms):")
        for name, cost in breakdown.items():
            print(f"  {name:45} {cost:7.1f}")
        print(f"  {'total':45} {sum(breakdown.values()):7.1f}")
    if args.json is not None:
        report: dict[str, Any] = {
            "runs": args.runs,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "load_average": load,
            "baseline": None if args.baseline is None else str(args.baseline),
            "cases": results,
            "status_breakdown_ms": breakdown,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
