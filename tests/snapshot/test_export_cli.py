"""``treeframe export`` as a real process: the library's bytes, atomic -o, stdout, one-line errors."""

from __future__ import annotations

import io
import json
import os
import pty
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import Result, run_cli
from tests.snapshot.workspaces import NAME, WS, older_root, populate
from treeframe.hashing.ids import content_hash
from treeframe.snapshot.export import export_snapshot
from treeframe.snapshot.verify import verify_archive
from treeframe.storage.registry import open_store
from treeframe.storage.urls import sqlite_url

SHARED_NOTE = content_hash(b"one content, two frames")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export-cli") / "store.db"
    with open_store(sqlite_url(str(path)), create=True) as store:
        populate(store)
    return path


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    here = tmp_path / "work"
    here.mkdir()
    return here


def library_export(store_path: Path, **options: object) -> bytes:
    out = io.BytesIO()
    with open_store(sqlite_url(str(store_path)), create=False) as store:
        export_snapshot(store, WS, out, **options)  # type: ignore[arg-type]
    return out.getvalue()


def export(cwd: Path, store_path: Path, *args: str) -> Result:
    return run_cli(
        cwd, "export", "--store", sqlite_url(str(store_path)), "--workspace", NAME, *args
    )


def raw_export(cwd: Path, store_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The export with stdout as bytes (a pipe, so not a terminal)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    command = [sys.executable, "-m", "treeframe", "export", "--store", sqlite_url(str(store_path))]
    return subprocess.run(
        [*command, "--workspace", NAME, *args],
        cwd=cwd,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("compression", ["none", "zstd", "gzip"])
def test_o_file_holds_the_library_export_and_nothing_else_is_left(
    cwd: Path, store_path: Path, compression: str
) -> None:
    target = cwd / "out.tar"
    result = export(cwd, store_path, "-o", str(target), "--compression", compression)
    assert result.code == 0, result.stderr
    assert target.read_bytes() == library_export(store_path, compression=compression)
    assert sorted(p.name for p in cwd.iterdir()) == ["out.tar"]
    assert "exported root" in result.stdout


def test_stdout_gets_the_archive_and_json_goes_to_stderr(cwd: Path, store_path: Path) -> None:
    with open_store(sqlite_url(str(store_path)), create=False) as store:
        older = older_root(store)
    done = raw_export(cwd, store_path, "--root", older, "--path", "src/db", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout == library_export(store_path, root=older, path="src/db")
    report = json.loads(done.stderr)
    assert report["output"] == "-"
    assert report["archive_bytes"] == len(done.stdout)
    assert report["manifest"]["root_hash"] == older
    assert report["manifest"]["path"] == "src/db"
    assert verify_archive(io.BytesIO(done.stdout)).ok


def test_a_path_is_normalized_like_the_other_commands(cwd: Path, store_path: Path) -> None:
    done = raw_export(cwd, store_path, "--path", "/src/db/")
    assert done.returncode == 0, done.stderr
    assert done.stdout == library_export(store_path, path="src/db")


def test_a_terminal_stdout_is_refused_with_one_line(cwd: Path, store_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
        command = [sys.executable, "-m", "treeframe", "export", "--store"]
        done = subprocess.run(
            [*command, sqlite_url(str(store_path)), "--workspace", NAME],
            cwd=cwd,
            stdout=follower,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "terminal" in lines[0]


def _errors(store_path: Path) -> Iterator[tuple[list[str], str]]:
    with open_store(sqlite_url(str(store_path)), create=False) as store:
        readme = store.lookup_path(WS, "README.md")
    yield ["--root", "ab" * 32], "no root"
    yield ["--root", str(readme)], "no root"
    yield ["--root", "not-hex"], "--root"
    yield ["--path", "src/nope"], "src/nope"
    yield ["--path", "README.md/x"], "README.md"
    yield ["--path", "../etc"], ".."
    yield ["--compression", "xz"], "--compression"
    yield ["--sign", "no-such-key"], "no-such-key"


def test_bad_input_is_one_line_and_exit_1_and_writes_nothing(cwd: Path, store_path: Path) -> None:
    for args, needle in _errors(store_path):
        result = export(cwd, store_path, *args, "-o", str(cwd / "out.tar"))
        where = (args, result.stderr)
        assert result.code == 1, where
        assert len(result.stderr.strip().splitlines()) == 1, where
        assert "Traceback" not in result.stderr, where
        assert needle in result.stderr, where
        assert list(cwd.iterdir()) == [], where
    result = run_cli(
        cwd, "export", "--store", sqlite_url(str(store_path)), "--workspace", "nope", "-o", "x"
    )
    assert result.code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nope" in result.stderr
    assert list(cwd.iterdir()) == []


def test_a_failure_midway_leaves_no_file_and_keeps_an_existing_one(
    cwd: Path, tmp_path: Path
) -> None:
    """Damaged content is found in pass 2, after the archive's first bytes were written."""
    damaged = tmp_path / "damaged.db"
    with open_store(sqlite_url(str(damaged)), create=True) as store:
        populate(store)
    with sqlite3.connect(damaged) as db:
        changed = db.execute(
            "UPDATE contents SET data = ? WHERE hash = ?",
            (b"not the content", bytes.fromhex(SHARED_NOTE)),
        ).rowcount
    assert changed == 1
    target = cwd / "out.tar"
    target.write_bytes(b"the previous archive")
    result = export(cwd, damaged, "-o", str(target))
    assert result.code == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert SHARED_NOTE in result.stderr
    assert target.read_bytes() == b"the previous archive"
    assert sorted(p.name for p in cwd.iterdir()) == ["out.tar"]
