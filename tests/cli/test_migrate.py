"""treeframe migrate: the real CLI copying real stores, killed midway and rerun, bad input."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, run_cli
from tests.unit.storage.realistic import MAIN, build
from treeframe.frames.merkle_set import root_of_raw
from treeframe.storage.dump import dump_lines, summarize
from treeframe.storage.registry import open_store
from treeframe.storage.urls import sqlite_url
from treeframe.testing.factories import CREATED_AT, make_file, make_frame, put_frame


def _source(tmp_path: Path, *, bulk: int = 0) -> str:
    """A realistic SQLite store (plus ``bulk`` extra records, a quarter with a frame); its URL."""
    url = sqlite_url(str(tmp_path / "source.db"))
    with open_store(url) as store:
        build(store, tmp_path)
        nodes = [make_file(f"bulk/{i}", str(i).encode()) for i in range(bulk)]
        with store.unit_of_work():
            store.put_nodes(MAIN, nodes)
            for node in nodes[: bulk // 4]:
                put_frame(
                    store, MAIN, *make_frame(node, node.node_id.encode()), root_of_raw, CREATED_AT
                )
    return url


def _dump(url: str) -> list[str]:
    with open_store(url, create=False, read_only=True) as store:
        return list(dump_lines(store))


def test_migrate_copies_verifies_and_reports_json(tmp_path: Path) -> None:
    source = _source(tmp_path)
    target = sqlite_url(str(tmp_path / "target.db"))
    result = run_cli(
        tmp_path, "migrate", "--from", source, "--to", target, "--batch", "4", "--json"
    )
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["verified"] is True
    assert sorted(report["workspaces"]) == ["gone", "main"]
    with open_store(source, create=False, read_only=True) as store:
        summary = summarize(store)
    assert report["digest"] == summary.digest
    assert report["counts"] == summary.counts
    assert report["written"]["frame"] == report["seen"]["frame"] == summary.counts["frame"]
    assert _dump(target) == _dump(source)
    again = run_cli(tmp_path, "migrate", "--from", source, "--to", target, "--json")
    assert again.code == 0, again.stderr
    assert again.json()["written"]["frame"] == 0
    assert _dump(target) == _dump(source)


def test_migrate_one_workspace_with_progress_and_a_human_summary(tmp_path: Path) -> None:
    source = _source(tmp_path)
    target = sqlite_url(str(tmp_path / "target.db"))
    result = run_cli(
        tmp_path, "migrate", "--from", source, "--to", target, "--workspace", "main", "--progress"
    )
    assert result.code == 0, result.stderr
    assert "copied main into" in result.stdout
    assert "verified" in result.stdout
    assert "frame" in result.stderr  # the bars, drawn on stderr because --progress asked
    with open_store(target, create=False) as store:
        assert [i.name for i in store.list_workspaces(include_deleted=True)] == ["main"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--from", "sqlite:///{tmp}/missing.db"], "store_not_found"),
        (["--from", "{source}", "--workspace", "nowhere"], "workspace_not_found"),
        (["--from", "nosuch://x"], "config_error"),
        (["--from", "sqlite:relative.db"], "config_error"),
        (["--from", "{source}", "--batch", "0"], "usage_error"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_target(
    tmp_path: Path, args: list[str], code: str
) -> None:
    source = _source(tmp_path)
    target_file = tmp_path / "target.db"
    filled = [a.format(tmp=tmp_path, source=source) for a in args]
    result = run_cli(tmp_path, "migrate", *filled, "--to", sqlite_url(str(target_file)))
    assert_one_line_error(result, code)
    assert not target_file.exists()


def test_bad_target_url_or_same_store_is_one_line(tmp_path: Path) -> None:
    source = _source(tmp_path)
    before = _dump(source)
    for target, code in (("nosuch://x", "config_error"), (source, "config_error")):
        assert_one_line_error(run_cli(tmp_path, "migrate", "--from", source, "--to", target), code)
    assert _dump(source) == before


def _rows(path: Path) -> int:
    """Records in the target so far (0 while it is not readable yet)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as db:
            return int(db.execute("SELECT count(*) FROM nodes").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_a_killed_migration_rerun_loses_nothing(tmp_path: Path) -> None:
    source = _source(tmp_path, bulk=20_000)
    target_file = tmp_path / "target.db"
    target = sqlite_url(str(target_file))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "treeframe",
            "migrate",
            "--from",
            source,
            "--to",
            target,
            "--batch",
            "20",
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _rows(target_file) < 2_000 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the migration finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    partial = _dump(target)
    expected = _dump(source)
    assert partial != expected
    assert 0 < len(partial) < len(expected)
    result = run_cli(
        tmp_path, "migrate", "--from", source, "--to", target, "--batch", "500", "--json"
    )
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["verified"] is True
    assert 0 < report["written"]["node"] < report["seen"]["node"]  # resumed, not redone
    assert _dump(target) == expected
