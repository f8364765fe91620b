"""Engine semantics as a user meets them through the real CLI (issue 7, item 3 and 4):
"current" frames, incomplete syntheses, authorization of reads and regenerate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.helpers import (
    assert_one_line_error,
    assert_one_refused_entry,
    audit_entries,
    run_cli,
    store_state,
)


def cli_json(root: Path, *args: str) -> Any:
    result = run_cli(root, *args, "--json")
    assert result.code == 0, result.stderr
    return result.json()


def put(root: Path, path: str, text: str, *extra: str) -> Any:
    return cli_json(
        root, "put", path, "--type", "summary", "--agent", "a1", "--content", text, *extra
    )


def test_reput_makes_the_older_frame_current_and_says_nothing_was_created(workspace: Path) -> None:
    x = put(workspace, "src/app.py", "version x", "--meta", "by=first")
    assert x["created"] is True
    y = put(workspace, "src/app.py", "version y")
    again = put(workspace, "src/app.py", "version x", "--meta", "by=second")
    assert again["created"] is False
    assert again["frame_id"] == x["frame_id"]
    assert again["metadata"] == {"by": "first"}
    heads = cli_json(workspace, "heads", "src/app.py")["heads"]
    assert heads == {"summary": x["frame_id"]}
    latest = cli_json(workspace, "get", "src/app.py", "--max", "1")["frames"]
    assert [f["frame_id"] for f in latest] == [x["frame_id"]]
    composed = cli_json(workspace, "compose", "src/app.py", "--max", "1")["frames"]
    assert [f["frame_id"] for f in composed] == [x["frame_id"]]
    assert y["frame_id"] != x["frame_id"]


def test_reads_take_as_agent_and_refuse_unknown_agents(workspace: Path) -> None:
    put(workspace, "src/app.py", "entry point")
    for command in (
        ("get", "src/app.py"),
        ("heads", "src/app.py"),
        ("stale", ".", "--recursive"),
        ("compose", "src/app.py"),
    ):
        assert run_cli(workspace, *command, "--as", "reader").code == 0
        refused = run_cli(workspace, *command, "--as", "nobody")
        assert_one_line_error(refused, "unauthorized")
        assert "nobody" in refused.stderr


def test_regenerate_as_an_agent_without_synthesize_changes_nothing(workspace: Path) -> None:
    put(workspace, "src/app.py", "entry point")
    cli_json(workspace, "synthesize", "src", "--type", "summary", "--agent", "a")
    put(workspace, "src/app.py", "a better entry point")
    before = store_state(workspace, audit=False)
    logged = audit_entries(workspace)
    assert_one_line_error(
        run_cli(workspace, "regenerate", ".", "--recursive", "--as", "reader"), "access_denied"
    )
    assert store_state(workspace, audit=False) == before
    assert_one_refused_entry(workspace, logged, "access_denied")
    assert cli_json(workspace, "regenerate", ".", "--recursive")["regenerated_count"] == 1


def test_recursive_synthesize_prints_one_summary_line_and_refuses_a_typo(workspace: Path) -> None:
    put(workspace, "src/app.py", "entry point")
    before = store_state(workspace, audit=False)
    logged = audit_entries(workspace)
    typo = run_cli(workspace, "synthesize", ".", "--type", "sumary", "--agent", "a", "-r")
    assert_one_line_error(typo, "synthesis_failed")
    assert "'sumary'" in typo.stderr
    assert store_state(workspace, audit=False) == before
    assert_one_refused_entry(workspace, logged, "synthesis_failed")
    result = run_cli(workspace, "synthesize", ".", "--type", "summary", "--agent", "a", "-r")
    assert result.code == 0, result.stderr
    assert result.stderr == ""
    [line] = result.stdout.strip().splitlines()
    assert line.startswith("2 frames written (")
    assert "directories without inputs" in line
    assert "children skipped (details: --json)" in line
    payload = cli_json(workspace, "synthesize", ".", "--type", "summary", "--agent", "a", "-r")
    assert [f["path"] for f in payload["frames"]] == ["src", ""]
    assert payload["without_inputs"]
    assert payload["skipped"]
