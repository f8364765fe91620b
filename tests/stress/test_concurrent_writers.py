"""Many writers, several processes, one SQLite store: nothing acknowledged is lost.

Four spawned processes each run 25 writer threads (100 concurrent writers)
appending frames through the real ContextAPI to a few shared nodes and frame
types, so (node, type) heads contend, plus one thread per process that keeps
synthesizing the same directory, contending on its compare-and-set append.
Afterwards every acknowledged frame must be stored, every put (an append or
a re-put that made a stored frame current again) must hold its own workspace
sequence number below the next one, every head must be the most recently put
frame of its (node, type),
every frame-set root must rebuild from its members and ``treeframe verify``
must pass.
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import sqlite3
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from tests.cli.helpers import make_tree, run_cli
from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.principal import Principal
from treeframe.engine.types import FrameInput
from treeframe.errors import SynthesisFailed
from treeframe.frames import merkle_set
from treeframe.frames.frame import Frame
from treeframe.hashing.ids import workspace_id
from treeframe.ids import NodeId
from treeframe.storage.base import Damaged, basis_refs
from treeframe.storage.registry import open_store
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree
from treeframe.workspace.layout import default_store_url

WS = workspace_id("default")
PROCESSES = 4
WRITERS_PER_PROCESS = 25
FRAMES_PER_WRITER = 20
SYNTHESES_PER_PROCESS = 15
SHARED_PATHS = ("src/a.py", "src/b.py", "src/c.py", "docs/guide.md")
FRAME_TYPES = ("note", "summary")
WRITER_AGENTS = ("a1", "a2")
COMMON_CONTENT = b"the same frame, put by every writer"
TREE = {
    "README.md": "# stress\n",
    "src/a.py": "A = 1\n",
    "src/b.py": "B = 2\n",
    "src/c.py": "C = 3\n",
    "docs/guide.md": "guide\n",
}
AGENTS = (
    AgentRecord("a", "synthesis"),
    AgentRecord("a1", "writer"),
    AgentRecord("a2", "writer"),
)


def _store_url(root: Path) -> str:
    return f"{default_store_url(root)}?busy_timeout_ms=60000"


def _writer(api: ContextAPI, proc: int, thread: int, start: threading.Barrier) -> list[str]:
    """Append FRAMES_PER_WRITER distinct frames round-robin, then the frame every writer puts."""
    start.wait(timeout=60)
    acked: list[str] = []
    for i in range(FRAMES_PER_WRITER):
        k = proc * WRITERS_PER_PROCESS + thread + i
        path = SHARED_PATHS[k % len(SHARED_PATHS)]
        frame_type = FRAME_TYPES[(k // len(SHARED_PATHS)) % len(FRAME_TYPES)]
        content = f"process {proc} writer {thread} frame {i}".encode()
        agent = WRITER_AGENTS[thread % len(WRITER_AGENTS)]
        acked.append(
            api.put_frame(
                path, FrameInput(frame_type, content), principal=api.agent_principal(agent)
            )
        )
    # Identical frames from 100 writers at once: exactly one append, the same ID for all.
    # Its own type: a re-put would make it current again, moving a "note" head
    # back to an older frame under the synthesizer (see _assert_syntheses_serialized).
    acked.append(
        api.put_frame(
            SHARED_PATHS[0],
            FrameInput("common", COMMON_CONTENT),
            principal=api.agent_principal("a1"),
        )
    )
    return acked


def _synthesizer(api: ContextAPI, start: threading.Barrier) -> tuple[list[str], int, int]:
    """Synthesize ``src`` repeatedly while its children's heads move.

    Returns (FrameIDs, runs that lost every CAS retry, runs before any input existed).
    """
    start.wait(timeout=60)
    acked: list[str] = []
    gave_up = early = 0
    rng = random.Random()
    for _ in range(SYNTHESES_PER_PROCESS):
        try:
            result = api.synthesize_branch(
                "src", "note", "concat", principal=api.agent_principal("a"), output_type="digest"
            )
        except SynthesisFailed as exc:
            # Documented outcomes that write nothing: losing every CAS retry, or
            # running before any writer has put a "note" on a child of src.
            if "nothing to synthesize" in exc.message:
                early += 1
            elif "kept losing races" in exc.message:
                gave_up += 1
            else:
                raise
        else:
            acked.extend(f.frame_id for f in result.frames)
        time.sleep(rng.uniform(0.0, 0.02))
    return acked, gave_up, early


def _worker_process(url: str, proc: int, barrier: Any, results: Any) -> None:
    """Runs in a spawned process: writer threads and one synthesizer over one store."""
    acked: list[str] = []
    errors: list[str] = []
    gave_up = early = 0
    lock = threading.Lock()
    try:
        with open_store(url) as store:
            api = ContextAPI(store, WS)
            api.resolve(SHARED_PATHS[0], principal=Principal.owner(api.ws))  # connected and warm
            start = threading.Barrier(WRITERS_PER_PROCESS + 1)

            def run(target: Any, *args: Any) -> None:
                nonlocal gave_up, early
                try:
                    out = target(api, *args, start)
                except BaseException:
                    with lock:
                        errors.append(f"process {proc}: {traceback.format_exc()}")
                    start.abort()
                    return
                with lock:
                    if target is _synthesizer:
                        acked.extend(out[0])
                        gave_up += out[1]
                        early += out[2]
                    else:
                        acked.extend(out)

            threads = [
                threading.Thread(target=run, args=(_writer, proc, t))
                for t in range(WRITERS_PER_PROCESS)
            ]
            threads.append(threading.Thread(target=run, args=(_synthesizer,)))
            barrier.wait(timeout=120)  # every process is up: start all threads together
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    except BaseException:
        errors.append(f"process {proc}: {traceback.format_exc()}")
    results.put({"acked": acked, "errors": errors, "gave_up": gave_up, "early": early})


class Auditor(threading.Thread):
    """Checks the store's invariants in read snapshots while the writers run.

    The end state alone cannot show a torn append: the last append on a node
    recomputes its set root and head from scratch, hiding an earlier mistake.
    Each snapshot is one SQLite read transaction on the raw tables, so it sees
    exactly the committed puts: distinct sequence numbers below ``next_seq``,
    every set root and count rebuilt from the node's members, every head the
    most recently put frame of its (node, type).
    """

    def __init__(self, db_path: Path) -> None:
        super().__init__(daemon=True)
        self.db_path = db_path
        self.stop = threading.Event()
        self.snapshots: list[int] = []  # frame count seen by each snapshot
        self.violations: list[str] = []

    def run(self) -> None:
        conn = sqlite3.connect(self.db_path, isolation_level=None)
        try:
            (wid,) = conn.execute(
                "SELECT id FROM workspaces WHERE wsid = ?", (bytes.fromhex(WS),)
            ).fetchone()
            while not self.stop.is_set():
                conn.execute("BEGIN")
                try:
                    self.check(conn, wid)
                finally:
                    conn.execute("COMMIT")
                time.sleep(0.02)
        except Exception:
            self.violations.append(traceback.format_exc())
        finally:
            conn.close()

    def check(self, conn: sqlite3.Connection, wid: int) -> None:
        frames = conn.execute(
            "SELECT frame, node, type, seq, put_seq FROM frames WHERE ws = ? ORDER BY put_seq",
            (wid,),
        ).fetchall()
        (next_seq,) = conn.execute(
            "SELECT next_seq FROM workspaces WHERE id = ?", (wid,)
        ).fetchone()
        self.snapshots.append(len(frames))
        seen = f"snapshot of {len(frames)} frames"
        numbers = [seq for *_, seq, _put in frames] + [put for *_, seq, put in frames if put != seq]
        if len(set(numbers)) != len(numbers) or not all(0 < n < next_seq for n in numbers):
            self.violations.append(f"{seen}: puts do not hold distinct seqs below {next_seq}")
        members: dict[bytes, list[bytes]] = {}
        newest: dict[tuple[bytes, str], bytes] = {}
        for frame, node, frame_type, _seq, _put in frames:
            members.setdefault(node, []).append(frame)
            newest[(node, frame_type)] = frame  # ordered by put_seq: the last one wins
        sets = {
            node: (root, count)
            for node, root, count in conn.execute(
                "SELECT node, root, count FROM frame_sets WHERE ws = ?", (wid,)
            )
        }
        rebuilt = {node: (merkle_set.root_of_raw(ids), len(ids)) for node, ids in members.items()}
        if sets != rebuilt:
            bad = sorted(
                n.hex()[:12] for n in set(sets) | set(rebuilt) if sets.get(n) != rebuilt.get(n)
            )
            self.violations.append(f"{seen}: frame sets disagree with members on {bad}")
        heads = {
            (node, frame_type): frame
            for node, frame_type, frame in conn.execute(
                "SELECT node, type, frame FROM heads WHERE ws = ?", (wid,)
            )
        }
        if heads != newest:
            self.violations.append(f"{seen}: a head is not the latest put of its type")


def _assert_consistent(url: str, acked: set[str]) -> None:
    with open_store(url) as store:
        frames: list[Frame] = []
        for item in store.iter_all_frames(WS):
            assert not isinstance(item, Damaged), item
            frames.append(item)
        stored = {f.frame_id for f in frames}
        assert acked <= stored, f"{len(acked - stored)} acknowledged frames are missing"
        assert stored == acked, "the store holds frames nobody acknowledged"
        numbers = [f.seq for f in frames] + [f.put_seq for f in frames if f.put_seq != f.seq]
        assert len(set(numbers)) == len(numbers), "two puts share a sequence number"
        for frame in frames:
            for ref in basis_refs(frame):
                known = ref in stored or store.get_node(WS, NodeId(ref)) is not None
                assert known, f"frame {frame.frame_id} names unknown basis ref {ref}"

        nodes_with_frames = {f.node_id for f in frames}
        heads = list(store.iter_all_heads(WS))
        assert {(n, t) for n, t, _ in heads} == {(f.node_id, f.frame_type) for f in frames}
        for node_id, frame_type, head in heads:
            target = store.get_frame(WS, head)
            assert target is not None
            assert (target.node_id, target.frame_type) == (node_id, frame_type)
            newest = max(
                (f for f in frames if f.node_id == node_id and f.frame_type == frame_type),
                key=lambda f: f.put_seq,
            )
            assert head == newest.frame_id, f"lost head update on {node_id}:{frame_type}"

        sets = dict(store.iter_all_frame_sets(WS))
        assert set(sets) == nodes_with_frames
        for node_id, state in sets.items():
            members = store.node_frame_ids(WS, node_id)
            assert sorted(members) == sorted(f.frame_id for f in frames if f.node_id == node_id)
            assert (state.root, state.count) == (merkle_set.root_of(members), len(members))


def _assert_syntheses_serialized(url: str) -> None:
    """Each synthesis of ``src`` read its inputs after the one it replaced was appended.

    The synthesizer appends against the head it read before reading its
    inputs, and child heads only move forward; so along the directory's
    synthesis frames (in append order) every child's input never goes back to
    an older frame. A synthesis appended over a head it never saw could.
    """
    with open_store(url) as store:
        src = ContextAPI(store, WS).resolve("src", principal=Principal.owner(WS))
        digests = sorted(
            store.iter_node_frames(WS, src.node_id, frame_type="digest"), key=lambda f: f.seq
        )
        assert digests, "no synthesis was appended"
        inputs = store.get_frames(WS, [c for d in digests for c in d.basis.child_frames])
        latest: dict[str, int] = {}
        for digest in digests:
            for child in digest.basis.child_frames:
                frame = inputs[child]
                assert frame.seq >= latest.get(frame.node_id, 0), (
                    f"synthesis {digest.frame_id} (seq {digest.seq}) took an older input"
                    f" on {frame.node_id} than the synthesis it replaced"
                )
                latest[frame.node_id] = frame.seq


def _assert_interleaved(url: str, reports: list[dict[str, Any]]) -> None:
    """The processes really wrote at the same time: their appends alternate in seq order."""
    owner = {f: i for i, r in enumerate(reports) for f in r["acked"] if f}
    with open_store(url) as store:
        order = [owner.get(f.frame_id) for f in store.iter_all_frames(WS) if isinstance(f, Frame)]
    switches = sum(1 for x, y in itertools.pairwise(order) if x != y)
    assert switches > 4 * PROCESSES, f"appends barely overlapped ({switches} process switches)"


def _run_workers(url: str) -> list[dict[str, Any]]:
    """Start the worker processes together and collect their reports."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=_worker_process, args=(url, p, barrier, results))
        for p in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=180) for _ in processes]
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0
        return reports
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()


