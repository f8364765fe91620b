"""`treeframe scan` as a user runs it: skipped entries, --strict, locales, Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, make_tree, run_cli, store_state
from tests.unprivileged import unprivileged_prefix

BAD_NAME = os.fsdecode(b"bad\xffname.txt")


def warnings_of(stderr: str) -> list[str]:
    lines = stderr.strip().splitlines()
    assert all(line.startswith("warning: ") for line in lines), stderr
    return lines


def test_tree_with_a_non_utf8_name_an_unreadable_file_and_a_fifo_scans_with_three_warnings(
    workspace,
):
    prefix = unprivileged_prefix()
    (workspace / "src" / BAD_NAME).write_text("x")
    secret = workspace / "src" / "secret.txt"
    secret.write_text("s")
    secret.chmod(0)
    os.mkfifo(workspace / "docs" / "pipe")
    try:
        result = run_cli(workspace, "scan", prefix=prefix)
        as_json = run_cli(workspace, "scan", "--json", prefix=prefix)
    finally:
        secret.chmod(0o644)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert warnings_of(result.stderr) == [
        "warning: skipped docs/pipe: fifo: only regular files, directories and symlinks are "
        "scanned [special_file]",
        "warning: skipped src/bad\\xffname.txt: name is not valid UTF-8 [non_utf8_name]",
        "warning: skipped src/secret.txt: cannot read: permission denied [unreadable_file]",
    ]
    assert as_json.code == 0, as_json.stderr
    assert as_json.stderr == ""
    payload = as_json.json()
    assert [(s["path"], s["reason"]) for s in payload["skipped"]] == [
        ("docs/pipe", "special_file"),
        ("src/bad\\xffname.txt", "non_utf8_name"),
        ("src/secret.txt", "unreadable_file"),
    ]
    assert all(s["message"] for s in payload["skipped"])
    assert payload["warnings"] == []
    paths = store_state(workspace)["paths"]
    assert [row[1] for row in paths if row[1].startswith(("src/secret", "docs/pipe"))] == []


def test_non_utf8_name_listed_in_treeframeignore_is_silently_left_out(workspace):
    (workspace / "src" / BAD_NAME).write_text("x")
    (workspace / ".treeframeignore").write_bytes(b"bad*name.txt\n")
    result = run_cli(workspace, "scan", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["skipped"] == []
    assert result.stderr == ""


def test_readable_but_not_searchable_directory_is_skipped_not_an_internal_error(workspace):
    prefix = unprivileged_prefix()
    locked = workspace / "src" / "lib"
    locked.chmod(0o444)
    try:
        result = run_cli(workspace, "scan", prefix=prefix)
    finally:
        locked.chmod(0o755)
    assert result.code == 0, result.stderr
    assert warnings_of(result.stderr) == [
        "warning: skipped src/lib: cannot examine the entries of directory src/lib: "
        "permission denied [unreadable_directory]"
    ]


def test_strict_scan_fails_in_one_line_and_leaves_the_store_unchanged(workspace):
    (workspace / "README.md").write_text("# changed\n")
    (workspace / "src" / BAD_NAME).write_text("x")
    before = store_state(workspace)
    result = run_cli(workspace, "scan", "--strict")
    assert_one_line_error(result, "entry_skipped")
    assert result.code == 1
    assert "src/bad\\xffname.txt" in result.stderr
    assert "(non_utf8_name)" in result.stderr
    assert store_state(workspace) == before
    as_json = run_cli(workspace, "scan", "--strict", "--json")
    assert as_json.code == 1
    assert json.loads(as_json.stderr)["error"]["code"] == "entry_skipped"
    assert store_state(workspace) == before


def test_everything_ignored_warns_in_text_and_json(workspace):
    (workspace / ".gitignore").write_text("/*\n")
    result = run_cli(workspace, "scan")
    assert result.code == 0, result.stderr
    [line] = warnings_of(result.stderr)
    assert line.startswith("warning: the scanned tree is empty although the directory holds")
    again = run_cli(workspace, "scan", "--json")
    assert again.json()["warnings"] == [line.removeprefix("warning: ")]


# -- locales --------------------------------------------------------------

LOCALE_TREE = {
    "café/naïve.txt": "non-ASCII names\n",
    "日本語.md": "wide\n",
    "plain.txt": "ascii\n",
}


@pytest.mark.parametrize(
    "env",
    [
        {"LC_ALL": "C"},
        {"LC_ALL": "POSIX"},
        {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},  # ASCII fs encoding
    ],
    ids=["C", "POSIX", "C-ascii-filesystem-encoding"],
)
def test_root_does_not_depend_on_the_locale(tmp_path, env):
    roots = []
    for name, locale_env in (("utf8", {"LC_ALL": "C.UTF-8", "PYTHONUTF8": "0"}), ("other", env)):
        root = tmp_path / name
        make_tree(root, LOCALE_TREE)
        os.symlink("café/naïve.txt", root / "lien-vers-café")
        os.symlink("日本語.md", root / "リンク")
        assert run_cli(root, "init", env=locale_env).code == 0
        result = run_cli(root, "scan", "--json", env=locale_env)
        assert result.code == 0, result.stderr
        payload = result.json()
        assert payload["skipped"] == []
        assert (payload["files"], payload["symlinks"]) == (3, 2)
        roots.append(payload["root"])
    assert roots[0] == roots[1]


# -- Ctrl-C -----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_while_workers_hash_prints_one_line_and_exits_130(tmp_path):
    root = tmp_path / "ws"
    make_tree(root, {f"d{i % 10}/f{i:04d}.txt": f"{i}\n" for i in range(2300)})
    with open(root / "big.bin", "wb") as handle:  # sparse: hashing it takes a while
        handle.truncate(16 << 30)
    assert run_cli(root, "init").code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "treeframe", "scan", "--workers", "2"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    try:
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "hashing workers never started"
            time.sleep(0.05)
        workers = _children(proc.pid)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole group
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, stderr.decode()
    assert stderr.decode().splitlines() == ["error: interrupted [interrupted]"]
    assert stdout == b""
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "hashing workers outlived the scan"
    assert run_cli(root, "status", "--json").json()["current"] is None
    shutil.rmtree(root)


def test_scan_paths_rescans_only_the_given_paths_and_matches_a_full_scan(workspace, tmp_path):
    (workspace / "src" / "app.py").write_text("edited\n")
    (workspace / "docs" / "new.md").write_text("new\n")
    (workspace / "README.md").write_text("edited but not given\n")
    cwd = workspace / "src"
    listed = tmp_path / "paths.txt"
    listed.write_text("../docs/new.md\n")
    partial = run_cli(cwd, "scan", "--paths", "app.py", "--paths-from", str(listed), "--json")
    assert partial.code == 0, partial.stderr
    body = partial.json()
    assert body["changed"] is True
    assert body["files"] == 2  # app.py and docs/new.md, nothing else looked at
    paths = store_state(workspace)["paths"]
    # README.md keeps its old NodeID: it was not given. A full scan then records it.
    (workspace / "README.md").write_text("# project\n")
    again = run_cli(workspace, "scan", "--json")
    assert again.json()["changed"] is False  # the partial scan left exactly the full root
    assert store_state(workspace)["paths"] == paths
    from_stdin = run_cli(workspace, "scan", "--paths-from", "-", "--json", stdin=b"docs/new.md\n")
    assert from_stdin.code == 0, from_stdin.stderr
    assert from_stdin.json()["changed"] is False


def test_scan_paths_outside_the_workspace_or_unreadable_list_is_one_error(workspace):
    before = store_state(workspace)
    outside = run_cli(workspace, "scan", "--paths", "/etc/passwd")
    assert_one_line_error(outside, "invalid_path")
    missing = run_cli(workspace, "scan", "--paths-from", "/no/such/list")
    assert_one_line_error(missing, "invalid_request")
    assert store_state(workspace) == before
