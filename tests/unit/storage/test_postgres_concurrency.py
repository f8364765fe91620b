"""PostgresStore contracts across processes: head CAS, parallel appends, concurrent openers.

Every worker is a separate process (spawned) with its own store and pool on
one real database, as several ``treeframe serve`` instances would be.
"""

from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.synchronize
from collections.abc import Iterator

import pytest

from treeframe.errors import ConcurrentUpdate
from treeframe.frames.merkle_set import root_of, root_of_raw
from treeframe.hashing.audit import GENESIS, audit_entry_hash
from treeframe.storage.base import AuditDraft
from treeframe.storage.postgres import PostgresStore
from treeframe.testing.factories import (
    CREATED_AT,
    make_file,
    make_frame,
    make_ws,
    put_frame,
    workspace_info,
)

WS = make_ws("pg-contract")
NODE = make_file("cas.txt", b"cas")
WORKERS = 4
ROUNDS = 6
PER_WORKER = 15
_SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def store(pg_database: str) -> Iterator[PostgresStore]:
    with PostgresStore(pg_database, url=pg_database) as opened:
        opened.create_workspace(workspace_info(WS, "pg-contract"))
        opened.put_nodes(WS, [NODE])
        yield opened


def _cas_worker(
    url: str, worker: int, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue
) -> None:
    """Each round: wait for all, read the head, wait for all reads, CAS-append against it.

    The second wait makes every read of a round come before any put of it:
    without it a slow worker could read the round's winner and rightly win a
    CAS against it too (two winners, both correct).
    """
    with PostgresStore(url, url=url, pool_max=2) as store:
        for round_no in range(ROUNDS):
            barrier.wait(timeout=60)
            head = store.get_head(WS, NODE.node_id, "note")
            barrier.wait(timeout=60)  # every worker has read the head before anyone puts
            frame, content = make_frame(NODE, f"round {round_no} worker {worker}".encode())
            try:
                put_frame(store, WS, frame, content, root_of_raw, CREATED_AT, expected_head=head)
                out.put((round_no, worker, "won", frame.frame_id, head))
            except ConcurrentUpdate:
                out.put((round_no, worker, "lost", frame.frame_id, head))
            barrier.wait(timeout=60)  # every put of the round is done before the next read


def _append_worker(url: str, worker: int, out: multiprocessing.Queue) -> None:
    """Append PER_WORKER frames to this worker's own nodes (no CAS)."""
    nodes = [make_file(f"w{worker}/n{i}.txt", f"{worker}-{i}".encode()) for i in range(PER_WORKER)]
    with PostgresStore(url, url=url, pool_max=2) as store:
        store.put_nodes(WS, nodes)
        for node in nodes:
            frame, content = make_frame(node, f"by {worker}".encode())
            stored = put_frame(store, WS, frame, content, root_of_raw, CREATED_AT).frame
            out.put((node.node_id, stored.frame_id, stored.seq))


def _audit_worker(url: str, worker: int) -> None:
    """Append PER_WORKER audit entries, each in a unit of work with a change, as the Auditor does."""
    with PostgresStore(url, url=url, pool_max=2) as store:
        for i in range(PER_WORKER):
            with store.unit_of_work():
                store.put_agent(WS, f"agent-{worker}", str(i).encode())
                store.append_audit(
                    WS,
                    AuditDraft(
                        CREATED_AT,
                        f"agent-{worker}",
                        "agent.register",
                        None,
                        None,
                        True,
                        None,
                        None,
                    ),
                )


def _open_worker(
    url: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue
) -> None:
    barrier.wait(timeout=60)
    with PostgresStore(url, url=url, pool_max=1) as store:
        out.put(store.schema_status().current)


def _run(processes: list[multiprocessing.process.BaseProcess]) -> None:
    for proc in processes:
        proc.start()
    for proc in processes:
        proc.join(timeout=120)
    for proc in processes:
        if proc.is_alive():
            proc.kill()
    assert [p.exitcode for p in processes] == [0] * len(processes)


def _drain(queue: multiprocessing.Queue, count: int) -> list[tuple[object, ...]]:
    return [queue.get(timeout=30) for _ in range(count)]


def test_cas_across_processes_has_exactly_one_winner_per_round(
    store: PostgresStore, pg_database: str
) -> None:
    barrier = _SPAWN.Barrier(WORKERS)
    out = _SPAWN.Queue()
    _run(
        [
            _SPAWN.Process(target=_cas_worker, args=(pg_database, w, barrier, out))
            for w in range(WORKERS)
        ]
    )
    results = _drain(out, WORKERS * ROUNDS)
    winners: list[str] = []
    previous = None
    for round_no in range(ROUNDS):
        this_round = [r for r in results if r[0] == round_no]
        won = [r for r in this_round if r[2] == "won"]
        assert len(won) == 1, this_round
        assert all(r[4] == previous for r in this_round)  # everyone read the last winner
        previous = won[0][3]
        winners.append(str(previous))
    assert store.get_head(WS, NODE.node_id, "note") == winners[-1]
    frames = list(store.iter_node_frames(WS, NODE.node_id))
    assert [f.frame_id for f in frames] == winners[::-1]  # only winners were stored, in order
    assert [f.seq for f in frames] == list(range(ROUNDS, 0, -1))  # losers consumed no seq
    assert store.get_frame_set(WS, NODE.node_id) == (
        type(store.get_frame_set(WS, NODE.node_id))(root_of([f.frame_id for f in frames]), ROUNDS)
    )


def test_writers_on_different_nodes_in_several_processes_all_land(
    store: PostgresStore, pg_database: str
) -> None:
    out = _SPAWN.Queue()
    _run(
        [_SPAWN.Process(target=_append_worker, args=(pg_database, w, out)) for w in range(WORKERS)]
    )
    results = _drain(out, WORKERS * PER_WORKER)
    seqs = sorted(int(str(r[2])) for r in results)
    assert seqs == list(range(1, WORKERS * PER_WORKER + 1))  # unique and gapless
    heads = store.get_heads_many(WS, [str(r[0]) for r in results])  # type: ignore[misc]
    assert {n: h["note"] for n, h in heads.items()} == {r[0]: r[1] for r in results}
    stored = list(store.iter_all_frames(WS))
    assert len(stored) == WORKERS * PER_WORKER
    assert store.workspace_counts(WS) == (1 + WORKERS * PER_WORKER, WORKERS * PER_WORKER)


def test_audit_chain_stays_gapless_and_linked_across_processes(
    store: PostgresStore, pg_database: str
) -> None:
    _run([_SPAWN.Process(target=_audit_worker, args=(pg_database, w)) for w in range(WORKERS)])
    chain = list(store.iter_audit(WS))
    assert [e.seq for e in chain] == list(range(1, WORKERS * PER_WORKER + 1))
    assert chain[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(chain):
        assert after.prev_hash == before.entry_hash
    for entry in chain:
        assert audit_entry_hash(entry.fields()) == entry.entry_hash
    assert [a for a, _ in store.list_agents(WS)] == [f"agent-{w}" for w in range(WORKERS)]


def test_two_processes_create_the_schema_of_an_empty_database_once(pg_database: str) -> None:
    barrier = _SPAWN.Barrier(2)
    out = _SPAWN.Queue()
    _run([_SPAWN.Process(target=_open_worker, args=(pg_database, barrier, out)) for _ in range(2)])
    assert _drain(out, 2) == [1, 1]
    with PostgresStore(pg_database, url=pg_database) as store:
        status = store.schema_status()
        assert (status.current, status.pending) == (1, ())
        assert store.migrate_schema() == ()  # idempotent: nothing left to apply
