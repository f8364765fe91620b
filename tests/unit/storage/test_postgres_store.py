"""PostgresStore contracts of its own: URLs and pool options, reopen, atomicity, outages.

The outage test runs a private PostgreSQL cluster (``initdb`` + ``pg_ctl`` on
a free loopback port, as the current user; PostgreSQL refuses to run as
root, so under root as the ``postgres`` system user through ``runuser``),
stops it under an open store and starts it again; the cluster is always
stopped and removed afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import free_port, service_unavailable
from treeframe.errors import (
    BackendUnavailable,
    ConcurrentUpdate,
    ConfigError,
    StorageError,
    StoreNotFound,
)
from treeframe.frames.merkle_set import root_of_raw
from treeframe.storage.postgres import PostgresStore
from treeframe.storage.registry import open_store
from treeframe.storage.urls import postgres_target
from treeframe.testing.factories import (
    CREATED_AT,
    make_file,
    make_frame,
    make_ws,
    put_frame,
    workspace_info,
)
from treeframe.tree.records import NodeRecord

WS = make_ws("pg-store")


def test_pool_options_are_parsed() -> None:
    target = postgres_target(
        "postgresql://u:s3cret@db.example:6543/tf?pool_min=2&pool_max=7&pool_timeout=1.5"
        "&connect_timeout=3&prepare_threshold=none&sslmode=disable"
    )
    assert (target.pool_min, target.pool_max, target.pool_timeout) == (2, 7, 1.5)
    assert (target.connect_timeout, target.prepare_threshold) == (3, None)
    assert target.conninfo == "postgresql://u:s3cret@db.example:6543/tf?sslmode=disable"
    assert "s3cret" not in target.url
    assert target.url.startswith("postgresql://u@db.example:6543/tf?")
    assert postgres_target("postgres://h/db").pool_max == 10  # the short scheme and defaults


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://h/db?pool_size=3",  # unknown option
        "postgresql://h/db?pool_max=0",
        "postgresql://h/db?pool_min=5&pool_max=2",
        "postgresql://h/db?pool_timeout=-1",
        "postgresql://h/db?pool_timeout=soon",
        "postgresql://h/db?connect_timeout=0",
        "postgresql://h/db?pool_max=2&pool_max=3",
        "postgresql://h/",  # no database
        "postgresql:///db",  # no host
        "postgresql://h:99999/db",  # bad port
        "postgresql://h/db#frag",
    ],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url)


def test_registry_opens_postgres_and_hides_the_password(pg_database: str) -> None:
    with_password = pg_database.replace("postgres@", "postgres:not-needed@") + "?pool_max=2"
    with open_store(with_password) as store:
        assert isinstance(store, PostgresStore)
        assert "not-needed" not in store.url
        assert "not-needed" not in repr(store.url)
        store.create_workspace(workspace_info(WS, "pg-store"))
    with pytest.raises(ConfigError, match="pool_size"):
        open_store(pg_database + "?pool_size=2")


def test_a_missing_database_is_store_not_found(pg_database: str) -> None:
    missing = pg_database.rpartition("/")[0] + "/tf_no_such_database"
    with pytest.raises(StoreNotFound):
        open_store(missing)


def test_an_empty_database_is_refused_without_create(pg_database: str) -> None:
    with pytest.raises(StoreNotFound):
        open_store(pg_database, create=False)


def test_reopen_after_close_keeps_everything(pg_database: str) -> None:
    node = make_file("keep.txt", b"keep")
    with open_store(pg_database) as store:
        store.create_workspace(workspace_info(WS, "pg-store"))
        store.put_nodes(WS, [node])
        first = put_frame(store, WS, *make_frame(node, b"one"), root_of_raw, CREATED_AT).frame
    with pytest.raises(StorageError):
        store.get_node(WS, node.node_id)  # closed
    with open_store(pg_database, create=False) as again:
        assert again.get_node(WS, node.node_id) == node
        assert again.get_head(WS, node.node_id, "note") == first.frame_id
        second = put_frame(again, WS, *make_frame(node, b"two"), root_of_raw, CREATED_AT).frame
        assert second.seq == first.seq + 1  # the sequence survives reopening


def test_a_failed_unit_of_work_writes_nothing_and_consumes_no_seq(pg_database: str) -> None:
    node = make_file("unit.txt", b"unit")
    with open_store(pg_database) as store:
        store.create_workspace(workspace_info(WS, "pg-store"))
        store.put_nodes(WS, [node])
        put_frame(store, WS, *make_frame(node, b"before"), root_of_raw, CREATED_AT)

        def failing_unit() -> None:
            with store.unit_of_work():
                for i in range(3):
                    frame, body = make_frame(node, f"u{i}".encode())
                    put_frame(store, WS, frame, body, root_of_raw, CREATED_AT)
                store.put_agent(WS, "agent-u", b"{}")
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError, match="abort"):
            failing_unit()
        assert [f.seq for f in store.iter_node_frames(WS, node.node_id)] == [1]
        assert store.get_agent(WS, "agent-u") is None
        after = put_frame(store, WS, *make_frame(node, b"after"), root_of_raw, CREATED_AT).frame
        assert after.seq == 2


def test_read_only_store_refuses_writes(pg_database: str) -> None:
    with open_store(pg_database) as store:
        store.create_workspace(workspace_info(WS, "pg-store"))
    with open_store(pg_database, read_only=True) as ro:
        assert ro.get_workspace(WS) is not None
        with pytest.raises(StorageError):
            ro.put_agent(WS, "a", b"{}")


# -- outage: a private cluster stopped under an open store --------------------
def _as_server_user() -> list[str]:
    """The command prefix that runs PostgreSQL binaries as a user they accept."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        service_unavailable("running as root and runuser is not available for initdb")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        service_unavailable("running as root and there is no postgres user for initdb")
    return ["runuser", "-u", "postgres", "--"]


