"""Snapshot export and verify-export against tar, zstd and restic, on the same content in one run.

Builds, seeded and through the store seams (no scan), two SQLite workspaces
of the same shape: the full one (``--scale 1``: 100,000 files in 1,000
directories, one frame per file, a second on every tenth, one per
directory, about 1.1 GB of frame content: most contents 128 B-32 KiB, one
in a thousand 1-8 MiB; 60% of them text-like, ~2:1 under zstd, the rest
random) and one a tenth its size (for the RSS comparison). The full one's
contents are also written as files in a directory, for the peers.
Then, warm page cache, each timed ``--repeats`` times (median and best):

* ``export_snapshot`` uncompressed and zstd, to a file and to a counting
  sink (no disk), each in a child process (its own time, without start-up;
  peak RSS from wait4, and RssAnon sampled every 10 ms);
* ``verify_archive`` of both archives, in a child process likewise;
* ``tar cf - DIR | wc -c``, ``tar cf - DIR | zstd -1 | wc -c`` (and ``zstd
  -3``, the exporter's level), ``restic backup DIR`` once into a fresh
  local repository and ``restic check --read-data`` on it.

Throughputs are content bytes (frame contents; the peers' files hold the
same bytes) per second, in GB/s. The stores live in a temp dir under
$TMPDIR removed at the end (``--keep`` keeps it and prints it; ``--work
DIR`` reuses a kept one).

    python benchmarks/bench_snapshot.py --json snapshot.json     # the full run
    python benchmarks/bench_snapshot.py --scale 0.01 --repeats 1  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import blake3

from bench_engine import machine
from treeframe.engine.agents import AgentRecord, AgentRegistry
from treeframe.frames.frame import Basis, Frame, new_frame
from treeframe.frames.merkle_set import root_of_raw
from treeframe.hashing.ids import workspace_id
from treeframe.ids import NodeId
from treeframe.snapshot.export import export_snapshot
from treeframe.snapshot.verify import verify_archive
from treeframe.storage.base import NodeSetState, StorageBackend
from treeframe.storage.registry import open_store
from treeframe.testing.factories import workspace_info
from treeframe.tree.records import NodeRecord

WS = workspace_id("bench-snapshot")
CREATED_AT = "2026-01-01T00:00:00.000000Z"
FILES_PER_DIR = 100
DIRS_PER_TOP = 10
SMALL = (128, 32 << 10)
LARGE = (1 << 20, 8 << 20)
LARGE_EVERY = 1000
TEXT_SHARE = 0.6
# 16 symbols: 4 bits of entropy per byte, so zstd packs it about 2:1 (no long repeats to find).
_ALPHABET = b"etaoin shrdlu\n.,"
TEXT = bytes(_ALPHABET[i % len(_ALPHABET)] for i in range(256))
BATCH = 2000
BUILT = "built.json"


@dataclass(frozen=True)
class Layout:
    """The shape of one seeded workspace."""

    files: int
    seed: int

    @property
    def key(self) -> str:
        return f"files{self.files}-seed{self.seed}"


def content_bytes(seed: int, index: int, size: int, text: bool) -> bytes:
    """Seeded bytes (BLAKE3 in XOF mode: fast and unique per index), text-like or random."""
    raw = blake3.blake3(b"bench-snapshot:%d:%d" % (seed, index)).digest(length=size)
    return raw.translate(TEXT) if text else raw


def content_sizes(rng: random.Random, frames: int) -> list[tuple[int, bool]]:
    """(size, text?) per frame: log-uniform small ones, one in LARGE_EVERY large."""
    large = set(rng.sample(range(frames), max(1, frames // LARGE_EVERY)))
    out = []
    for i in range(frames):
        if i in large:
            size = rng.randint(*LARGE)
        else:
            size = int(SMALL[0] * (SMALL[1] / SMALL[0]) ** rng.random())
        out.append((size, rng.random() < TEXT_SHARE))
    return out


def file_path(n: int) -> str:
    leaf = n // FILES_PER_DIR
    return f"d{leaf // DIRS_PER_TOP:03d}/e{leaf % DIRS_PER_TOP}/f{n:06d}.txt"


def build_records(files: int) -> tuple[list[NodeRecord], NodeRecord]:
    """Every NodeRecord (children before parents) and the root record.

    File records name a content hash derived from their path: the file bytes
    themselves are not part of a snapshot, only the frames' contents are.
    """
    records: list[NodeRecord] = []
    by_dir: dict[str, list[NodeRecord]] = {}
    for n in range(files):
        path = file_path(n)
        digest = blake3.blake3(path.encode()).hexdigest()
        record = NodeRecord.file(path, digest, 1000 + n % 7000, False)  # type: ignore[arg-type]
        records.append(record)
        by_dir.setdefault(path.rpartition("/")[0], []).append(record)
    while True:
        parents: dict[str, list[NodeRecord]] = {}
        for path in sorted(by_dir, key=lambda p: -p.count("/")):
            children = by_dir[path]
            record = NodeRecord.directory(path, [(c.name, c.node_id) for c in children])
            records.append(record)
            if path == "":
                return records, record
            parents.setdefault(path.rpartition("/")[0] if "/" in path else "", []).append(record)
        by_dir = parents


def frame_plan(records: list[NodeRecord]) -> list[tuple[NodeRecord, str]]:
    """(node, frame type) of every frame: a summary per file, a note on every tenth, one per dir."""
    plan: list[tuple[NodeRecord, str]] = []
    for i, record in enumerate(records):
        if record.kind == "dir":
            plan.append((record, "synthesis"))
        else:
            plan.append((record, "summary"))
            if i % 10 == 0:
                plan.append((record, "note"))
    return plan


def peer_name(record: NodeRecord, frame_type: str) -> str:
    """Where a frame's content goes in the peers' directory (a file per frame)."""
    if record.kind == "dir":
        return f"{record.path}/_{frame_type}" if record.path else f"_{frame_type}"
    return f"{record.path}.{frame_type}"


def build_workspace(store: StorageBackend, peer_dir: Path | None, layout: Layout) -> dict[str, Any]:
    """Write the seeded workspace through the store seams; mirror its contents under ``peer_dir``."""
    rng = random.Random(layout.seed)
    records, root = build_records(layout.files)
    store.create_workspace(workspace_info(WS, "bench-snapshot", created_at=CREATED_AT))
    AgentRegistry(store, WS).register(AgentRecord("bench", "writer"))
    for start in range(0, len(records), BATCH):
        store.put_nodes(WS, records[start : start + BATCH])
    plan = frame_plan(records)
    sizes = content_sizes(rng, len(plan))
    frames: list[Frame] = []
    by_node: dict[NodeId, list[Frame]] = {}
    total = 0
    with store.unit_of_work():
        for seq, ((record, frame_type), (size, text)) in enumerate(
            zip(plan, sizes, strict=True), start=1
        ):
            data = content_bytes(layout.seed, seq, size, text)
            total += size
            frame = new_frame(
                record.node_id,
                frame_type,
                "bench",
                data,
                basis=Basis.node(record.node_id),
                content_type="text/plain; charset=utf-8" if text else "application/octet-stream",
            )
            frame = replace(frame, seq=seq, put_seq=seq, created_at=CREATED_AT)
            store.blobs.put(WS, frame.content_hash, data)
            if peer_dir is not None:
                target = peer_dir / peer_name(record, frame_type)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            frames.append(frame)
            by_node.setdefault(record.node_id, []).append(frame)
            if len(frames) >= BATCH:
                store.import_frames(WS, frames)
                frames = []
        store.import_frames(WS, frames)
    store.import_workspace(store.get_workspace(WS), len(plan) + 1)  # type: ignore[arg-type]
    sets = [
        (node, NodeSetState(root_of_raw(bytes.fromhex(f.frame_id) for f in fs).hex(), len(fs)))
        for node, fs in by_node.items()
    ]
    heads = [(node, f.frame_type, f.frame_id) for node, fs in by_node.items() for f in fs]
    for start in range(0, len(sets), BATCH):
        store.import_frame_sets(WS, sets[start : start + BATCH])
    for start in range(0, len(heads), BATCH):
        store.import_heads(WS, heads[start : start + BATCH])
    token = store.begin_scan(WS)
    paths = [(r.path, r.node_id) for r in records]
    for start in range(0, len(paths), BATCH):
        store.stage_paths(WS, token, paths[start : start + BATCH])
    store.commit_scan(WS, token, root.node_id, None, CREATED_AT)
    return {
        "nodes": len(records),
        "frames": len(plan),
        "content_bytes": total,
        "large_contents": sum(1 for size, _ in sizes if size >= LARGE[0]),
        "root": root.node_id,
    }


class Counting:
    """A sink that only counts: export throughput without the disk."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes, /) -> int:
        self.bytes += len(data)
        return len(data)


