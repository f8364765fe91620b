"""The watcher's parts without file events: interval parsing, the path filter, batches."""

from __future__ import annotations

import os
import re
import sys
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from treeframe.engine.agents import AgentRecord
from treeframe.engine.principal import Principal
from treeframe.errors import ConfigError, FileChangedDuringScan, InvalidRequest
from treeframe.storage.urls import sqlite_url
from treeframe.workspace import Workspace
from treeframe.workspace.watch import (
    PathFilter,
    Watcher,
    WatchEvent,
    common_scope,
    own_paths,
    parse_interval,
    watch,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("200ms", 0.2), ("1s", 1.0), ("0.5s", 0.5), (".5s", 0.5), ("1.5ms", 0.0015), (" 2s ", 2.0)],
)
def test_parse_interval_accepts_ms_and_s(text: str, seconds: float):
    assert parse_interval(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "1", "1m", "0s", "0ms", "-1s", "3601s", "1e3ms", "nans", "1 s"]
)
def test_parse_interval_refuses_anything_else(text: str):
    with pytest.raises(InvalidRequest, match="invalid interval"):
        parse_interval(text)


@pytest.mark.parametrize(
    ("paths", "scope"),
    [
        (["a/b/c.txt"], "a/b/c.txt"),
        (["a/b/c.txt", "a/b/d.txt"], "a/b"),
        (["a/b/c.txt", "a/x"], "a"),
        (["a/b", "ab/c"], ""),
        (["a", "a/b/c"], "a"),
        ([""], ""),
    ],
)
def test_common_scope_is_the_lowest_common_ancestor(paths: list[str], scope: str):
    assert common_scope(paths) == scope


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for rel, text in {
        ".gitignore": "*.log\n!keep.log\nbuild/\n",
        "a.txt": "a\n",
        "keep.log": "kept\n",
        "x.log": "ignored\n",
        "build/out.o": "obj\n",
        "sub/.gitignore": "secret\n",
        "sub/secret": "s\n",
        "sub/open": "o\n",
        "data/other": "d\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def path_filter(tree: Path) -> PathFilter:
    return PathFilter(
        tree, [tree / ".treeframe"], [tree / "data" / "s.db", tree / "data" / "s.db-wal"]
    )


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("a.txt", "a.txt"),
        ("new/file", "new/file"),  # not there (any more): a deletion to rescan
        ("keep.log", "keep.log"),
        ("x.log", None),
        ("gone.log", None),  # vanished, but ignored as a file and as a directory
        ("build", None),
        ("build/out.o", None),
        ("sub/secret", None),
        ("sub/open", "sub/open"),
        ("sub/.gitignore", "sub"),  # an ignore file decides its whole directory
        (".gitignore", ""),
        (".treeframe/store.db-wal", None),
        (".treeframe", None),
        ("data/s.db-wal", None),
        ("data/other", "data/other"),
        (".git/index", None),
        ("sub/.git/objects/ab", None),
        ("", ""),
    ],
)
def test_filter_keeps_what_a_scan_records(
    tree: Path, path_filter: PathFilter, rel: str, expected: str | None
):
    assert path_filter.relative(str(tree / rel) if rel else str(tree)) == expected


def test_filter_drops_paths_outside_the_tree(tree: Path, path_filter: PathFilter):
    assert path_filter.relative(str(tree.parent / "elsewhere")) is None
    assert path_filter.relative(str(tree) + "-sibling/file") is None


def test_filter_takes_real_paths_of_a_root_reached_through_a_symlink(tree: Path):
    link = tree.parent / "link"
    link.symlink_to(tree)
    path_filter = PathFilter(link, [link / ".treeframe"])
    assert path_filter.relative(str(tree / "a.txt")) == "a.txt"
    assert path_filter.relative(str(link / "a.txt")) == "a.txt"
    assert path_filter.relative(str(tree / ".treeframe" / "store.db")) is None


def test_filter_keeps_a_vanished_path_only_a_directory_rule_ignores(tree: Path):
    # "build/" ignores directories only: a deleted file called build must still be rescanned.
    (tree / "build" / "out.o").unlink()
    (tree / "build").rmdir()
    assert PathFilter(tree).relative(str(tree / "build")) == "build"