def test_hundred_writers_in_four_processes_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    make_tree(root, TREE)
    assert run_cli(root, "init", "--json").code == 0
    for agent in AGENTS:
        added = run_cli(root, "agent", "add", agent.agent_id, "--role", agent.role)
        assert added.code == 0, added.stderr
    scanned = run_cli(root, "scan", "--json")
    assert scanned.code == 0, scanned.stderr
    url = _store_url(root)

    started = time.perf_counter()
    auditor = Auditor(root / ".treeframe" / "store.db")
    auditor.start()
    try:
        reports = _run_workers(url)
    finally:
        auditor.stop.set()
        auditor.join(timeout=60)
    elapsed = time.perf_counter() - started

    errors = [e for r in reports for e in r["errors"]]
    assert not errors, "\n".join(errors)
    acked = [f for r in reports for f in r["acked"]]
    gave_up = sum(r["gave_up"] for r in reports)
    early = sum(r["early"] for r in reports)
    writes = PROCESSES * WRITERS_PER_PROCESS * (FRAMES_PER_WRITER + 1)
    assert len(acked) == writes + PROCESSES * SYNTHESES_PER_PROCESS - gave_up - early
    assert gave_up + early < PROCESSES * SYNTHESES_PER_PROCESS
    assert not auditor.violations, "\n".join(auditor.violations[:10])
    mid_run = [n for n in auditor.snapshots if 0 < n < len(set(acked))]
    assert len(mid_run) >= 5, f"the auditor saw too few snapshots mid-run: {auditor.snapshots}"
    _assert_consistent(url, set(acked))
    _assert_syntheses_serialized(url)
    _assert_interleaved(url, reports)

    verified = run_cli(root, "verify", "--json")
    assert verified.code == 0, verified.stdout + verified.stderr
    assert verified.json()["ok"] is True
    print(
        f"{len(set(acked))} frames, {gave_up} syntheses gave up, {len(mid_run)} snapshots"
        f" audited mid-run, writers took {elapsed:.1f} s"
    )