class AnonSampler:
    """Peak RssAnon of this process, sampled every 10 ms (ru_maxrss also counts mapped file pages)."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.01)

    def sample(self) -> None:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                    return

    def __enter__(self) -> AnonSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One export or verification in this (child) process; its own time and memory."""
    import resource

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out: dict[str, Any] = {"baseline_rss_kib": baseline}
    with AnonSampler() as anon:
        if spec["op"] == "export":
            with open_store(spec["store"], create=False) as store:
                sink: Any
                if spec["out"] == "count":
                    sink = Counting()
                    started = time.perf_counter()
                    report = export_snapshot(store, WS, sink, compression=spec["compression"])
                    out["seconds"] = time.perf_counter() - started
                else:
                    with open(spec["out"], "wb") as sink:
                        started = time.perf_counter()
                        report = export_snapshot(store, WS, sink, compression=spec["compression"])
                        out["seconds"] = time.perf_counter() - started
                out["archive_bytes"] = report.archive_bytes
        else:
            with open(spec["archive"], "rb") as source:
                started = time.perf_counter()
                verified = verify_archive(source, total_bytes=os.path.getsize(spec["archive"]))
                out["seconds"] = time.perf_counter() - started
            out["ok"] = verified.ok
            out["problems"] = [p.to_dict() for p in verified.problems[:5]]
    out["peak_anon_kib"] = anon.peak_kib
    return out


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter; add its wall time and peak RSS (wait4)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if status != 0:
            err.seek(0)
            raise SystemExit(f"child {spec} failed: {err.read().decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    result["wall_s"] = wall
    result["peak_rss_kib"] = usage.ru_maxrss
    return result


def timed_shell(command: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall time and stdout of a shell pipeline (pipefail: any stage failing fails it)."""
    started = time.perf_counter()
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        check=False,
        env=env,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{command!r} failed: {proc.stderr.decode()[-2000:]}")
    return elapsed, proc.stdout.decode().strip()


def summary(seconds: list[float], content: int) -> dict[str, Any]:
    """Median and best of the repeats, and the content GB/s at the median."""
    median = statistics.median(seconds)
    return {
        "median_s": round(median, 3),
        "best_s": round(min(seconds), 3),
        "runs": len(seconds),
        "content_GBps": round(content / 1e9 / median, 3),
    }


def peers(directory: Path, work: Path, content: int, repeats: int) -> dict[str, Any]:
    """tar, tar | zstd and restic over the directory holding the same contents as files."""
    quoted = f"-C {directory.parent} {directory.name}"
    out: dict[str, Any] = {}
    timed_shell(f"tar cf - {quoted} | wc -c")  # warm the page cache
    for name, pipe in [
        ("tar_wc", "wc -c"),
        ("tar_zstd1_wc", "zstd -1 -q -c | wc -c"),
        ("tar_zstd3_wc", "zstd -3 -q -c | wc -c"),
    ]:
        runs = [timed_shell(f"tar cf - {quoted} | {pipe}") for _ in range(repeats)]
        out[name] = {**summary([s for s, _ in runs], content), "output_bytes": int(runs[0][1])}
    env = {
        **os.environ,
        "RESTIC_PASSWORD": "bench",
        "RESTIC_REPOSITORY": str(work / "restic"),
        "RESTIC_CACHE_DIR": str(work / "restic-cache"),
    }
    shutil.rmtree(work / "restic", ignore_errors=True)
    timed_shell("restic init -q", env)
    backup, _ = timed_shell(f"cd {directory.parent} && restic backup -q {directory.name}", env)
    out["restic_backup"] = summary([backup], content)
    checks = [timed_shell("restic check -q --read-data", env)[0] for _ in range(repeats)]
    out["restic_check_read_data"] = summary(checks, content)
    out["restic_repo_bytes"] = sum(
        p.stat().st_size for p in (work / "restic").rglob("*") if p.is_file()
    )
    return out


def tool_versions() -> dict[str, str]:
    versions = {}
    for tool, flag in [("tar", "--version"), ("zstd", "--version"), ("restic", "version")]:
        proc = subprocess.run([tool, flag], capture_output=True, check=False)
        versions[tool] = proc.stdout.decode().splitlines()[0] if proc.returncode == 0 else "absent"
    return versions


def treeframe_runs(
    url: str, archives: Path, content: int, repeats: int, *, full: bool
) -> dict[str, Any]:
    """Exports (to a file and to a counting sink; none and zstd) and verifications, in children."""
    cases = [("none", "count"), ("none", "file")]
    if full:
        cases += [("zstd", "count"), ("zstd", "file")]
    out: dict[str, Any] = {}
    for compression, target in cases:
        archive = archives / f"export.{compression}.tar"
        spec = {
            "op": "export",
            "store": url,
            "compression": compression,
            "out": "count" if target == "count" else str(archive),
        }
        runs = [run_child(spec) for _ in range(repeats)]
        out[f"export_{compression}_{target}"] = {
            **summary([r["seconds"] for r in runs], content),
            **memory(runs),
            "archive_bytes": runs[0]["archive_bytes"],
            "wall_median_s": round(statistics.median(r["wall_s"] for r in runs), 3),
        }
        print(
            f"export {compression} -> {target}: {out[f'export_{compression}_{target}']}",
            file=sys.stderr,
            flush=True,
        )
    for compression in ["none", "zstd"] if full else ["none"]:
        archive = archives / f"export.{compression}.tar"
        if not archive.exists():
            run_child(
                {"op": "export", "store": url, "compression": compression, "out": str(archive)}
            )
        runs = [run_child({"op": "verify", "archive": str(archive)}) for _ in range(repeats)]
        if not all(r["ok"] for r in runs):
            raise SystemExit(f"verify-export found problems: {runs[0]['problems']}")
        out[f"verify_{compression}"] = {
            **summary([r["seconds"] for r in runs], content),
            **memory(runs),
            "archive_bytes": archive.stat().st_size,
        }
        print(f"verify {compression}: {out[f'verify_{compression}']}", file=sys.stderr, flush=True)
    return out


def memory(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Peak RSS (wait4: anonymous and mapped file pages) and sampled peak RssAnon, in MiB."""
    return {
        "peak_rss_mib": round(max(r["peak_rss_kib"] for r in runs) / 1024, 1),
        "peak_anon_mib": round(max(r["peak_anon_kib"] for r in runs) / 1024, 1),
        "baseline_rss_mib": round(max(r["baseline_rss_kib"] for r in runs) / 1024, 1),
    }


def prepare(work: Path, layout: Layout, with_peers: bool) -> tuple[str, dict[str, Any], Path]:
    """The workspace of ``layout`` in ``work`` (built now unless a kept one matches)."""
    home = work / layout.key
    url = f"sqlite://{home / 'store.db'}"
    peer_dir = home / "content"
    marker = home / BUILT
    if marker.exists() and (peer_dir.exists() or not with_peers):
        return url, json.loads(marker.read_text()), peer_dir
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    started = time.perf_counter()
    with open_store(url) as store:
        built = build_workspace(store, peer_dir if with_peers else None, layout)
    built["build_s"] = round(time.perf_counter() - started, 1)
    built["store_bytes"] = sum(p.stat().st_size for p in home.glob("store.db*"))
    marker.write_text(json.dumps(built))
    print(f"built {layout.key}: {built}", file=sys.stderr, flush=True)
    return url, built, peer_dir


def ratio(slow: dict[str, Any], fast: dict[str, Any]) -> float:
    """How many times faster ``fast`` is than ``slow`` (median times)."""
    return round(float(slow["median_s"]) / float(fast["median_s"]), 2)


def verdicts(full: dict[str, Any], small: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """The issue's three targets, each with its measured figure."""
    export = full["export_none_count"]
    check = peer["restic_check_read_data"]
    flat = {
        op: round(full[op]["peak_anon_mib"] / small[op]["peak_anon_mib"], 2)
        for op in ("export_none_count", "verify_none")
    }
    return {
        "export_none_GBps": export["content_GBps"],
        "export_target_1GBps_met": export["content_GBps"] >= 1.0,
        "verify_vs_restic_check_x": ratio(check, full["verify_none"]),
        "verify_faster_than_restic_check": full["verify_none"]["median_s"] < check["median_s"],
        "peak_anon_full_over_small": flat,
        "rss_flat_met": all(v <= 1.25 for v in flat.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 100k files, ~1.1 GB")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="of each export and verification")
    parser.add_argument("--peer-repeats", type=int, default=3, help="of each tar and restic check")
    parser.add_argument("--work", type=Path, help="reuse (or build into) this directory")
    parser.add_argument("--keep", action="store_true", help="keep the built stores")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return

    files = max(100, round(100_000 * args.scale))
    work = args.work or Path(tempfile.mkdtemp(prefix="tf-snap-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": {**machine(), **tool_versions()},
        "load_average_start": os.getloadavg(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "args": vars(args) | {"work": None, "json": None},
    }
    try:
        full_layout, small_layout = Layout(files, args.seed), Layout(files // 10, args.seed)
        full_url, full_built, peer_dir = prepare(work, full_layout, not args.skip_peers)
        small_url, small_built, _ = prepare(work, small_layout, False)
        results["workspace"] = {"full": full_built, "small": small_built}
        archives = work / "archives"
        archives.mkdir(exist_ok=True)
        content = full_built["content_bytes"]
        if not args.skip_peers:
            results["peers"] = peers(peer_dir, work, content, args.peer_repeats)
            print(f"peers: {results['peers']}", file=sys.stderr, flush=True)
        results["full"] = treeframe_runs(full_url, archives, content, args.repeats, full=True)
        (archives / "small").mkdir(exist_ok=True)
        small = treeframe_runs(
            small_url, archives / "small", small_built["content_bytes"], args.repeats, full=False
        )
        results["small"] = small
        if "peers" in results:
            peer = results["peers"]
            runs = results["full"]
            results["ratios"] = {
                "export_none_file_vs_tar_wc": ratio(peer["tar_wc"], runs["export_none_file"]),
                "export_none_count_vs_tar_wc": ratio(peer["tar_wc"], runs["export_none_count"]),
                "export_zstd_file_vs_tar_zstd1": ratio(
                    peer["tar_zstd1_wc"], runs["export_zstd_file"]
                ),
                "export_zstd_file_vs_tar_zstd3": ratio(
                    peer["tar_zstd3_wc"], runs["export_zstd_file"]
                ),
                "verify_none_vs_restic_check": ratio(
                    peer["restic_check_read_data"], runs["verify_none"]
                ),
                "verify_zstd_vs_restic_check": ratio(
                    peer["restic_check_read_data"], runs["verify_zstd"]
                ),
                "export_none_file_vs_restic_backup": ratio(
                    peer["restic_backup"], runs["export_none_file"]
                ),
            }
            results["targets"] = verdicts(results["full"], small, peer)
        results["load_average_end"] = os.getloadavg()
        print(json.dumps(results, indent=2))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
