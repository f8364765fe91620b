"""Two ``treeframe serve`` processes on one shared store (PostgreSQL + S3: the scaled-out one).

Stateless servers sharing a store and a blob store, one deployment of
:data:`SHARED` per run. Writers in threads put frames through both servers at once, some racing for the same
(node, type) head with If-Match. Afterwards every acknowledged frame must be
readable, with its content, through either server; every head must be the
newest put of its (node, type) as rebuilt from the frames; the winners of the
If-Match race must form one chain (each moved the head it named); the audit
chain verifies (over the API and with ``treeframe audit verify``) and
``treeframe verify`` passes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import REPO, Server, start_server, stop_server
from tests.api.routes_env import write_tree
from tests.services import REDIS_URL, S3Server
from treeframe.client.client import Client
from treeframe.engine.access import LOCAL_OWNER, AccessService, parse_permissions
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import PreconditionFailed
from treeframe.frames.frame import Frame
from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.catalog import ContentPolicy
from treeframe.storage.registry import content_policy, open_store, sqlite_url
from treeframe.tree.scan import scan_tree
from treeframe.wire.frames import FrameSpec

WS_NAME = "shared"
OWNER = "owner"
WRITERS = 4
PUTS = 50
"""Frames each writer puts (every fifth a compare-and-set on the hot head)."""
CAS_TRIES = 200
INLINE_MAX = 0
"""Every content goes to the blob store, so the servers really share it too."""
HOT = "README.md"
FILES = {f"src/m{i}.py": f"# module {i}\n" for i in range(10)} | {HOT: "# shared\n"}


@dataclass(frozen=True)
class Shared:
    """What both servers share: the store URL, the settings naming the blob store, its policy."""

    store_url: str
    env: dict[str, str]
    policy: ContentPolicy


def _shared(store_url: str, blobs_url: str, extra: dict[str, str] | None = None) -> Shared:
    """Both servers (and the CLI) get the blob store through the settings, as deployed."""
    env = {"TREEFRAME_BLOBS": blobs_url, "TREEFRAME_BLOB_INLINE_MAX": str(INLINE_MAX)}
    return Shared(store_url, env | (extra or {}), content_policy(blobs_url, "zstd", INLINE_MAX))


def _sqlite_file(request: pytest.FixtureRequest, tmp: Path) -> Shared:
    return _shared(sqlite_url(tmp / "store.db"), f"file://{tmp / 'blobs'}?codec=zstd")


def _postgres_s3(request: pytest.FixtureRequest, tmp: Path) -> Shared:
    s3: S3Server = request.getfixturevalue("s3_server")
    credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    for name, value in credentials.items():  # boto3 in this process reads them too
        request.getfixturevalue("monkeypatch").setenv(name, value)
    url = f"{s3.url(s3.bucket())}&codec=zstd"
    return _shared(str(request.getfixturevalue("pg_database")), url, credentials)


def _postgres_redis_cache(request: pytest.FixtureRequest, tmp: Path) -> Shared:
    """PostgreSQL, a shared blob directory, and the caches shared through Redis (heads included)."""
    prefix: str = request.getfixturevalue("redis_prefix")
    namespace = prefix.split(":")[1]  # keys under treeframe:cache:<namespace>:, this test's own
    cache = {
        "TREEFRAME_CACHE__URL": REDIS_URL,
        "TREEFRAME_CACHE__NAMESPACE": namespace,
        # Ten minutes: only the stamps can make a cached head go, not its age.
        "TREEFRAME_CACHE__HEAD_MAX_AGE_MS": "600000",
    }
    request.addfinalizer(lambda: _drop_keys(f"treeframe:cache:{namespace}:*"))
    blobs = f"file://{tmp / 'blobs'}?codec=zstd"
    return _shared(str(request.getfixturevalue("pg_database")), blobs, cache)


def _drop_keys(pattern: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


SHARED: dict[str, Callable[[pytest.FixtureRequest, Path], Shared]] = {
    "postgres-redis-cache": _postgres_redis_cache,
    "postgres-s3": _postgres_s3,
    "sqlite-file": _sqlite_file,
}
"""Deployment -> a fresh shared store and blob store for it."""


@dataclass
class Cluster:
    shared: Shared
    servers: tuple[Server, Server]
    ws: WorkspaceId
    owner_token: str
    writer_tokens: list[str]
    tmp: Path

    def open(self) -> StorageBackend:
        return open_store(self.shared.store_url, create=False, content=self.shared.policy)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``treeframe ARGS`` in a subprocess, in an operator's directory bound to the shared store."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
        environment |= self.shared.env | {"PYTHONPATH": str(REPO)}
        return subprocess.run(
            [sys.executable, "-m", "treeframe", *args],
            cwd=self.tmp / "operator",
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(params=sorted(SHARED))
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A scanned workspace in one shared store, tokens, and two servers over it."""
    shared = SHARED[request.param](request, tmp_path)
    root = tmp_path / "tree"
    write_tree(root, FILES)
    with open_store(shared.store_url, content=shared.policy) as store:
        access = AccessService(WorkspaceService(store))
        info, _ = access.create_workspace(WS_NAME, actor=LOCAL_OWNER, owner=OWNER)
        scan_tree(root, store, info.workspace_id, workers=1)
        everything = parse_permissions("read,write,synthesize,admin")
        owner_token = access.create_token(
            actor=LOCAL_OWNER, agent_id=OWNER, permissions=everything, scope=info.workspace_id
        ).token
        writers = []
        for i in range(WRITERS):
            agent = f"writer{i}"
            rights = parse_permissions("read,write")
            access.grant(info.workspace_id, agent, rights, actor=LOCAL_OWNER)
            issued = access.create_token(
                actor=LOCAL_OWNER, agent_id=agent, permissions=rights, scope=info.workspace_id
            )
            writers.append(issued.token)
    serve = {"app": None, "store_url": shared.store_url, "env": shared.env}
    first = start_server(tmp_path, tmp_path / "unused", **serve)  # type: ignore[arg-type]
    try:
        second = start_server(tmp_path, tmp_path / "unused", **serve)  # type: ignore[arg-type]
    except BaseException:
        stop_server(first)
        raise
    try:
        yield Cluster(shared, (first, second), info.workspace_id, owner_token, writers, tmp_path)
    finally:
        for server in (first, second):
            stop_server(server)


