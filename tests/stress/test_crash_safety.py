"""kill -9 at random moments loses nothing acknowledged and leaves every store verifiable.

Four crash loops, each a bounded number of rounds with seeded random kill
delays (``TREEFRAME_CRASH_SEED`` replays one; every failure message names
the seed it ran with):

- **server** (SQLite with a filesystem blob store, PostgreSQL with contents in
  the database): writer threads put frames (single puts and batches) through
  the Python client while ``treeframe serve`` is SIGKILLed (its whole process
  group; one round runs ``--workers 2``) and restarted on the same store.
  Afterwards every acknowledged frame is stored with its content (and a
  seeded sample is served by the restarted server), heads are exactly the
  newest put of each (node, type), every acknowledged put has its audit
  entry, each writer's last audit head is still in the chain, and
  ``treeframe verify`` and ``treeframe audit verify`` pass.
- **scan**: ``treeframe scan`` of a few-thousand-file tree killed mid-way, the
  tree edited between rounds; the store's root is only ever a completed
  scan's, a normal scan then gives the root a fresh store gets, and the
  killed scans' staging areas are gone once the root moves.
- **push**: ``treeframe push`` killed mid-way; the server's current root
  always has every node, and a re-push gives the uninterrupted push's root.
- **import**: ``treeframe import`` killed mid-way; the target workspace is
  absent or complete, and a re-run gives the uninterrupted import's state.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import (
    REPO,
    Server,
    free_port,
    issue_token,
    make_store,
    start_server,
    stop_server,
)
from tests.api.routes_env import write_tree
from treeframe.client.client import Client
from treeframe.engine.access import LOCAL_OWNER, AccessService, parse_permissions
from treeframe.engine.agents import AgentRecord
from treeframe.engine.contents import verified_contents
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.types import FrameInput
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import StoreNotFound, TreeframeError
from treeframe.frames.frame import Frame
from treeframe.hashing.ids import workspace_id
from treeframe.ids import NodeId, WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.catalog import ContentPolicy
from treeframe.storage.memory import MemoryStore
from treeframe.storage.registry import content_policy, open_store, sqlite_url
from treeframe.storage.values import SUPERSEDED
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree
from treeframe.wire.frames import FrameSpec, PutFrameRequest
from treeframe.workspace.verify import verify_store

SEED = int(os.environ.get("TREEFRAME_CRASH_SEED", str(random.SystemRandom().randrange(2**32))))
"""One seed per run; each test derives its own generator from it and its name."""


def _rng(name: str) -> random.Random:
    return random.Random(f"{SEED}:{name}")


def _seeded(message: object) -> str:
    return f"[TREEFRAME_CRASH_SEED={SEED}] {message}"


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    return environment | {"PYTHONPATH": str(REPO)} | (extra or {})


def _cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "treeframe", *args],
        cwd=cwd,
        env=_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _spawn(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``treeframe ARGS`` in its own process group (so SIGKILL reaches its workers too)."""
    return subprocess.Popen(
        [sys.executable, "-m", "treeframe", *args],
        cwd=cwd,
        env=_environment(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _kill_group(process: subprocess.Popen[bytes]) -> bool:
    """SIGKILL the process and its group; True when it was still running."""
    running = process.poll() is None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return running


def _kill_after(process: subprocess.Popen[bytes], delay: float) -> bool:
    """Let ``process`` run ``delay`` seconds, then kill it; True when it was killed mid-way."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    return _kill_group(process)


# -- the server, killed under write load -----------------------------------------------

WS_NAME = "crash"
WRITERS = 3
SERVER_ROUNDS = 5
MULTI_WORKER_ROUND = 3
"""The round served by ``--workers 2`` (its whole process group is killed)."""
KILL_DELAY = (0.2, 1.2)
"""Seconds of write load in a round before the kill, once the round's first write is acknowledged."""
BATCH_EVERY = 5
"""Every fifth write of a writer is a batch of three puts (one transaction)."""
FILES = {f"src/m{i}.py": f"# module {i}\n" for i in range(12)} | {"README.md": "# crash\n"}
SERVED_SAMPLE = 40
ALLOWED_ERRORS = {"backend_unavailable"}
"""What a write may fail with while the server is down or dying: only "not reachable"."""


@dataclass(frozen=True)
class Deployment:
    store_url: str
    env: dict[str, str]
    policy: ContentPolicy | None

    def open(self) -> StorageBackend:
        return open_store(self.store_url, create=False, content=self.policy)


def _sqlite_files(request: pytest.FixtureRequest, tmp: Path) -> Deployment:
    blobs = f"file://{tmp / 'blobs'}"
    env = {"TREEFRAME_BLOBS": blobs, "TREEFRAME_BLOB_INLINE_MAX": "0"}
    return Deployment(sqlite_url(tmp / "store.db"), env, content_policy(blobs, "none", 0))


def _postgres(request: pytest.FixtureRequest, tmp: Path) -> Deployment:
    return Deployment(str(request.getfixturevalue("pg_database")), {}, None)


DEPLOYMENTS: dict[str, Callable[[pytest.FixtureRequest, Path], Deployment]] = {
    "sqlite-files": _sqlite_files,
    "postgres": _postgres,
}


@dataclass(frozen=True)
class Ack:
    frame_id: str
    node_id: str
    frame_type: str
    content: str


@dataclass
class Load:
    """What the writers share: the server's URL now, what was acknowledged, what failed."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acks: list[Ack] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    """Each writer's newest ``X-Audit-Head``."""
    unknown: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    failures: list[BaseException] = field(default_factory=list)

    def count(self) -> int:
        with self.lock:
            return len(self.acks)


def _write(client: Client, ws: str, nodes: Sequence[str], writer: int, n: int) -> list[Ack]:
    node = nodes[(writer * 7 + n) % len(nodes)]
    if n % BATCH_EVERY:
        frame_type = f"note{n % 3}"
        content = f"writer {writer} put {n}"
        put = client.put_frame(ws, node, FrameSpec(frame_type=frame_type, content=content))
        return [Ack(put.frame_id, node, frame_type, content)]
    specs = [
        (nodes[(writer + n + k) % len(nodes)], f"batch{k}", f"writer {writer} batch {n}.{k}")
        for k in range(3)
    ]
    requests = [
        PutFrameRequest(node_id=nd, frame=FrameSpec(frame_type=t, content=c)) for nd, t, c in specs
    ]
    done = client.put_frames_batch(ws, requests).results
    return [Ack(r.frame_id, nd, t, c) for r, (nd, t, c) in zip(done, specs, strict=True)]


def _writer(load: Load, token: str, ws: str, nodes: Sequence[str], writer: int) -> None:
    """Write until stopped; a write that fails is unknown, and the next waits for a server."""
    n = 0
    url = ""
    client: Client | None = None
    try:
        while not load.stop.is_set():
            with load.lock:
                if load.url != url:
                    url = load.url
                    if client is not None:
                        client.close()
                    client = Client(url, token=token, retries=1, timeout=10)
            assert client is not None
            try:
                acked = _write(client, ws, nodes, writer, n)
            except (TreeframeError, httpx.HTTPError) as exc:
                code = exc.code if isinstance(exc, TreeframeError) else type(exc).__name__
                with load.lock:
                    load.unknown += 1
                    load.errors[code] = load.errors.get(code, 0) + 1
                time.sleep(0.02)
            else:
                with load.lock:
                    load.acks.extend(acked)
                    if client.audit_head is not None:
                        load.heads[writer] = client.audit_head
            n += 1
    except BaseException as exc:  # reported by the test, with the seed
        load.failures.append(exc)
    finally:
        if client is not None:
            client.close()


@pytest.fixture(params=sorted(DEPLOYMENTS))
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Deployment:
    return DEPLOYMENTS[request.param](request, tmp_path)


def _prepare(deployment: Deployment, tmp: Path) -> tuple[WorkspaceId, str, list[str], list[str]]:
    """A scanned workspace, an owner token and one writer token each; the node IDs."""
    root = tmp / "tree"
    write_tree(root, FILES)
    with open_store(deployment.store_url, content=deployment.policy) as store:
        access = AccessService(WorkspaceService(store))
        info, _ = access.create_workspace(WS_NAME, actor=LOCAL_OWNER, owner="owner")
        scan_tree(root, store, info.workspace_id, workers=1)
        owner = access.create_token(
            actor=LOCAL_OWNER,
            agent_id="owner",
            permissions=parse_permissions("read,write,synthesize,admin"),
            scope=info.workspace_id,
        ).token
        tokens = []
        for i in range(WRITERS):
            rights = parse_permissions("read,write")
            access.grant(info.workspace_id, f"writer{i}", rights, actor=LOCAL_OWNER)
            issued = access.create_token(
                actor=LOCAL_OWNER,
                agent_id=f"writer{i}",
                permissions=rights,
                scope=info.workspace_id,
            )
            tokens.append(issued.token)
        paths = dict(store.iter_all_paths(info.workspace_id))
    return info.workspace_id, owner, tokens, [paths[p] for p in sorted(FILES)]


def _serve(deployment: Deployment, tmp: Path, workers: int = 1) -> Server:
    args: list[str] = []
    port = 0
    if workers > 1:
        port = free_port()  # uvicorn logs the configured port with several workers
        args = ["--workers", str(workers)]
    return start_server(
        tmp,
        tmp / "unused",
        args=args,
        app=None,
        port=port,
        store_url=deployment.store_url,
        env=deployment.env,
        new_session=True,
    )


def _server_dirs(pid: int) -> list[Path]:
    """The temporary directories ``serve`` (pid) made: multi-worker metrics and jobs."""
    return sorted(Path(tempfile.gettempdir()).glob(f"treeframe-*-{pid}-*"))


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, _seeded(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_killed_server_loses_no_acknowledged_write(deployment: Deployment, tmp_path: Path) -> None:
    rng = _rng("server")
    ws, owner, tokens, nodes = _prepare(deployment, tmp_path)
    server = _serve(deployment, tmp_path)
    try:
        load = Load(server.url, heads=[""] * WRITERS)
        threads = [
            threading.Thread(target=_writer, args=(load, tokens[i], ws, nodes, i), daemon=True)
            for i in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        kills: list[tuple[int, int, float]] = []
        try:
            for round_ in range(SERVER_ROUNDS):
                before = load.count()
                _wait_for(lambda: load.count() > before, 30, f"a write in round {round_}")  # noqa: B023
                delay = rng.uniform(*KILL_DELAY)
                time.sleep(delay)
                left = _server_dirs(server.process.pid)  # a supervisor's metrics and jobs
                assert bool(left) == (round_ == MULTI_WORKER_ROUND), left
                _kill_group(server.process)
                kills.append((round_, load.count() - before, round(delay, 3)))
                workers = 2 if round_ + 1 == MULTI_WORKER_ROUND else 1
                killed = server.process.pid
                server = _serve(deployment, tmp_path, workers)
                # The next server removes what the killed one could not.
                assert _server_dirs(killed) == [], _seeded(f"left by the killed server: {left}")
                with load.lock:
                    load.url = server.url
            before = load.count()
            _wait_for(lambda: load.count() > before + 10, 30, "writes after the last restart")
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), _seeded("a writer never stopped")
        _check_server_state(deployment, tmp_path, server, ws, owner, load, kills)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill_group(server.process)


def _check_server_state(
    deployment: Deployment,
    tmp: Path,
    server: Server,
    ws: WorkspaceId,
    owner: str,
    load: Load,
    kills: list[tuple[int, int, float]],
) -> None:
    summary = f"kills (round, acks, delay s) {kills}; unknown writes {load.unknown} {load.errors}"
    print(_seeded(f"server: {len(load.acks)} acknowledged; {summary}"))
    assert load.failures == [], _seeded(f"{load.failures!r}; {summary}")
    assert set(load.errors) <= ALLOWED_ERRORS, _seeded(f"{summary}\n{server.log()[-3000:]}")
    acked = load.acks
    assert len({a.frame_id for a in acked}) == len(acked)  # every content distinct
    with deployment.open() as store:
        frames: dict[str, Frame] = {
            f.frame_id: f for f in store.iter_all_frames(ws) if isinstance(f, Frame)
        }
        assert {a.frame_id for a in acked} <= set(frames), _seeded(f"lost writes; {summary}")
        contents = verified_contents(store, ws, [frames[a.frame_id] for a in acked])
        heads = {(n, t): f for n, t, f in store.iter_all_heads(ws)}
        audited = {
            e.frame for e in store.iter_audit(ws) if e.operation == "frame.put" and e.success
        }
    # Every acknowledged frame is stored as acknowledged, with its content.
    for ack in acked:
        frame = frames[ack.frame_id]
        got = (frame.node_id, frame.frame_type, contents[frame.content_hash].decode())
        assert got == (ack.node_id, ack.frame_type, ack.content), _seeded(summary)
    # Heads are exactly the newest put of each (node, type), as rebuilt from the frames.
    newest: dict[tuple[str, str], Frame] = {}
    for frame in frames.values():
        key = (frame.node_id, frame.frame_type)
        if key not in newest or frame.put_seq > newest[key].put_seq:
            newest[key] = frame
    assert heads == {key: f.frame_id for key, f in newest.items()}, _seeded(summary)
    missing_entries = {a.frame_id for a in acked} - audited
    assert not missing_entries, _seeded(f"acknowledged puts without an audit entry; {summary}")
    with Client(server.url, token=owner) as client:
        # The restarted server serves them (a seeded sample: the store was read in full above).
        for ack in _rng("server-sample").sample(acked, min(SERVED_SAMPLE, len(acked))):
            served = client.get_frame(ws, ack.frame_id)
            assert (served.node_id, served.frame_type, served.content) == (
                ack.node_id,
                ack.frame_type,
                ack.content,
            ), _seeded(summary)
        for node in {a.node_id for a in acked}:
            served_heads = client.get_heads(ws, node).heads
            assert served_heads == {t: f for (n, t), f in heads.items() if n == node}
        # Each writer's newest audit head is still in the chain: nothing after it was cut.
        for head in load.heads:
            verdict = client.verify_audit(ws, head=head or None)
            assert verdict.ok, _seeded(f"{verdict}; {summary}")
    # The whole store and the audit chain verify offline.
    operator = tmp / "operator"
    operator.mkdir()
    target = ("--store", deployment.store_url, "--workspace", WS_NAME)
    init = _cli(operator, "init", *target, env=deployment.env)
    assert init.returncode == 0, init.stdout + init.stderr
    for command in (("audit", "verify"), ("verify",)):
        result = _cli(operator, *command, *target, env=deployment.env)
        assert result.returncode == 0, _seeded(f"{command}: {result.stdout}{result.stderr}")


# -- scan, killed mid-way --------------------------------------------------------------
# tests/cli/test_scan.py covers Ctrl-C (SIGINT: the scan cleans up and exits 130);
# this is the kill nothing can clean up after.

SCAN_ROUNDS = 5
SCAN_FILES = 2500
SCAN_WS = workspace_id("default")
SCAN_KILL_DELAY = (0.0, 0.3)
"""Seconds after the scan opened its staging area (hashing 2500 files takes about 0.3 s)."""


def _scan_tree_files(root: Path, files: int = SCAN_FILES) -> None:
    write_tree(
        root, {f"d{i % 16}/e{i % 5}/f{i:05d}.txt": f"{i}\n" * (1 + i % 40) for i in range(files)}
    )


def _edit(root: Path, rng: random.Random, round_: int) -> None:
    """Change, add and delete files (seeded), so every round has a new tree to record.

    Every other round also drops the stat cache, so that scan re-reads every file.
    """
    if round_ % 2:
        (root / ".treeframe" / "statcache.sqlite").unlink(missing_ok=True)
    existing = sorted(p for p in root.rglob("*.txt") if ".treeframe" not in p.parts)
    for path in rng.sample(existing, 200):
        path.write_text(f"edited in round {round_}\n", encoding="utf-8")
    for path in rng.sample(existing, 5):
        path.unlink(missing_ok=True)
    for k in range(5):
        new = root / f"new{round_}" / f"n{k}.txt"
        new.parent.mkdir(parents=True, exist_ok=True)
        new.write_text(f"new {round_}.{k}\n", encoding="utf-8")


def _fresh_root(root: Path) -> str:
    """The root a scan of ``root`` into a new, empty store records."""
    with MemoryStore() as store:
        store.create_workspace(workspace_info(SCAN_WS, "default"))
        return str(scan_tree(root, store, SCAN_WS, workers=1).entry.root)


def _scan_tokens(db: Path) -> set[str]:
    """Staging areas opened in the store (a scan opens one right after start-up)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as conn:
            return {row[0] for row in conn.execute("SELECT token FROM scans")}
    except sqlite3.Error:
        return set()


def _current_root(db: Path) -> str | None:
    with open_store(sqlite_url(db), create=False, read_only=True) as store:
        entry = store.current_root(SCAN_WS)
    return None if entry is None else str(entry.root)


def test_killed_scan_leaves_a_complete_root_and_a_rescan_matches_a_fresh_store(
    tmp_path: Path,
) -> None:
    rng = _rng("scan")
    root = tmp_path / "ws"
    _scan_tree_files(root)
    init = _cli(root, "init")
    assert init.returncode == 0, init.stderr
    db = root / ".treeframe" / "store.db"
    rounds: list[tuple[int, float, bool, str | None]] = []
    for round_ in range(SCAN_ROUNDS):
        _edit(root, rng, round_)
        before = _current_root(db) if db.exists() else None
        this_tree = _fresh_root(root)
        seen = _scan_tokens(db)
        delay = rng.uniform(*SCAN_KILL_DELAY)
        scan = _spawn(root, "scan", "--workers", "2")
        _wait_for(
            lambda: bool(_scan_tokens(db) - seen) or scan.poll() is not None,  # noqa: B023
            30,
            "the scan to open its staging area",
        )
        killed = _kill_after(scan, delay)
        after = _current_root(db)
        rounds.append((round_, round(delay, 3), killed, after))
        # The root is the previous one or this tree's whole one, never anything in between.
        assert after in {before, this_tree}, _seeded(f"round {round_}: {rounds}")
    print(_seeded(f"scan: rounds (round, delay, killed, root) {rounds}"))
    assert any(killed for _, _, killed, _ in rounds), _seeded(f"no scan was killed: {rounds}")
    final = _cli(root, "scan", "--json")
    assert final.returncode == 0, _seeded(final.stderr)
    assert json.loads(final.stdout)["root"] == _fresh_root(root), _seeded(f"root: {rounds}")
    again = _cli(root, "scan", "--json")  # the stat cache the killed scans left is right too
    assert json.loads(again.stdout)["changed"] is False, _seeded(again.stdout)
    verify = _cli(root, "verify")
    assert verify.returncode == 0, _seeded(verify.stdout + verify.stderr)
    # No killed scan's staging area outlives the next scan that moved the root: what is
    # left is one superseded mark per killed scan, gone at the root move after.
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        staged = conn.execute("SELECT count(*) FROM scan_staging").fetchone()[0]
    assert staged == 0, _seeded(f"{staged} staged rows left: {rounds}")
    assert all(t.startswith(SUPERSEDED) for t in _scan_tokens(db)), _seeded(rounds)
    _edit(root, rng, SCAN_ROUNDS)
    assert _cli(root, "scan").returncode == 0
    assert _scan_tokens(db) == set(), _seeded(f"superseded marks left: {rounds}")


# -- push, killed mid-way --------------------------------------------------------------

PUSH_ROUNDS = 5
PUSH_FILES = 1500
PUSH_KILL_DELAY = (0.0, 0.4)
"""Seconds after the server stored the push's first record."""


def _node_count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as conn:
            return int(conn.execute("SELECT count(*) FROM nodes").fetchone()[0])
    except sqlite3.Error:
        return 0


def _missing_under(store: StorageBackend, ws: WorkspaceId, root: NodeId) -> list[str]:
    """Every node the tree under ``root`` names that the store lacks (a walk by batches)."""
    missing: list[str] = []
    level = [root]
    while level:
        found = store.get_nodes(ws, level)
        missing += [n for n in level if n not in found]
        level = [child for record in found.values() for _, child in record.children]
    return missing


def test_killed_push_never_shows_a_partial_root_and_a_re_push_completes(tmp_path: Path) -> None:
    rng = _rng("push")
    db = make_store(tmp_path / "server.db")
    token = issue_token(db, "pushed", "pusher", "read,write")
    reference_token = issue_token(db, "reference", "pusher", "read,write")
    server = start_server(tmp_path, db, app=None)
    tree = tmp_path / "tree"  # not a treeframe workspace: every push scans it afresh
    _scan_tree_files(tree, PUSH_FILES)
    ws = workspace_id("pushed")

    def push(*extra: str, tok: str = token, name: str = "pushed") -> list[str]:
        return [
            "push",
            "--workspace",
            name,
            "--server",
            server.url,
            "--token",
            tok,
            "--batch-size",
            "50",
            "--workers",
            "1",
            *extra,
            str(tree),
        ]

    rounds: list[tuple[int, float, bool, str | None]] = []
    try:
        for round_ in range(PUSH_ROUNDS):
            if round_:
                _edit(tree, rng, round_)
            this_tree = _fresh_root(tree)
            with Client(server.url, token=token) as client:
                current = client.roots(ws, limit=1).current
            before = None if current is None else current.root
            count = _node_count(db)
            delay = rng.uniform(*PUSH_KILL_DELAY)
            pusher = _spawn(tmp_path, *push())
            _wait_for(
                lambda: _node_count(db) > count or pusher.poll() is not None,  # noqa: B023
                60,
                "the push's first records",
            )
            killed = _kill_after(pusher, delay)
            with Client(server.url, token=token) as client:
                current = client.roots(ws, limit=1).current
                after = None if current is None else current.root
                rounds.append((round_, round(delay, 3), killed, after))
                assert after in {before, this_tree}, _seeded(f"round {round_}: {rounds}")
                if after is not None:  # the server serves the whole tree of its root
                    assert client.get_node_record(ws, after).node_id == after
            if after is not None:
                with open_store(sqlite_url(db), create=False, read_only=True) as store:
                    missing = _missing_under(store, ws, NodeId(after))
                assert missing == [], _seeded(f"round {round_}: root {after} lacks {missing[:5]}")
        print(_seeded(f"push: rounds (round, delay, killed, root) {rounds}"))
        assert any(killed for _, _, killed, _ in rounds), _seeded(f"no push was killed: {rounds}")
        final = _cli(tmp_path, *push("--json"))
        assert final.returncode == 0, _seeded(final.stderr)
        pushed = json.loads(final.stdout)
        reference = _cli(tmp_path, *push("--json", tok=reference_token, name="reference"))
        assert reference.returncode == 0, reference.stderr
        expected = json.loads(reference.stdout)
        assert pushed["root"] == expected["root"] == _fresh_root(tree), _seeded(rounds)
        assert pushed["sent"] < expected["sent"], _seeded(rounds)  # resumed, not redone
    finally:
        stop_server(server)
    operator = tmp_path / "operator"
    operator.mkdir()
    target = ("--store", sqlite_url(db), "--workspace", "pushed")
    assert _cli(operator, "init", *target).returncode == 0
    for command in (("audit", "verify"), ("verify",)):
        result = _cli(operator, *command, *target)
        assert result.returncode == 0, _seeded(f"{command}: {result.stdout}{result.stderr}")


# -- import, killed mid-way ------------------------------------------------------------

IMPORT_ROUNDS = 5
IMPORT_FILES = 600
IMPORT_FRAMES = 1200
IMPORTED = "imported"


def _archive(tmp: Path) -> Path:
    """An export of a scanned workspace with IMPORT_FRAMES frames on its files."""
    url = sqlite_url(tmp / "source.db")
    source = workspace_id("source")
    _scan_tree_files(tmp / "source", IMPORT_FILES)
    with open_store(url, create=True) as store:
        store.create_workspace(workspace_info(source, "source"))
        scan_tree(tmp / "source", store, source, workers=1)
        api = ContextAPI(store, source)
        api.agents.register(AgentRecord("writer", "writer"))
        writer = api.agent_principal("writer")
        paths = sorted(p for p, _ in store.iter_all_paths(source) if p.endswith(".txt"))
        with store.unit_of_work():
            for i in range(IMPORT_FRAMES):
                content = FrameInput(f"note{i % 3}", f"frame {i}".encode())
                api.put_frame(paths[i % len(paths)], content, principal=writer)
    archive = tmp / "source.tar.zst"
    export = _cli(tmp, "export", "--store", url, "--workspace", "source", "-o", str(archive))
    assert export.returncode == 0, export.stderr
    return archive


def _imported_state(url: str) -> tuple[str | None, int, int] | None:
    """(root, frames, heads) of the imported workspace; None when it (or its store) is not there.

    A workspace that is there must pass the full ``treeframe verify`` (the same
    verifier, audit chain included, run in this process).
    """
    ws = workspace_id(IMPORTED)
    try:
        opened = open_store(url, create=False, read_only=True)
    except StoreNotFound:
        return None
    with opened as store:
        if store.get_workspace(ws) is None:
            return None
        entry = store.current_root(ws)
        frames = sum(1 for _ in store.iter_all_frames(ws))
        heads = sum(1 for _ in store.iter_all_heads(ws))
        report = verify_store(store, ws)
    assert report.ok, _seeded(report)
    return (None if entry is None else str(entry.root), frames, heads)


def _import(tmp: Path, archive: Path, store: Path) -> subprocess.Popen[bytes]:
    url = sqlite_url(store)
    return _spawn(tmp, "import", str(archive), "--store", url, "--workspace", IMPORTED)


def test_killed_import_leaves_no_or_a_whole_workspace_and_a_rerun_completes(
    tmp_path: Path,
) -> None:
    rng = _rng("import")
    archive = _archive(tmp_path)
    # The uninterrupted import, timed: in all, and from the moment its store file
    # appears (created once the archive has verified, right before the writing pass).
    reference_file = tmp_path / "reference.db"
    started = time.monotonic()
    reference = _import(tmp_path, archive, reference_file)
    _wait_for(lambda: reference_file.exists() or reference.poll() is not None, 60, "a store")
    created = time.monotonic()
    assert reference.wait(timeout=120) == 0
    took, writing = time.monotonic() - started, time.monotonic() - created
    expected = _imported_state(sqlite_url(reference_file))
    assert expected is not None
    assert expected[1] == IMPORT_FRAMES
    # Each round imports into a new store (so each kill interrupts a real import); every
    # other round kills at a random moment of the whole run (start-up, the verifying
    # pass, the writing one), the others only once the writing pass has begun.
    rounds: list[tuple[int, str, float, bool, bool]] = []
    for round_ in range(IMPORT_ROUNDS):
        target_file = tmp_path / f"target-{round_}.db"
        importer = _import(tmp_path, archive, target_file)
        if round_ % 2:
            phase, delay = "writing", rng.uniform(0.0, 0.7 * writing)  # exit is in it too
            _wait_for(
                lambda: target_file.exists() or importer.poll() is not None,  # noqa: B023
                60,
                "the target store",
            )
        else:
            phase, delay = "any", rng.uniform(0.3 * took, 1.1 * took)
        killed = _kill_after(importer, delay)
        state = _imported_state(sqlite_url(target_file))
        rounds.append((round_, phase, round(delay, 3), killed, state is not None))
        # Either no such workspace, or all of it: never a part.
        assert state in {None, expected}, _seeded(f"round {round_}: {state} {rounds}")
    summary = f"uninterrupted {took:.2f} s ({writing:.2f} s writing); rounds {rounds}"
    print(_seeded(f"import: {summary}"))
    cut = [r for r, phase, _, killed, landed in rounds if killed and not landed]
    assert cut, _seeded(f"no import was cut short: {summary}")
    # A re-run into a store where an import was killed completes it.
    target = sqlite_url(tmp_path / f"target-{cut[-1]}.db")
    again = _cli(tmp_path, "import", str(archive), "--store", target, "--workspace", IMPORTED)
    assert again.returncode == 0, _seeded(f"{again.stderr} {summary}")
    assert _imported_state(target) == expected, _seeded(summary)
