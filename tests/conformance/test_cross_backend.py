"""Cross-backend determinism: one scripted workload, identical observables on every combination.

The workload drives the engine as the CLI and the API do (scan, put, CAS put,
re-put, synthesis, edits and a rescan, regeneration, views, proofs, history)
on every store kind x blob placement x codec of ``tests/backends.py`` and
records everything a client can observe as one canonical JSON structure. Each
combination must give exactly the reference's (memory, no external store, no
compression), and the reference must give the committed golden file, so a
change of the reference itself is caught too. The golden file holds one SHA-256 per observable. Regenerate it
after an intended format change with ``TREEFRAME_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.backends import (
    EXTERNAL_INLINE_MAX,
    REFERENCE,
    REOPENABLE,
    Combination,
    Opened,
    Services,
    combinations,
    open_combination,
)
from treeframe.clock import FixedClock
from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.principal import Principal
from treeframe.engine.runtime import Runtime
from treeframe.engine.types import FrameInput
from treeframe.errors import ConcurrentUpdate
from treeframe.frames import merkle_set
from treeframe.frames.views import ViewPolicy
from treeframe.hashing.ids import workspace_id
from treeframe.ids import FrameId
from treeframe.storage.base import StorageBackend
from treeframe.storage.dump import summarize
from treeframe.storage.values import Damaged
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree
from treeframe.workspace.working_tree import WorkingTreeContents

WS = workspace_id("cross-backend")
GOLDEN = Path(__file__).with_name("golden") / "cross_backend.sha256.json"
START = "2026-01-01T00:00:00.000000Z"
PAST_NS = 1_700_000_000 * 10**9
"""Every fixture file's mtime: an instant long past, the same on every run."""

LARGE = 3 * EXTERNAL_INLINE_MAX
"""Bigger than an external placement's inline_max: those contents leave the record store."""

AGENTS = (
    AgentRecord("writer", "writer"),
    AgentRecord("reviewer", "writer"),
    AgentRecord("synth", "synthesis"),
)


def _tree() -> dict[str, bytes]:
    """The fixture tree: nested dirs, an empty file, a binary file, a file above inline_max."""
    files = {
        "README.md": b"# Fixture\nA tree for the cross-backend workload.\n",
        "empty.txt": b"",
        "assets/logo.bin": bytes(range(256)) * 4,
        "assets/large.dat": b"".join(b"line %05d of a large file\n" % i for i in range(400)),
        "docs/guide.md": b"# Guide\nHow to use it.\n",
        "docs/deep/er/still/deeper.md": b"deep\n",
    }
    for pkg in range(3):
        files[f"src/pkg{pkg}/__init__.py"] = f"# package {pkg}\n".encode()
        for mod in range(6):
            files[f"src/pkg{pkg}/mod{mod}.py"] = f"# module {pkg}.{mod}\nX = {pkg * mod}\n".encode()
    return files


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(PAST_NS, PAST_NS))