def _race_two_syntheses(apis: list[ContextAPI]) -> dict[str, str]:
    """Synthesize ``src`` from notes and from summaries at once, one thread and store each."""
    start = threading.Barrier(len(apis))
    returned: dict[str, str] = {}
    errors: list[BaseException] = []

    def synthesize(api: ContextAPI, input_type: str) -> None:
        try:
            start.wait(timeout=30)
            result = api.synthesize_branch(
                "src",
                input_type,
                "concat",
                principal=api.agent_principal("a"),
                output_type="digest",
            )
            returned[input_type] = result.frames[0].frame_id
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=synthesize, args=(api, input_type))
        for api, input_type in zip(apis, FRAME_TYPES, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return returned


def test_two_threads_synthesizing_one_directory_leave_a_fresh_head(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    make_tree(root, TREE)
    url = f"sqlite://{tmp_path / 'store.db'}?busy_timeout_ms=60000"
    with open_store(url) as store, open_store(url) as other:
        store.create_workspace(workspace_info(WS, "default"))
        scan_tree(root, store, WS, workers=1)
        api = ContextAPI(store, WS)
        for agent in AGENTS:
            api.agents.register(agent)
        src = api.resolve("src", principal=Principal.owner(api.ws)).node_id
        for round_no in range(8):
            for path in SHARED_PATHS[:3]:  # the children of src: new inputs every round
                for frame_type in FRAME_TYPES:
                    content = f"{frame_type} of {path}, round {round_no}".encode()
                    api.put_frame(
                        path, FrameInput(frame_type, content), principal=api.agent_principal("a1")
                    )

            returned = _race_two_syntheses([api, ContextAPI(other, WS)])

            assert len(set(returned.values())) == 2  # different inputs: two frames appended
            head = store.get_head(WS, src, "digest")
            assert head in returned.values()
            assert head == next(store.iter_node_frames(WS, src, frame_type="digest")).frame_id
            (served,) = api.get_frames_batch([head], principal=Principal.owner(api.ws))
            assert served.stale is False
            assert api.stale("src", principal=Principal.owner(api.ws)).frames == ()