def test_filter_normalizes_names_and_maps_undecodable_ones_to_their_directory(tree: Path):
    path_filter = PathFilter(tree)
    decomposed = unicodedata.normalize("NFD", "caf\u00e9")
    assert path_filter.relative(str(tree / "sub" / decomposed)) == "sub/caf\u00e9"
    assert path_filter.relative(str(tree / "sub" / os.fsdecode(b"\xff"))) == "sub"
    assert path_filter.relative(str(tree / os.fsdecode(b"bad\xfe") / "child")) == ""


def test_filter_reads_ignore_files_again_after_forget_rules(tree: Path):
    path_filter = PathFilter(tree)
    assert path_filter.relative(str(tree / "x.log")) is None
    (tree / ".gitignore").write_text("build/\n")
    assert path_filter.relative(str(tree / "x.log")) is None  # rules are kept until told
    path_filter.forget_rules()
    assert path_filter.relative(str(tree / "x.log")) == "x.log"


def test_own_paths_name_the_state_directory_and_a_store_inside_the_tree(tree: Path):
    url = sqlite_url(tree / "data" / "s.db")
    with Workspace.init(tree, cli={"store.url": url}) as ws:
        dirs, files = own_paths(ws)
    assert tree.absolute() / ".treeframe" in dirs
    assert {f.name for f in files} == {"s.db", "s.db-wal", "s.db-shm", "s.db-journal"}


class Recorder:
    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self.batches: list[list[str]] = []

    def event(self, event: WatchEvent) -> None:
        self.events.append(event)

    def batch(self, events: Sequence[WatchEvent]) -> None:
        self.batches.append([e.kind for e in events])


@pytest.fixture
def workspace(tree: Path) -> Iterator[Workspace]:
    with Workspace.init(tree) as ws:
        ws.scan(workers=1)
        yield ws


def _watcher(ws: Workspace, **options: int | bool) -> tuple[Watcher, Recorder]:
    report = Recorder()
    watcher = Watcher(ws, report, principal=Principal.owner(ws.ws), **options)  # type: ignore[arg-type]
    return watcher, report


def test_start_scans_and_reports_ready(workspace: Workspace):
    (workspace.root / "a.txt").write_text("changed before the start\n")
    watcher, report = _watcher(workspace, max_paths=7)
    watcher.start()
    [ready] = report.events
    assert ready.kind == "ready"
    assert ready.data["changed"] is True
    assert (ready.data["max_paths"], ready.data["debounce_ms"]) == (7, 200)


def test_batch_rescans_its_paths_then_reports_stale(workspace: Workspace):
    watcher, report = _watcher(workspace)
    (workspace.root / "sub" / "open").write_text("edited\n")
    (workspace.root / "sub" / "new").write_text("new\n")
    events = watcher.handle([str(workspace.root / "sub" / n) for n in ("open", "new")])
    assert [e.kind for e in events] == ["rescan", "stale"]
    assert events[0].data["paths"] == ["sub/new", "sub/open"]
    assert events[1].data["scope"] == "sub"
    assert report.batches == [["rescan", "stale"]]
    assert workspace.scan(workers=1).changed is False


def test_batch_of_only_ignored_and_own_paths_does_nothing(workspace: Workspace):
    watcher, report = _watcher(workspace)
    own = [workspace.root / ".treeframe" / "store.db-wal", workspace.root / "x.log"]
    assert watcher.handle(map(str, own)) == []
    assert (watcher.rescans, report.events) == (0, [])


def test_unchanged_rescan_reports_no_stale(workspace: Workspace):
    watcher, _ = _watcher(workspace)
    events = watcher.handle([str(workspace.root / "a.txt")])
    assert [e.kind for e in events] == ["rescan"]
    assert events[0].data["changed"] is False


def test_batch_above_max_paths_rescans_the_whole_tree(workspace: Workspace):
    watcher, _ = _watcher(workspace, max_paths=2)
    for name in ("p", "q", "r"):
        (workspace.root / name).write_text(name)
    events = watcher.handle(str(workspace.root / n) for n in ("p", "q", "r"))
    assert (events[0].data["full"], events[0].data["paths"]) == (True, None)
    assert workspace.scan(workers=1).changed is False