def canon(value: Any) -> Any:
    """A JSON-ready copy: dataclasses as dicts, tuples as lists, bytes as hex."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canon(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "to_dict"):
        return canon(value.to_dict())
    if isinstance(value, dict):
        return {str(k): canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canon(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


class Workload:
    """The scripted workload on one store; ``record`` collects every observable in order."""

    def __init__(self, store: StorageBackend, root: Path) -> None:
        self.store = store
        self.root = root
        self.clock = FixedClock(START, timedelta(milliseconds=1))
        self.api = ContextAPI(
            store, WS, files=WorkingTreeContents(root), runtime=Runtime(clock=self.clock)
        )
        self.out: dict[str, Any] = {}

    def record(self, key: str, value: Any) -> None:
        """Keep ``value`` canonically; a report's ``duration_ms`` is timing, not an observable."""
        assert key not in self.out, key
        data = canon(value)
        if isinstance(data, dict):
            data.pop("duration_ms", None)
        self.out[key] = data

    def who(self, agent: str) -> Principal:
        return self.api.agent_principal(agent)

    @property
    def owner(self) -> Principal:
        return Principal.owner(WS)

    def scan(self, label: str) -> None:
        result = scan_tree(self.root, self.store, WS, workers=1, clock=self.clock)
        self.record(
            f"scan.{label}",
            {
                "root": result.root,
                "changed": result.changed,
                "entry": result.entry,
                "counts": [result.files, result.dirs, result.symlinks, result.nodes_written],
                "skipped": result.skipped,
            },
        )

    def put(self, node: str, frame_type: str, content: bytes, agent: str, **extra: Any) -> FrameId:
        result = self.api.put_frame_record(
            node, FrameInput(frame_type, content, **extra), principal=self.who(agent)
        )
        self.record(f"put.{len(self.out)}", {"frame": result.frame, "created": result.created})
        return result.frame_id

    def run(self) -> dict[str, Any]:
        self.store.create_workspace(workspace_info(WS, "cross-backend"))
        for agent in AGENTS:
            self.api.agents.register(agent)
        for rel, data in _tree().items():
            _write(self.root, rel, data)
        (self.root / "src" / "run.sh").write_bytes(b"#!/bin/sh\necho run\n")
        (self.root / "src" / "run.sh").chmod(0o755)
        os.utime(self.root / "src" / "run.sh", ns=(PAST_NS, PAST_NS))
        (self.root / "docs" / "readme-link").symlink_to("../README.md")
        self.scan("first")
        self.frames()
        self.record(
            "synthesis",
            self.api.synthesize_branch(".", "summary", principal=self.who("synth"), recursive=True),
        )
        self.edit()
        self.scan("after-edits")
        self.record("stale", self.api.stale(".", recursive=True, principal=self.owner))
        self.record("regenerate", self.api.regenerate(".", recursive=True, principal=self.owner))
        self.scan("unchanged")
        self.reads()
        self.record("dump", dump(self.store))
        self.record("canonical-dump", summarize(self.store, WS))
        return self.out

    def frames(self) -> None:
        """Summaries by two agents, notes, binary and large contents, a re-put and CAS puts."""
        for rel in sorted(_tree()):
            self.put(rel, "summary", b"summary of " + rel.encode(), "writer")
        for pkg in range(3):
            self.put(f"src/pkg{pkg}/mod0.py", "review", b"looks fine %d" % pkg, "reviewer")
        self.put(
            "assets/logo.bin",
            "thumbnail",
            bytes(range(255, -1, -1)) * 2,
            "writer",
            content_type="application/octet-stream",
            metadata={"width": "16", "height": "16"},
        )
        first = self.put("README.md", "note", b"n" * LARGE, "writer")
        self.put("README.md", "note", b"".join(b"%d," % i for i in range(LARGE)), "reviewer")
        self.put("README.md", "note", b"n" * LARGE, "writer")  # re-put: head back to ``first``
        self.record("heads.readme.reput", self.api.heads("README.md", principal=self.owner))
        cas = self.api.put_frame_record(
            "README.md",
            FrameInput("note", b"checked update"),
            principal=self.who("writer"),
            expected_head=first,
        )
        self.record("put.cas", {"frame": cas.frame, "created": cas.created})
        with pytest.raises(ConcurrentUpdate) as conflict:
            self.api.put_frame_record(
                "README.md",
                FrameInput("note", b"lost update"),
                principal=self.who("reviewer"),
                expected_head=first,
            )
        self.record("put.cas-conflict", conflict.value.code)
        fresh = self.api.put_frame_record(
            "docs/guide.md",
            FrameInput("note", b"first note"),
            principal=self.who("reviewer"),
            expected_head=None,
        )
        self.record("put.cas-new", {"frame": fresh.frame, "created": fresh.created})

    def edit(self) -> None:
        """Change, add and delete files and a directory."""
        _write(self.root, "src/pkg0/mod1.py", b"# module 0.1, edited\nX = 100\n")
        _write(self.root, "assets/large.dat", b"shrunk\n")
        _write(self.root, "src/pkg3/new.py", b"# a new package\n")
        (self.root / "docs" / "guide.md").unlink()
        for rel in ("src/pkg2/mod4.py", "src/pkg2/mod5.py"):
            (self.root / rel).unlink()

    def reads(self) -> None:
        """Views, batches, heads, proofs, path and root history, contents."""
        views = {
            "recency-3": ViewPolicy(max_frames=3),
            "type": ViewPolicy(ordering="type", type_priority=("note", "summary")),
            "agent": ViewPolicy(ordering="agent", agent_priority=("reviewer",)),
            "types": ViewPolicy(types=("summary", "review")),
            "agents": ViewPolicy(agents=("writer",), max_frames=2),
            "bytes": ViewPolicy(max_bytes=2 * LARGE),
        }
        for node in ("README.md", ".", "src/pkg0", "src/pkg0/mod0.py", "assets/logo.bin"):
            for name, policy in views.items():
                self.record(
                    f"view.{node}.{name}", self.api.get_node(node, policy, principal=self.owner)
                )
        self.record(
            "view.previous",
            self.api.get_node("src/pkg0/mod1.py", include_previous=True, principal=self.owner),
        )
        paths = [".", "src", "src/pkg0/mod0.py", "src/pkg3/new.py", "assets/large.dat"]
        self.record("batch", self.api.get_nodes_batch(paths, principal=self.owner))
        self.record(
            "batch.filtered",
            self.api.get_nodes_batch(paths, ViewPolicy(types=("summary",)), principal=self.owner),
        )
        self.record("heads", {p: self.api.heads(p, principal=self.owner) for p in paths})
        proofs: dict[str, Any] = {}
        for path in ("README.md", "."):
            record = self.api.resolve(path, principal=self.owner)
            state = self.store.get_frame_set(WS, record.node_id)
            assert state is not None
            members = self.store.node_frame_ids(WS, record.node_id)
            for fid in members:
                proof = merkle_set.prove(members, fid)
                assert merkle_set.verify(proof, state.root)
                proofs[f"{path}:{fid}"] = proof
        self.record("proofs", proofs)
        self.record(
            "path-history",
            {
                p: self.store.path_history(WS, p, 10)
                for p in ("src/pkg0/mod1.py", "docs/guide.md", "src", "", "src/pkg3/new.py")
            },
        )
        self.record("root-history", self.store.root_history(WS, 10))
        self.record("root-history.paged", self.store.root_history(WS, 1, before_seq=3))


