"""treeframe import as a real process: a file or stdin, --json, --workspace, one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.snapshot.workspaces import WS, populate
from treeframe.hashing.ids import workspace_id
from treeframe.snapshot.export import export_snapshot
from treeframe.storage.registry import open_store


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    with open_store(
        f"sqlite://{tmp_path_factory.mktemp('src') / 'store.db'}", create=True
    ) as store:
        populate(store)
        out = io.BytesIO()
        export_snapshot(store, WS, out, compression="zstd")
    return out.getvalue()


def run(*args: str, stdin: bytes = b"", cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "treeframe", "import", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        check=False,
    )


def test_import_file_then_stdin_is_idempotent(archive: bytes, tmp_path: Path) -> None:
    path = tmp_path / "a.tar.zst"
    path.write_bytes(archive)
    url = f"sqlite://{tmp_path / 't.db'}"
    first = run(str(path), "--store", url, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    body = json.loads(first.stdout)
    assert body["created"]
    assert body["root_moved"]
    assert body["written"]["frames"] > 0
    second = run("-", "--store", url, "--json", stdin=archive, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert set(again["written"].values()) == {0}
    assert again["present"] == body["written"]
    renamed = run(str(path), "--store", url, "--workspace", "copy", cwd=tmp_path)
    assert renamed.returncode == 0, renamed.stderr
    assert b"created workspace copy" in renamed.stdout
    with open_store(url) as store:
        copied, original = store.current_root(workspace_id("copy")), store.current_root(WS)
        assert copied is not None
        assert original is not None
        assert copied.root == original.root


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--trust", "ab" * 32], b"unsigned but --trust"),
    ],
)
def test_refusals_are_one_line(
    archive: bytes, tmp_path: Path, args: list[str], needle: bytes
) -> None:
    path = tmp_path / "a.tar.zst"
    path.write_bytes(archive)
    result = run(str(path), "--store", f"sqlite://{tmp_path / 't.db'}", *args, cwd=tmp_path)
    assert result.returncode != 0
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert b"Traceback" not in result.stderr


def test_damaged_stdin_is_refused_and_nothing_written(archive: bytes, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 't.db'}"
    result = run("-", "--store", url, stdin=archive[: len(archive) // 2], cwd=tmp_path)
    assert result.returncode == 1
    assert b"snapshot_invalid" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t.db").exists()  # verified before the store was created
    with open_store(url, create=True) as store:
        assert store.get_workspace(WS) is None
    # Into a store that exists, the refusal leaves it as it was too.
    again = run("-", "--store", url, stdin=archive[: len(archive) // 2], cwd=tmp_path)
    assert again.returncode == 1
    with open_store(url, create=False) as store:
        assert store.list_workspaces(include_deleted=True) == []