def test_failed_rescan_is_reported_and_retried(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
):
    watcher, _ = _watcher(workspace)
    real_scan = workspace.scan
    calls: list[object] = []

    def flaky(**kwargs: object) -> object:
        calls.append(kwargs)
        if len(calls) == 1:
            raise FileChangedDuringScan("sub/open changed while it was read")
        return real_scan(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(workspace, "scan", flaky)
    (workspace.root / "sub" / "open").write_text("edited\n")
    [error] = watcher.handle([str(workspace.root / "sub" / "open")])
    assert error.kind == "error"
    assert error.data == {
        "stage": "rescan",
        "code": "file_changed_during_scan",
        "message": "sub/open changed while it was read",
        "retry": True,
    }
    assert watcher.retry_in is not None
    # No new event came: the retry rescans what the failed batch owed.
    retried = watcher.handle(())
    assert retried[0].kind == "rescan"
    assert retried[0].data["paths"] == ["sub/open"]
    assert watcher.retry_in is None


def test_filter_drops_the_file_its_output_goes_to(tree: Path):
    log = tree / "watch.log"
    with log.open("w") as out:
        path_filter = PathFilter(tree, outputs=[out.fileno()])
        assert path_filter.relative(str(log)) is None
    assert path_filter.relative(str(tree / "a.txt")) == "a.txt"


def test_regenerate_also_rebuilds_the_syntheses_above_the_change(workspace: Workspace):
    api, owner = workspace.api, Principal.owner(workspace.ws)
    api.register_agent(AgentRecord("gen", "writer", generator="stats"), principal=owner)
    api.register_agent(AgentRecord("synth", "synthesis"), principal=owner)
    node = workspace.resolve(str(workspace.root / "sub" / "open"))
    workspace.put_frame(node, "stats", b"?", principal=api.agent_principal("gen"))
    root = workspace.resolve(str(workspace.root))
    api.synthesize_branch(
        root.node_id, "stats", "concat", principal=api.agent_principal("synth"), recursive=True
    )
    watcher, _ = _watcher(workspace, regenerate=True)
    (workspace.root / "sub" / "open").write_text("edited\nlines\n")
    events = watcher.handle([str(workspace.root / "sub" / "open")])
    assert [e.kind for e in events] == ["rescan", "stale", "regenerated"]
    regenerated = events[2].data
    assert regenerated["scope"] == "sub/open"
    # The file's stats frame, then the syntheses of sub and of the root.
    assert regenerated["regenerated_count"] == 3
    current = workspace.resolve(str(workspace.root))
    left = api.stale(current.node_id, recursive=True, principal=owner).frames
    # Only the syntheses' gaps (children without a stats frame) remain: nothing to recompute.
    assert [(f.recomputable, f.reason.split(":")[0]) for f in left] == [(False, "incomplete")] * 2


def test_agents_regenerates_what_a_model_agent_wrote(workspace: Workspace):
    from treeframe.engine.generation import GenerateOptions

    api, owner = workspace.api, Principal.owner(workspace.ws)
    api.register_agent(AgentRecord("describer", "writer", ("synthesize",)), principal=owner)
    who = api.agent_principal("describer")
    made = api.generate("", GenerateOptions(recursive=True), principal=who)
    assert made.count("generated") > 0
    plain, _ = _watcher(workspace, regenerate=True)
    (workspace.root / "sub" / "open").write_text("edited once\n")
    events = plain.handle([str(workspace.root / "sub" / "open")])
    assert [e.kind for e in events] == ["rescan", "stale", "regenerated"]
    assert events[2].data["regenerated_count"] == 0  # model frames need --agents
    watcher, _ = _watcher(workspace, agents=True)
    (workspace.root / "sub" / "open").write_text("edited twice\n")
    events = watcher.handle([str(workspace.root / "sub" / "open")])
    assert [e.kind for e in events] == ["rescan", "stale", "regenerated"]
    assert events[2].data["regenerated_count"] >= 3  # the file, sub and the root
    current = workspace.resolve(str(workspace.root))
    assert api.stale(current.node_id, recursive=True, principal=owner).frames == ()


def test_start_on_a_directory_scans_only_it(workspace: Workspace):
    (workspace.root / "a.txt").write_text("outside the watched directory\n")
    watcher, report = _watcher(workspace)
    watcher.start("sub")
    assert report.events[0].data["path"] == "sub"
    assert report.events[0].data["changed"] is False
    assert workspace.scan(workers=1).changed is True  # a.txt was left for a full scan


def test_without_watchfiles_the_error_names_the_extra(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "watchfiles._rust_notify", None)  # import fails
    report = Recorder()
    with pytest.raises(ConfigError, match=re.escape("pip install 'treeframe[watch]'")):
        watch(workspace, report, principal=Principal.owner(workspace.ws), stop=threading.Event())
    assert report.events == []