@dataclass(frozen=True)
class Ack:
    """An acknowledged put: what the server answered, and the head it was conditioned on."""

    frame_id: str
    node_id: str
    frame_type: str
    content: str
    if_match: str | None


def _writer(cluster: Cluster, index: int, nodes: Sequence[str], hot: str, out: list[Ack]) -> None:
    """PUTS frames through one server; every fifth races for the hot head with If-Match."""
    server = cluster.servers[index % 2]
    with Client(server.url, token=cluster.writer_tokens[index], retries=3) as client:
        for j in range(PUTS):
            content = f"writer {index} put {j}"
            if j % 5 == 0:
                for _ in range(CAS_TRIES):
                    head = client.get_heads(cluster.ws, hot).heads.get("race")
                    try:
                        done = client.put_frame(
                            cluster.ws,
                            hot,
                            FrameSpec(frame_type="race", content=content),
                            if_match=head,
                            if_none_match=head is None,
                        )
                    except PreconditionFailed:
                        continue  # lost the race: read the new head and try again
                    out.append(Ack(done.frame_id, hot, "race", content, head))
                    break
                continue
            node = nodes[(index * PUTS + j) % len(nodes)]
            frame_type = f"note{j % 3}"
            done = client.put_frame(
                cluster.ws, node, FrameSpec(frame_type=frame_type, content=content)
            )
            out.append(Ack(done.frame_id, node, frame_type, content, None))


