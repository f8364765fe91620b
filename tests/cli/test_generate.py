"""treeframe generate and regenerate --agents on a real workspace (offline provider, no keys)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import assert_one_line_error, run_cli, run_cli_in_process, store_state


def _json(result) -> dict:
    assert result.code == 0, result
    return json.loads(result.stdout)


def test_generate_edit_stale_regenerate_agents_loop(workspace: Path):
    made = _json(run_cli_in_process(workspace, "generate", ".", "--agent", "a", "-r", "--json"))
    assert made["failed"] == 0
    assert made["generated"] > 3
    assert made["provider"] == "offline"
    again = _json(run_cli_in_process(workspace, "generate", ".", "--agent", "a", "-r", "--json"))
    assert again["generated"] == 0
    assert again["current"] == made["generated"]
    (workspace / "src" / "app.py").write_text("def main():\n    return 2\n", encoding="utf-8")
    assert run_cli_in_process(workspace, "scan").code == 0
    stale = _json(run_cli_in_process(workspace, "stale", ".", "-r", "--json"))["frames"]
    assert {f["path"] for f in stale} == {"src/app.py", "src", ""}
    assert not any(f["recomputable"] for f in stale)
    text = run_cli_in_process(workspace, "regenerate", ".", "-r", "--agents")
    assert text.code == 0, text
    assert text.stdout.startswith("regenerated 3 frame(s)")
    assert _json(run_cli_in_process(workspace, "stale", ".", "-r", "--json"))["frames"] == []


def test_generate_prints_a_summary_and_a_dry_run_writes_nothing(workspace: Path):
    before = store_state(workspace)
    dry = run_cli_in_process(workspace, "generate", "src", "--agent", "a", "-r", "--dry-run")
    assert dry.code == 0, dry
    assert dry.stdout.startswith("would generate ")
    assert store_state(workspace) == before
    done = run_cli_in_process(workspace, "generate", "src", "--agent", "a1", "-r")
    assert done.code == 0, done
    assert "with offline (offline-1)" in done.stdout
    # a1 is a writer without synthesize: its directories are skipped and listed.
    assert "skipped: src: directory frames need the synthesize permission" in done.stdout


def test_a_failed_node_is_listed_and_the_command_exits_1(workspace: Path):
    (workspace / "src" / "app.py").write_text("edited, not scanned\n", encoding="utf-8")
    result = run_cli(workspace, "generate", "src", "--agent", "a", "-r")
    assert result.code == 1, result
    assert "failed: src/app.py:" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "1 of" in lines[0]
    assert "[regeneration_failed]" in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_input_is_one_line_and_changes_nothing(workspace: Path):
    # Refusals of the engine append their refused audit entry; nothing else changes.
    before = store_state(workspace, audit=False)
    cases = [
        (("generate", ".", "--agent", "a", "--directories", "maybe"), "invalid_request"),
        (("generate", ".", "--agent", "a", "--type", "bad type"), "invalid_frame"),
        (("generate", ".", "--agent", "nobody"), "unauthorized"),
        (("generate", ".", "--agent", "reader"), "access_denied"),
        (("generate", "missing.py", "--agent", "a"), "node_not_found"),
        (("generate", ".", "--agent", "a", "--concurrency", "0"), "usage_error"),
    ]
    for args, code in cases:
        assert_one_line_error(run_cli(workspace, *args), code)
    assert store_state(workspace, audit=False) == before


def test_a_configured_agent_with_an_unknown_provider_is_a_config_error(workspace: Path):
    config = workspace / ".treeframe" / "config.toml"
    config.write_text(
        '[agents.a]\nrole = "synthesis"\nprovider = "nowhere"\n',
        encoding="utf-8",
    )
    assert_one_line_error(run_cli(workspace, "generate", ".", "--agent", "a"), "config_error")