def dump(store: StorageBackend) -> dict[str, Any]:
    """Everything the workspace holds, in a canonical order, with each content's digest."""

    def live(items: Iterator[Any]) -> list[Any]:
        rows = list(items)
        assert not [r for r in rows if isinstance(r, Damaged)]
        return rows

    frames = live(store.iter_all_frames(WS))
    hashes = sorted({f.content_hash for f in frames})
    contents = store.blobs.get_many(WS, hashes)
    assert set(contents) == set(hashes)
    return {
        "nodes": sorted((canon(n) for n in live(store.iter_all_nodes(WS))), key=json.dumps),
        "frames": [dict(canon(f), put_seq=f.put_seq) for f in frames],
        "frame-sets": sorted(canon(list(store.iter_all_frame_sets(WS))), key=json.dumps),
        "heads": sorted(canon(list(store.iter_all_heads(WS)))),
        "paths": sorted(canon(list(store.iter_all_paths(WS)))),
        "path-history": canon(list(store.iter_all_path_history(WS))),
        "basis-refs": sorted(canon(list(store.iter_all_basis_refs(WS)))),
        "contents": {h: [len(d), hashlib.sha256(d).hexdigest()] for h, d in contents.items()},
        "blobs": sorted(h for h, _ in store.blobs.iter_all(WS)),
        "agents": canon(store.list_agents(WS)),
        "counts": canon(store.workspace_counts(WS)),
        "audit": canon(list(store.iter_audit(WS))),
    }


def run_workload(opened: Opened, root: Path) -> dict[str, Any]:
    """The workload's observables on ``opened`` (a fresh, empty store)."""
    return Workload(opened.store, root).run()


def digests(observed: dict[str, Any]) -> dict[str, str]:
    """SHA-256 of each observable's canonical JSON (the dump's parts one by one)."""
    parts = {k: v for k, v in observed.items() if k != "dump"}
    parts.update({f"dump.{k}": v for k, v in observed["dump"].items()})
    return {
        k: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()
        for k, v in sorted(parts.items())
    }


@pytest.fixture(scope="module")
def reference(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The reference combination's observables, checked against the committed digests."""
    tmp = tmp_path_factory.mktemp("reference")
    opened = open_combination(REFERENCE, Services(request, tmp / "store"))
    try:
        observed = run_workload(opened, tmp / "tree")
    finally:
        opened.store.close()
    got = digests(observed)
    if os.environ.get("TREEFRAME_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    drifted = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
    assert drifted == [], "the reference drifted from tests/conformance/golden"
    return observed


def _diff(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """The observables that differ (the dump's parts named one by one)."""
    keys = sorted(expected.keys() | got.keys())
    out = [k for k in keys if k != "dump" and expected.get(k) != got.get(k)]
    dumped = expected.get("dump", {}), got.get("dump", {})
    out += [
        f"dump.{k}"
        for k in sorted(dumped[0].keys() | dumped[1].keys())
        if dumped[0].get(k) != dumped[1].get(k)
    ]
    return out


@pytest.fixture(params=combinations(), ids=lambda c: c.id)
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opened]:
    """A fresh, empty store of one combination; closed after the test."""
    combination: Combination = request.param
    store = open_combination(combination, Services(request, tmp_path / "store"))
    try:
        yield store
    finally:
        store.store.close()


def test_workload_is_identical_on_every_combination(
    opened: Opened, reference: dict[str, Any], tmp_path: Path
) -> None:
    observed = run_workload(opened, tmp_path / "tree")
    assert _diff(reference, observed) == []
    assert observed == reference
    # The workload really exercised the placement: large contents are outside, if it has an outside.
    external = opened.policy.external
    if external is not None:
        large = {h for h, (size, _) in observed["dump"]["contents"].items() if size > LARGE - 1}
        assert len(large) == 2
        assert external.exists_many(WS, sorted(large)) == large


@pytest.mark.parametrize(
    "combination",
    [c for c in combinations() if c.store in REOPENABLE and c.codec in ("none", "zstd")],
    ids=lambda c: c.id,
)
def test_reopen_after_close_gives_the_same_observables(
    request: pytest.FixtureRequest, combination: Combination, tmp_path: Path
) -> None:
    opened = open_combination(combination, Services(request, tmp_path / "store"))
    try:
        tree = tmp_path / "tree"
        before = run_workload(opened, tree)
        store = opened.reopen()
        assert dump(store) == before["dump"]
        assert canon(summarize(store, WS)) == before["canonical-dump"]
        api = ContextAPI(store, WS, files=WorkingTreeContents(tree), runtime=Runtime())
        again = api.get_node("README.md", ViewPolicy(max_frames=3), principal=Principal.owner(WS))
        assert canon(again) == before["view.README.md.recency-3"]
    finally:
        opened.store.close()
