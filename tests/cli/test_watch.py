"""``treeframe watch``: a real subprocess on a real tree, driven by real file events.

The store is the default SQLite one inside the watched tree (``.treeframe/``),
so every test also shows that the watcher never reacts to its own writes.
Every line it prints is checked against the ``watch`` schema of docs/CLI.md.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.cli.helpers import assert_one_line_error, make_tree, run_cli
from tests.cli.test_json_schemas import _validate

START_TIMEOUT = 20.0
"""Seconds for the interpreter to start, scan and say ``ready`` (CI has 2 busy cores)."""
EVENT_TIMEOUT = 10.0
QUIET = 1.5
"""Seconds without an event after which a burst counts as fully processed."""


class Watch:
    """A running ``treeframe watch --json``; its stdout lines, parsed, in a queue.

    ``human=True`` runs it without ``--json``; :meth:`line` reads its lines.
    """

    def __init__(self, cwd: Path, *args: str, human: bool = False) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
        self.human = human
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "treeframe", "watch", *(() if human else ("--json",)), *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.lines: queue.Queue[Any] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode() if self.human else json.loads(raw))

    def line(self, timeout: float = EVENT_TIMEOUT) -> str:
        """The next line of human output."""
        try:
            text: str = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout}s") from None
        return text

    def _get(self, timeout: float) -> dict[str, Any] | None:
        try:
            event = self.lines.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        _validate("watch", event)
        self.seen.append(event)
        return event

    def next(self, kind: str, timeout: float = EVENT_TIMEOUT) -> dict[str, Any]:
        """The next event of ``kind`` (skipping others), within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            event = self._get(deadline - time.monotonic())
            if event is None:
                raise AssertionError(f"no {kind} event within {timeout}s; saw {self.seen}")
            if event["event"] == kind:
                return event

    def during(self, seconds: float) -> list[dict[str, Any]]:
        """Every event printed in the next ``seconds``."""
        deadline = time.monotonic() + seconds
        found = []
        while (event := self._get(deadline - time.monotonic())) is not None:
            found.append(event)
        return found

    def settle(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Events until none came for :data:`QUIET` seconds (at least one must come first)."""
        found = [self.next("rescan")]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            more = self.during(QUIET)
            if not more:
                return found
            found.extend(more)
        raise AssertionError(f"still busy after {timeout}s: {found[-3:]}")

    def stop(self, sig: int = signal.SIGINT) -> subprocess.CompletedProcess[bytes]:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=EVENT_TIMEOUT)
        self._reader.join(timeout=EVENT_TIMEOUT)
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        while not self.human and self._get(0) is not None:
            pass  # validate and keep what came before the exit
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, b"", err)

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=EVENT_TIMEOUT)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def _cli_json(cwd: Path, *args: str) -> Any:
    result = run_cli(cwd, *args, "--json")
    assert result.code == 0, result.stderr
    return result.json()


def _assert_tree_is_a_full_scans(root: Path) -> None:
    """A full scan now finds nothing the watcher did not already record."""
    assert _cli_json(root, "scan")["changed"] is False


def test_edit_reports_a_rescan_of_that_path_and_its_frame_as_stale(workspace: Path):
    frame = _cli_json(
        workspace, "put", "src/app.py", "--type", "note", "--agent", "a1", "--content", "x"
    )
    with Watch(workspace) as watch:
        ready = watch.next("ready", START_TIMEOUT)
        assert ready["path"] == ""
        assert (ready["debounce_ms"], ready["regenerate"]) == (200, False)
        (workspace / "src" / "app.py").write_text("print('edited')\n")
        rescan = watch.next("rescan")
        assert rescan["paths"] == ["src/app.py"]
        assert (rescan["changed"], rescan["full"]) == (True, False)
        stale = watch.next("stale")
        assert stale["scope"] == "src/app.py"
        assert frame["frame_id"] in {f["frame_id"] for f in stale["frames"]}
        assert not [e for e in watch.during(QUIET) if e["event"] == "regenerated"]
        stopped = watch.stop(signal.SIGTERM)
    assert stopped.returncode == 0, stopped.stderr
    assert not [e for e in watch.seen if e["event"] == "error"]


def test_regenerate_rebuilds_generator_frames_then_nothing_rescans(workspace: Path):
    assert run_cli(workspace, "agent", "add", "gen", "--generator", "stats").code == 0
    old = _cli_json(
        workspace, "put", "README.md", "--type", "stats", "--agent", "gen", "--content", "?"
    )
    with Watch(workspace, "--regenerate", "--debounce", "0.1s") as watch:
        assert watch.next("ready", START_TIMEOUT)["debounce_ms"] == 100
        # Written outside the tree and moved in: one event, however loaded the machine.
        staged = workspace.parent / "README.new"
        staged.write_text("one\ntwo\n")
        os.replace(staged, workspace / "README.md")
        assert watch.next("stale")["frames"][0]["frame_id"] == old["frame_id"]
        regenerated = watch.next("regenerated")
        assert regenerated["regenerated_count"] == 1
        # Regeneration wrote the store (inside the tree): no event may follow it.
        assert watch.during(3.0) == []
        assert watch.stop().returncode == 0
    served = _cli_json(workspace, "get", "README.md", "--type", "stats")
    assert served["frames"][0]["content"] == "8 bytes, 2 lines\n"
    assert served["frames"][0]["frame_id"] == regenerated["frame_ids"][0]


def test_atomic_rename_saves_end_in_the_saved_content(workspace: Path):
    target = workspace / "src" / "app.py"
    with Watch(workspace) as watch:
        watch.next("ready", START_TIMEOUT)
        # vim: swap file, backup by rename, new file; emacs and others: a temporary renamed over.
        swap = target.with_name(".app.py.swp")
        swap.write_text("swap")
        os.replace(target, target.with_name("app.py~"))
        target.write_text("vim\n")
        target.with_name("app.py~").unlink()
        swap.unlink()
        temporary = target.with_name("app.py.tmp")
        temporary.write_text("renamed over\n")
        os.replace(temporary, target)
        events = watch.settle()
        assert watch.stop().returncode == 0
    assert not [e for e in events if e["event"] == "error"]
    assert "src/app.py" in {p for e in events if e["event"] == "rescan" for p in e["paths"]}
    _assert_tree_is_a_full_scans(workspace)
    node = _cli_json(workspace, "ls", "src")
    assert {e["name"] for e in node["entries"]} == {"app.py", "lib"}


def test_deleted_directory_is_a_deletion(workspace: Path):
    with Watch(workspace) as watch:
        watch.next("ready", START_TIMEOUT)
        shutil.rmtree(workspace / "src")
        events = watch.settle()
        assert watch.stop().returncode == 0
    assert not [e for e in events if e["event"] == "error"]
    assert all(p.startswith("src") for e in events if e["event"] == "rescan" for p in e["paths"])
    _assert_tree_is_a_full_scans(workspace)
    assert [e["name"] for e in _cli_json(workspace, "ls", ".")["entries"]] == ["README.md", "docs"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_checkout_burst_ends_in_the_full_scan_tree(tmp_path: Path):
    root = tmp_path / "repo"
    make_tree(root, {f"keep/d{i % 10}/f{i}.txt": f"file {i}\n" for i in range(300)})
    make_tree(root, {f"gone/f{i}.txt": f"gone {i}\n" for i in range(100)})
    make_tree(root, {".gitignore": ".treeframe/\n"})
    _git(root, "init", "-q", "-b", "one")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "one")
    _git(root, "checkout", "-q", "-b", "two")
    shutil.rmtree(root / "gone")
    make_tree(root, {f"keep/d{i % 10}/f{i}.txt": f"changed {i}\n" for i in range(0, 300, 3)})
    make_tree(root, {f"new/n{i % 7}/g{i}.txt": f"new {i}\n" for i in range(150)})
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "two")
    _git(root, "checkout", "-q", "one")
    assert run_cli(root, "init").code == 0
    with Watch(root) as watch:
        watch.next("ready", START_TIMEOUT)
        for branch in ("two", "one"):
            _git(root, "checkout", "-q", branch)
            events = watch.settle()
            assert not [e for e in events if e["event"] == "error"], events
            assert not any(e["full"] for e in events if e["event"] == "rescan")
            # Scanning from outside while the watcher runs: its store writes are not events either.
            _assert_tree_is_a_full_scans(root)
            assert watch.during(QUIET) == []
        assert watch.stop().returncode == 0


def test_burst_above_max_paths_rescans_the_whole_tree(workspace: Path):
    # A long debounce keeps the ten writes in one batch even on a loaded machine.
    with Watch(workspace, "--max-paths", "3", "--debounce", "1s") as watch:
        watch.next("ready", START_TIMEOUT)
        for i in range(10):
            (workspace / "docs" / f"f{i}.txt").write_text(f"{i}\n")
        events = watch.settle()
        assert watch.stop().returncode == 0
    assert any(e["event"] == "rescan" and e["full"] and e["paths"] is None for e in events)
    _assert_tree_is_a_full_scans(workspace)


def test_ignored_and_own_files_cause_no_rescan(workspace: Path):
    (workspace / ".gitignore").write_text("*.log\nbuild/\n")
    assert run_cli(workspace, "scan").code == 0
    with Watch(workspace) as watch:
        watch.next("ready", START_TIMEOUT)
        (workspace / "app.log").write_text("noise\n")
        (workspace / "build").mkdir()
        (workspace / "build" / "out.o").write_text("obj\n")
        (workspace / ".git").mkdir()
        (workspace / ".git" / "HEAD").write_text("ref\n")
        assert (
            run_cli(
                workspace, "put", "README.md", "--type", "t", "--agent", "a1", "--content", "c"
            ).code
            == 0
        )
        assert watch.during(2.0) == []
        assert watch.stop().returncode == 0


@pytest.mark.parametrize("value", ["fast", "0ms", "-1s", "2h", "200"])
def test_bad_debounce_is_a_usage_error(workspace: Path, value: str):
    result = run_cli(workspace, "watch", "--debounce", value)
    assert result.code == 2
    assert_one_line_error(result, "usage_error")
    assert "--debounce" in result.stderr


def test_human_output_is_one_line_per_batch(workspace: Path):
    with Watch(workspace, human=True) as watch:
        assert watch.line(START_TIMEOUT).startswith("watching . (root ")
        (workspace / "docs" / "guide.md").write_text("new guide\n")
        line = watch.line()
        assert line.startswith("rescanned 1 path in ")
        assert line.rstrip().endswith("; nothing stale")
        assert watch.stop().returncode == 0