class Cluster:
    """A throwaway PostgreSQL cluster on a loopback port, in its own temporary directory."""

    def __init__(self, root: Path, prefix: list[str]) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sock"
        self.log = root / "pg.log"
        self.port = free_port()
        self.prefix = prefix

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *command: str, check: bool = True) -> None:
        subprocess.run([*self.prefix, *command], check=check, capture_output=True, timeout=120)

    def init(self) -> None:
        self.sockets.mkdir()
        if self.prefix:
            owner = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")

    def ctl(self, *args: str, check: bool = True) -> None:
        self.run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            *args,
            check=check,
        )

    def start(self) -> None:
        self.ctl("-o", f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-m", mode, "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        service_unavailable("initdb/pg_ctl are not on PATH")
    root = Path(tempfile.mkdtemp(prefix="tf-pg-outage-"))
    made = Cluster(root, _as_server_user())
    try:
        made.init()
        made.start()
        yield made
    finally:
        if made.data.exists():
            made.ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_outage_is_a_bounded_backend_unavailable_and_the_store_recovers(cluster: Cluster) -> None:
    url = cluster.url + "?pool_min=1&pool_max=2&pool_timeout=2&connect_timeout=2"
    with open_store(url) as store:
        store.create_workspace(workspace_info(WS, "pg-store"))
        cluster.stop()
        started = time.monotonic()
        with pytest.raises(BackendUnavailable):
            store.get_workspace(WS)
        with pytest.raises(BackendUnavailable):
            store.put_agent(WS, "agent-x", b"{}")
        assert time.monotonic() - started < 15  # bounded by the timeouts, no hang
        cluster.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                store.put_agent(WS, "agent-x", b"{}")
                break
            except BackendUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert store.get_agent(WS, "agent-x") == b"{}"


def test_an_unreachable_server_fails_fast_at_open() -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        open_store(f"postgresql://postgres@127.0.0.1:{free_port()}/db?connect_timeout=2")
    assert time.monotonic() - started < 10


def test_large_put_nodes_batches_go_through_copy_and_stay_idempotent(pg_database: str) -> None:
    other = make_ws("pg-other")
    first = [make_file(f"a/{i}.txt", str(i).encode()) for i in range(2500)]
    second = [make_file(f"b/{i}.txt", str(i).encode()) for i in range(2500)]
    with open_store(pg_database) as store:
        store.create_workspace(workspace_info(WS, "pg-store"))
        store.create_workspace(workspace_info(other, "pg-other"))
        store.put_nodes(WS, first)
        with store.unit_of_work():  # two COPY batches in one transaction, two workspaces
            store.put_nodes(WS, first[:1000] + second)
            store.put_nodes(other, second[:2000])
        assert store.workspace_counts(WS) == (5000, 0)
        assert store.workspace_counts(other) == (2000, 0)
        ids = [n.node_id for n in first + second]
        assert store.get_nodes(WS, ids) == {n.node_id: n for n in first + second}
        assert store.get_nodes(other, [n.node_id for n in first]) == {}


def test_a_deadlock_between_units_is_a_concurrent_update_and_one_unit_lands(
    pg_database: str,
) -> None:
    a, b = make_file("a.txt", b"a"), make_file("b.txt", b"b")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def unit(store: PostgresStore, first: NodeRecord, second: NodeRecord) -> None:
        try:
            with store.unit_of_work():
                frame, body = make_frame(first, b"1" + first.node_id.encode())
                put_frame(store, WS, frame, body, root_of_raw, CREATED_AT)
                barrier.wait(timeout=30)  # both hold their first node's lock now
                frame, body = make_frame(second, b"2" + first.node_id.encode())
                put_frame(store, WS, frame, body, root_of_raw, CREATED_AT)
            outcomes.append("committed")
        except ConcurrentUpdate:
            outcomes.append("concurrent_update")

    with open_store(pg_database) as store:
        assert isinstance(store, PostgresStore)
        store.create_workspace(workspace_info(WS, "pg-store"))
        store.put_nodes(WS, [a, b])
        threads = [
            threading.Thread(target=unit, args=(store, a, b)),
            threading.Thread(target=unit, args=(store, b, a)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["committed", "concurrent_update"]
        assert store.workspace_counts(WS) == (2, 2)  # only the winner's two frames
        seqs = [f.seq for f in store.iter_all_frames(WS)]
        # The loser drew a number before the winner's last one, so it cannot be
        # given back: seqs stay unique and increasing, with a gap (documented).
        assert len(set(seqs)) == 2
        assert set(seqs) <= {1, 2, 3}