def test_writers_at_two_servers_on_one_database_and_bucket(cluster: Cluster) -> None:
    with cluster.open() as store:
        ws = store.get_workspace(cluster.ws)
        assert ws is not None
        paths = dict(store.iter_all_paths(cluster.ws))
    nodes = [paths[p] for p in sorted(FILES)]
    hot = paths[HOT]
    acks: list[list[Ack]] = [[] for _ in range(WRITERS)]
    failures: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            _writer(cluster, i, nodes, hot, acks[i])
        except BaseException as exc:  # asserted below, with the servers' state
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    alive = [s.process.poll() is None for s in cluster.servers]
    assert (failures, alive) == ([], [True, True]), [s.log()[-2000:] for s in cluster.servers]
    acked = [a for per in acks for a in per]
    assert len(acked) == WRITERS * PUTS  # every put acknowledged (CAS ones after retries)

    # Every acknowledged frame, with its content, through both servers.
    for server in cluster.servers:
        with Client(server.url, token=cluster.owner_token) as client:
            for ack in acked:
                got = client.get_frame(cluster.ws, ack.frame_id)
                assert (got.node_id, got.frame_type, got.content) == (
                    ack.node_id,
                    ack.frame_type,
                    ack.content,
                )

    # Heads equal a rebuild from the frames: the newest put of each (node, type).
    with cluster.open() as store:
        frames = [f for f in store.iter_all_frames(cluster.ws) if isinstance(f, Frame)]
        rebuilt: dict[tuple[str, str], tuple[int, str]] = {}
        for frame in frames:
            key = (frame.node_id, frame.frame_type)
            if key not in rebuilt or frame.put_seq > rebuilt[key][0]:
                rebuilt[key] = (frame.put_seq, frame.frame_id)
        heads = {(n, t): f for n, t, f in store.iter_all_heads(cluster.ws)}
        by_id: dict[str, Frame] = {f.frame_id: f for f in frames}
    assert {a.frame_id for a in acked} <= set(by_id)
    external = cluster.shared.policy.external
    assert external is not None
    hashes = sorted({by_id[a.frame_id].content_hash for a in acked})
    assert external.exists_many(cluster.ws, hashes) == set(hashes)  # in the shared blob store
    assert heads == {key: fid for key, (_, fid) in rebuilt.items()}
    for server in cluster.servers:
        with Client(server.url, token=cluster.owner_token) as client:
            for node in {*nodes, hot}:
                served = client.get_heads(cluster.ws, node).heads
                assert served == {t: f for (n, t), f in heads.items() if n == node}

    # The If-Match winners form one chain: each moved exactly the head it named.
    race = sorted((a for a in acked if a.frame_type == "race"), key=lambda a: by_id[a.frame_id].seq)
    assert len(race) == WRITERS * PUTS // 5
    assert race[0].if_match is None
    assert [a.if_match for a in race[1:]] == [a.frame_id for a in race[:-1]]
    assert heads[(hot, "race")] == race[-1].frame_id

    # The audit chain verifies on both servers and offline; the whole store verifies.
    for server in cluster.servers:
        with Client(server.url, token=cluster.owner_token) as client:
            verdict = client.verify_audit(cluster.ws)
            assert verdict.ok, verdict
            assert verdict.entries >= WRITERS * PUTS
    (cluster.tmp / "operator").mkdir()
    init = cluster.cli("init", "--store", cluster.shared.store_url, "--workspace", WS_NAME)
    assert init.returncode == 0, init.stdout + init.stderr
    shared = ("--store", cluster.shared.store_url, "--workspace", WS_NAME)
    audit = cluster.cli("audit", "verify", *shared)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    verify = cluster.cli("verify", *shared)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_no_server_serves_a_head_older_than_a_write_the_other_acknowledged(
    cluster: Cluster,
) -> None:
    """Each round the reader caches the head, the other server acknowledges a new one, the reader
    must answer it at once (on the Redis deployment the heads are cached: the stamps decide)."""
    with cluster.open() as store:
        node = dict(store.iter_all_paths(cluster.ws))[HOT]
    a, b = cluster.servers
    with (
        Client(a.url, token=cluster.owner_token) as writer,
        Client(b.url, token=cluster.owner_token) as reader,
    ):
        for round_ in range(25):
            before = reader.get_heads(cluster.ws, node).heads.get("fresh")
            assert reader.get_heads(cluster.ws, node).heads.get("fresh") == before
            done = writer.put_frame(
                cluster.ws, node, FrameSpec(frame_type="fresh", content=f"round {round_}")
            )
            assert reader.get_heads(cluster.ws, node).heads.get("fresh") == done.frame_id
            view = reader.get_node(cluster.ws, node)
            assert done.frame_id in [f.frame_id for f in view.frames]
        # A command-line writer of the same deployment stamps too (its settings name the cache).
        (cluster.tmp / "operator").mkdir()
        shared = ("--store", cluster.shared.store_url, "--workspace", WS_NAME)
        assert reader.get_heads(cluster.ws, node).heads["fresh"] == done.frame_id  # now cached
        for step in (
            ("init", *shared),
            ("agent", "add", "cli-writer", "--role", "writer", *shared),
            ("put", HOT, "--type", "fresh", "--agent", "cli-writer", "--content", "CLI", *shared),
        ):
            done_cli = cluster.cli(*step)
            assert done_cli.returncode == 0, done_cli.stdout + done_cli.stderr
        from_cli = reader.get_heads(cluster.ws, node).heads["fresh"]
        assert reader.get_frame(cluster.ws, from_cli).content == "CLI"
        metrics = httpx.get(f"{b.url}/v1/metrics").text
    if "TREEFRAME_CACHE__URL" in cluster.shared.env:
        hits = [
            line
            for line in metrics.splitlines()
            if line.startswith('treeframe_cache_requests_total{cache="head",result="hit"}')
        ]
        assert hits, metrics[-3000:]
        assert float(hits[0].split()[-1]) >= 25  # the second read of each round was a hit
