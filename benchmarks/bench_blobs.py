"""Inline vs external contents, and what each codec costs, measured in process.

Part 1: put and get latency (p50/p99, ms) and throughput (MB/s) of
``store.blobs`` on a SQLite store for content sizes 1 KiB, 64 KiB, 1 MiB and
16 MiB, with the bytes kept: in the SQLite file (inline), in a FileBlobStore
(external), in an S3BlobStore on a local ``moto_server`` (external; started
by this script on a loopback port). Contents are source text (the repo's own
``src/``), made unique per sample, uncompressed (codec none) so only placement differs.

Part 2: each codec's ratio and pack/unpack MB/s on the same corpus.

    python benchmarks/bench_blobs.py --json blobs.json   # add --no-s3 without moto_server
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.storage.blobs import BlobStore
from treeframe.storage.blobstores.filesystem import FileBlobStore
from treeframe.storage.blobstores.s3 import S3BlobStore
from treeframe.storage.catalog import ContentPolicy
from treeframe.storage.codecs import CODEC_NAMES, codec
from treeframe.storage.sqlite import SqliteStore
from treeframe.testing.factories import workspace_info

WS = workspace_id("bench-blobs")
SIZES = {"1KiB": 1 << 10, "64KiB": 64 << 10, "1MiB": 1 << 20, "16MiB": 16 << 20}
BUDGET = 48 << 20  # bytes written per (placement, size): bounds the run time


def corpus() -> bytes:
    """Every Python source file of the repo's src/, concatenated."""
    root = Path(__file__).resolve().parents[1] / "src"
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*.py")))


def samples(text: bytes, size: int, count: int) -> list[bytes]:
    """``count`` distinct contents of ``size`` bytes cut from the (repeated) corpus."""
    reps = text * (size // len(text) + 2)
    out = []
    for i in range(count):
        start = (i * 7919) % len(text)
        out.append(b"%08d" % i + reps[start : start + size - 8])
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(blobs: BlobStore, contents: list[bytes]) -> dict[str, float]:
    """Put every content, then get each back; latency percentiles and MB/s."""
    digests = [content_hash(c) for c in contents]
    put_s, get_s = [], []
    for digest, data in zip(digests, contents, strict=True):
        started = time.perf_counter()
        blobs.put(WS, digest, data)
        put_s.append(time.perf_counter() - started)
    for digest, data in zip(digests, contents, strict=True):
        started = time.perf_counter()
        got = blobs.get_many(WS, [digest])
        get_s.append(time.perf_counter() - started)
        assert got[digest] == data
    mb = sum(len(c) for c in contents) / 1e6
    return {
        "n": len(contents),
        "put_p50_ms": round(pct(put_s, 0.5) * 1e3, 3),
        "put_p99_ms": round(pct(put_s, 0.99) * 1e3, 3),
        "put_MBps": round(mb / sum(put_s), 1),
        "get_p50_ms": round(pct(get_s, 0.5) * 1e3, 3),
        "get_p99_ms": round(pct(get_s, 0.99) * 1e3, 3),
        "get_MBps": round(mb / sum(get_s), 1),
    }


@contextmanager
def moto() -> Iterator[str]:
    """A moto_server on a free loopback port; its endpoint."""
    exe = Path(sys.executable).with_name("moto_server")
    command = str(exe) if exe.exists() else shutil.which("moto_server")
    if command is None:
        raise SystemExit(
            "moto_server is not installed (pip install 'moto[server]'), or pass --no-s3"
        )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def placements(directory: Path, endpoint: str | None) -> dict[str, Callable[[], ContentPolicy]]:
    """Policy makers: everything inline, everything external (file, S3)."""
    none = codec("none")
    made: dict[str, Callable[[], ContentPolicy]] = {
        "sqlite inline": lambda: ContentPolicy(codec=none, inline_max=1 << 40),
        "file external": lambda: ContentPolicy(
            codec=none, external=FileBlobStore(directory / "blobs"), inline_max=0
        ),
    }
    if endpoint is not None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="bench")
        made["s3 external (moto)"] = lambda: ContentPolicy(
            codec=none,
            external=S3BlobStore(
                "bench",
                "blobs",
                endpoint_url=endpoint,
                region="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            ),
            inline_max=0,
        )
    return made


def bench_placements(text: bytes, endpoint: str | None) -> dict[str, dict[str, dict[str, float]]]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    for label, size in SIZES.items():
        count = max(3, min(300, BUDGET // size))
        contents = samples(text, size, count)
        for name in placements(Path("."), endpoint):
            with tempfile.TemporaryDirectory() as tmp:
                policy = placements(Path(tmp), endpoint)[name]()
                with SqliteStore(Path(tmp) / "store.db", content=policy) as store:
                    store.create_workspace(workspace_info(WS, "bench"))
                    results.setdefault(name, {})[label] = measure(store.blobs, contents)
            print(f"{name:20} {label:6} {results[name][label]}", flush=True)
    return results


def bench_codecs(text: bytes) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for name in CODEC_NAMES:
        packer = codec(name)
        rounds = 3
        started = time.perf_counter()
        for _ in range(rounds):
            packed = packer.compress(text)
        pack_s = (time.perf_counter() - started) / rounds
        started = time.perf_counter()
        for _ in range(rounds):
            assert packer.decompress(packed) == text
        unpack_s = (time.perf_counter() - started) / rounds
        results[name] = {
            "ratio": round(len(packed) / len(text), 3),
            "pack_MBps": round(len(text) / 1e6 / pack_s, 1),
            "unpack_MBps": round(len(text) / 1e6 / unpack_s, 1),
        }
        print(f"{name:7} {results[name]}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 (moto_server) placement")
    args = parser.parse_args()
    text = corpus()
    print(f"corpus: {len(text)} bytes of src/*.py; cpus: {os.cpu_count()}", flush=True)
    codecs = bench_codecs(text)
    if args.no_s3:
        placed = bench_placements(text, None)
    else:
        with moto() as endpoint:
            placed = bench_placements(text, endpoint)
    if args.json:
        report = {"corpus_bytes": len(text), "placements": placed, "codecs": codecs}
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
