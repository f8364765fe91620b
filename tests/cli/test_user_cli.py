"""The CLI as a new user meets it: demo, frame, compose defaults, escapes, limits, config."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, run_cli, store_state

ESCAPES = "\x1b[31mred\x1b]0;owned\x07\rhidden\x9b2J"
ESCAPED = "\\x1b[31mred\\x1b]0;owned\\x07\\x0dhidden\\x9b2J"


def _put(root: Path, ref: str, content: str, *extra: str, frame_type: str = "note") -> str:
    result = run_cli(
        root,
        "put",
        ref,
        "--type",
        frame_type,
        "--agent",
        "a1",
        "--content",
        content,
        *extra,
        "--json",
    )
    assert result.code == 0, result.stderr
    frame_id: str = result.json()["frame_id"]
    return frame_id


# -- demo -----------------------------------------------------------------------


def test_demo_refuses_a_non_empty_directory_and_keeps_its_files(tmp_path: Path):
    target = tmp_path / "project"
    target.mkdir()
    (target / "README.md").write_text("my own readme\n")
    result = run_cli(tmp_path, "demo", str(target))
    assert_one_line_error(result, "invalid_request")
    assert "not empty" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["README.md"]
    assert (target / "README.md").read_text() == "my own readme\n"


def test_demo_refuses_an_existing_workspace(workspace: Path):
    before = store_state(workspace)
    inside = workspace / "docs" / "new"
    inside.mkdir()
    for target in (workspace, inside):
        result = run_cli(workspace, "demo", str(target))
        assert_one_line_error(result, "invalid_request")
    assert "inside the workspace" in result.stderr
    assert list(inside.iterdir()) == []
    assert store_state(workspace) == before


def test_demo_without_directory_uses_a_fresh_temporary_one_it_names(tmp_path: Path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    result = run_cli(tmp_path, "demo", "--json", env={"TMPDIR": str(temp)})
    assert result.code == 0, result.stderr
    made = Path(result.json()["directory"])
    assert made.parent == temp
    assert made.name.startswith("treeframe-demo-")
    assert (made / ".treeframe" / "store.db").is_file()


# -- frame FRAME_ID ---------------------------------------------------------------


def test_frame_fetches_one_frame_with_content_and_stale_flag(workspace: Path):
    frame_id = _put(workspace, "src/app.py", "about app")
    shown = run_cli(workspace, "frame", frame_id, "--json")
    assert shown.code == 0, shown.stderr
    payload = shown.json()
    assert (payload["frame_id"], payload["content"], payload["stale"]) == (
        frame_id,
        "about app",
        False,
    )
    assert payload["path"] == "src/app.py"
    human = run_cli(workspace, "frame", frame_id)
    assert frame_id in human.stdout
    assert "about app" in human.stdout
    assert "[stale]" not in human.stdout
    (workspace / "src/app.py").write_text("print('changed')\n")
    assert run_cli(workspace, "scan").code == 0
    assert run_cli(workspace, "frame", frame_id, "--json").json()["stale"] is True
    assert "[stale]" in run_cli(workspace, "frame", frame_id).stdout
    assert_one_line_error(run_cli(workspace, "frame", "ab" * 32), "frame_not_found")
    assert_one_line_error(run_cli(workspace, "frame", "nope"), "invalid_id")


# -- compose defaults -------------------------------------------------------------


def test_compose_honours_the_view_defaults_like_get(workspace: Path):
    _put(workspace, "src/app.py", "one", frame_type="summary")
    _put(workspace, "src/app.py", "two", frame_type="review")
    env = {"TREEFRAME_VIEW__DEFAULT_MAX_FRAMES": "1", "TREEFRAME_VIEW__DEFAULT_ORDERING": "type"}
    composed = run_cli(workspace, "compose", "src/app.py", "--json", env=env)
    viewed = run_cli(workspace, "get", "src/app.py", "--json", env=env)
    assert composed.code == viewed.code == 0, composed.stderr + viewed.stderr
    policy = composed.json()["policy"]
    assert (policy["max_frames"], policy["ordering"]) == (1, "type")
    assert len(composed.json()["frames"]) == len(viewed.json()["frames"]) == 1
    explicit = run_cli(workspace, "compose", "src/app.py", "--max", "2", "--json", env=env)
    assert len(explicit.json()["frames"]) == 2


# -- terminal escapes -------------------------------------------------------------


def _on_a_tty(cwd: Path, *args: str) -> str:
    """Run the CLI with stdout on a pseudo-terminal and return what it printed."""
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "treeframe", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.parametrize("command", ["get", "compose", "frame"])
def test_control_characters_in_content_are_shown_escaped(workspace: Path, command: str):
    frame_id = _put(workspace, "src/app.py", ESCAPES)
    args = (command, frame_id if command == "frame" else "src/app.py")
    exact = run_cli(workspace, *args, "--json").json()
    content = exact["content"] if command == "frame" else exact["frames"][0]["content"]
    assert content == ESCAPES
    for output in (run_cli(workspace, *args).stdout, _on_a_tty(workspace, *args)):
        assert ESCAPED in output
        for raw in ("\x1b[31mred", "\x1b]0;", "\x07", "\x9b", "\rhidden"):
            assert raw not in output


def test_control_characters_in_names_are_shown_escaped(workspace: Path):
    (workspace / "src" / "evil\x1b[2Jname.py").write_text("x\n")
    assert run_cli(workspace, "scan").code == 0
    listed = run_cli(workspace, "ls", "src")
    assert "evil\\x1b[2Jname.py" in listed.stdout
    assert "\x1b" not in listed.stdout
    names = [e["name"] for e in run_cli(workspace, "ls", "src", "--json").json()["entries"]]
    assert "evil\x1b[2Jname.py" in names


# -- content size limit -----------------------------------------------------------

LIMIT_ENV = {"TREEFRAME_LIMITS__MAX_FRAME_BYTES": "1000"}


def test_content_at_the_limit_is_accepted_one_more_byte_refused(workspace: Path, tmp_path: Path):
    base = ("put", "src/app.py", "--type", "t", "--agent", "a1")
    ok = run_cli(workspace, *base, "-", stdin=b"x" * 1000, env=LIMIT_ENV)
    assert ok.code == 0, ok.stderr
    before = store_state(workspace)
    big = tmp_path / "big.txt"
    big.write_bytes(b"y" * 1001)
    for extra, data in ((("-",), b"y" * 1001), (("--file", str(big)), None)):
        result = run_cli(workspace, *base, *extra, stdin=data, env=LIMIT_ENV)
        assert_one_line_error(result, "invalid_frame")
        assert "limits.max_frame_bytes (1000 bytes)" in result.stderr
    assert store_state(workspace) == before


PUT_STDIN = ("put", "src/app.py", "-", "--type", "t", "--agent", "a1")


def test_huge_stdin_is_refused_without_being_read_whole(workspace: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    env.update(LIMIT_ENV)
    proc = subprocess.Popen(
        [sys.executable, "-m", "treeframe", *PUT_STDIN],
        cwd=workspace,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None
    chunk = b"z" * 65536
    offered = 512 << 20  # 512 MiB: far more than the CLI may read
    written = 0
    try:
        while written < offered:
            proc.stdin.write(chunk)
            written += len(chunk)
    except BrokenPipeError:
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    proc.stdin = None  # closed above; communicate must not flush it
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert b"[invalid_frame]" in err
    assert written < 64 << 20, f"the CLI read {written} bytes before refusing"


def test_endless_file_is_refused_at_the_limit(workspace: Path):
    result = run_cli(
        workspace,
        "put",
        "src/app.py",
        "--type",
        "t",
        "--agent",
        "a1",
        "--file",
        "/dev/zero",
        env=LIMIT_ENV,
    )
    assert_one_line_error(result, "invalid_frame")


# -- config show ------------------------------------------------------------------


def test_config_show_prints_the_store_url_in_use(workspace: Path):
    status = run_cli(workspace, "status", "--json").json()
    shown = run_cli(workspace, "config", "show", "--json").json()
    assert shown["settings"]["store"]["url"] == status["store"]
    table = run_cli(workspace, "config", "show").stdout.splitlines()
    row = next(line for line in table if line.startswith("store.url "))
    assert row.split()[1] == status["store"]
