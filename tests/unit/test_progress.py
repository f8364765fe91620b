"""One progress shape for every long operation: the throttle, the tracker, and each operation's phases.

Every operation runs for real (MemoryStore or SQLite, a real directory) with a
:class:`ProgressTracker` as its callback; each must report the phases
docs/CLI.md "Progress" lists for it and end each with ``done == total``.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from tests.snapshot.workspaces import WS, engine, populate
from treeframe.engine.principal import Principal
from treeframe.engine.types import FrameInput
from treeframe.observability import progress as progress_module
from treeframe.observability.progress import (
    ProgressTracker,
    is_bytes_phase,
    no_progress,
    throttled,
)
from treeframe.snapshot.export import export_snapshot
from treeframe.snapshot.importer import import_snapshot
from treeframe.storage.memory import MemoryStore
from treeframe.storage.transfer import COPY_KINDS, copy_store
from treeframe.tree.scan import scan_tree
from treeframe.workspace.verify import PHASES as VERIFY_PHASES
from treeframe.workspace.verify import verify_store


def finals(tracker: ProgressTracker) -> dict[str, tuple[int, int | None]]:
    """Each phase's last (done, total), in first-reported order."""
    return {p.phase: (p.done, p.total) for p in tracker.phases()}


def assert_every_phase_ended(tracker: ProgressTracker) -> None:
    for phase, (done, total) in finals(tracker).items():
        assert total == done, phase


# -- the mechanism --------------------------------------------------------


def test_bytes_phases_are_named_bytes_or_end_in_bytes() -> None:
    assert is_bytes_phase("bytes")
    assert is_bytes_phase("content_bytes")
    assert not is_bytes_phase("files")
    assert not is_bytes_phase("bytesize")


def test_throttled_passes_the_first_call_and_every_phase_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    calls: list[tuple[str, int, int | None]] = []
    tick = throttled(lambda *call: calls.append(call))
    assert tick is not None
    for done in range(1, 1001):
        tick("items", done, None)
    assert calls == [("items", 1, None)]  # the clock did not move: one call
    now[0] += progress_module.INTERVAL
    tick("items", 1001, None)
    tick("items", 1002, 1002)  # a phase's end always passes
    assert calls[1:] == [("items", 1001, None), ("items", 1002, 1002)]
    assert throttled(None) is None


def test_the_tracker_keeps_the_latest_count_of_each_phase_across_threads() -> None:
    tracker = ProgressTracker()
    threads = [
        threading.Thread(target=lambda n=n: [tracker(f"p{n}", i, 999) for i in range(1000)])
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert finals(tracker) == {f"p{n}": (999, 999) for n in range(4)}
    no_progress("ignored", 1, None)


# -- each operation -------------------------------------------------------


def test_scan_reports_files_hashed_and_bytes(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.txt").write_text("one\n")
    (root / "two.txt").write_text("two two\n")
    store = MemoryStore()
    store.create_workspace(_info())
    tracker = ProgressTracker()
    result = scan_tree(root, store, WS, workers=1, progress=tracker)
    assert finals(tracker) == {"files": (2, 2), "hashed": (2, 2), "bytes": (12, 12)}
    assert result.bytes_hashed == 12


def test_export_and_import_report_their_phases(tmp_path: Path) -> None:
    source = MemoryStore()
    populate(source)
    exported = ProgressTracker()
    out = io.BytesIO()
    report = export_snapshot(source, WS, out, progress=exported)
    assert list(finals(exported)) == ["records", "content_bytes"]
    assert_every_phase_ended(exported)
    counts = report.manifest.counts
    assert finals(exported)["records"][0] == counts.nodes
    assert finals(exported)["content_bytes"][0] == counts.content_bytes
    archive = tmp_path / "ws.tar"
    archive.write_bytes(out.getvalue())
    imported = ProgressTracker()
    import_snapshot(MemoryStore(), archive, progress=imported)
    size = archive.stat().st_size
    assert finals(imported) == {"verify_bytes": (size, size), "import_bytes": (size, size)}


def test_migrate_reports_every_copy_kind() -> None:
    source = MemoryStore()
    populate(source)
    tracker = ProgressTracker()
    report = copy_store(source, MemoryStore(), progress=tracker)
    assert set(finals(tracker)) == set(COPY_KINDS)
    assert finals(tracker)["node"] == (report.seen["node"], report.seen["node"])
    assert_every_phase_ended(tracker)


def test_verify_reports_one_phase_per_verify_phase() -> None:
    store = MemoryStore()
    populate(store)
    tracker = ProgressTracker()
    report = verify_store(store, WS, tracker)
    assert report.ok
    assert list(finals(tracker)) == list(VERIFY_PHASES)
    assert {phase: done for phase, (done, _) in finals(tracker).items()} == report.checked
    assert_every_phase_ended(tracker)


@pytest.mark.parametrize("dry_run", [True, False])
def test_regenerate_reports_nodes_and_frames(tmp_path: Path, dry_run: bool) -> None:
    store = MemoryStore()
    tree = tmp_path / "tree"
    populate(store, tree)
    api = engine(store, tree)
    (tree / "src/db/pool.py").write_text("# changed\n", encoding="utf-8")
    scan_tree(tree, store, WS, workers=1)
    api.put_frame(
        "src/db/pool.py", FrameInput("summary", b"new"), principal=api.agent_principal("writer")
    )
    tracker = ProgressTracker()
    owner = Principal.owner(WS)
    report = api.regenerate(".", recursive=True, dry_run=dry_run, principal=owner, progress=tracker)
    assert report.regenerated_count > 0
    nodes = sum(1 for _ in walk(store))
    assert finals(tracker) == {
        "nodes": (nodes, nodes),
        "frames": (report.regenerated_count, report.regenerated_count),
    }


def walk(store: MemoryStore) -> list[str]:
    """Every node of the current tree (the regeneration scope of the root, recursive)."""
    from treeframe.engine.walk import walk_post_order

    current = store.current_root(WS)
    assert current is not None
    root = store.get_node(WS, current.root)
    assert root is not None
    return [n.node_id for n in walk_post_order(store, WS, root)]


def _info():  # type: ignore[no-untyped-def]
    from treeframe.testing.factories import workspace_info

    return workspace_info(WS, "progress")
