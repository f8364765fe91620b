"""The CLI's commands through a real subprocess, with their --json output."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.helpers import SAMPLE, make_tree, run_cli


def test_init_is_idempotent_and_reports_store(tmp_path):
    first = run_cli(tmp_path, "init", "--json")
    second = run_cli(tmp_path, "init", "--json")
    assert first.code == second.code == 0
    assert first.json() == second.json()
    assert first.json()["store"].endswith("/.treeframe/store.db")


def test_scan_twice_same_root_and_nothing_rehashed(workspace):
    again = run_cli(workspace, "scan", "--json").json()
    status = run_cli(workspace, "status", "--json").json()
    assert again["changed"] is False
    assert again["files_hashed"] == 0
    assert again["root"] == status["current"]["root"]
    assert len(status["history"]) == 1


def test_same_tree_at_another_path_gives_same_root(workspace, tmp_path):
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns(".treeframe"))
    run_cli(copy, "init")
    other = run_cli(copy, "scan", "--json").json()
    original = run_cli(workspace, "status", "--json").json()
    assert other["root"] == original["current"]["root"]


def test_edit_changes_root_and_history_grows(workspace):
    before = run_cli(workspace, "node", "src/lib/util.py", "--json").json()
    docs_before = run_cli(workspace, "node", "docs", "--json").json()
    (workspace / "src/lib/util.py").write_text("X = 2\n")
    scanned = run_cli(workspace, "scan", "--json").json()
    after = run_cli(workspace, "node", "src/lib/util.py", "--json").json()
    docs_after = run_cli(workspace, "node", "docs", "--json").json()
    assert scanned["changed"] is True
    assert scanned["files_hashed"] == 1
    assert before["node_id"] != after["node_id"]
    assert docs_before["node_id"] == docs_after["node_id"]
    status = run_cli(workspace, "status", "--json").json()
    assert [h["seq"] for h in status["history"]] == [2, 1]
    old = run_cli(workspace, "node", before["node_id"], "--json").json()
    assert old["current"] is False
    assert old["path"] == "src/lib/util.py"


def test_ls_lists_children_relative_to_cwd(workspace):
    top = run_cli(workspace, "ls", "--json").json()
    assert [e["name"] for e in top["entries"]] == ["README.md", "docs", "src"]
    sub = run_cli(workspace / "src", "ls", "lib", "--json").json()
    assert sub["path"] == "src/lib"
    assert [(e["name"], e["kind"]) for e in sub["entries"]] == [("util.py", "file")]


def test_put_get_heads_proof_roundtrip(workspace):
    put = run_cli(
        workspace,
        "put",
        "src/app.py",
        "--type",
        "summary",
        "--agent",
        "a1",
        "--content",
        "prints hi",
        "--meta",
        "model=x",
        "--json",
    ).json()
    again = run_cli(
        workspace,
        "put",
        "src/app.py",
        "--type",
        "summary",
        "--agent",
        "a1",
        "--content",
        "prints hi",
        "--meta",
        "model=other",
        "--json",
    ).json()
    assert again["frame_id"] == put["frame_id"]
    assert again["seq"] == put["seq"] == 1
    assert again["metadata"] == {"model": "x"}
    review = run_cli(
        workspace,
        "put",
        "src/app.py",
        "-",
        "--type",
        "review",
        "--agent",
        "a2",
        "--json",
        stdin=b"from stdin",
    ).json()
    assert review["seq"] == 2
    view = run_cli(workspace, "get", "src/app.py", "--json").json()
    assert view["frame_count"] == 2
    assert [f["content"] for f in view["frames"]] == ["from stdin", "prints hi"]
    limited = run_cli(workspace, "get", "src/app.py", "--max", "1", "--json").json()
    assert len(limited["frames"]) == 1
    assert limited["truncated"] is True
    by_type = run_cli(
        workspace, "get", "src/app.py", "--order", "type", "--priority", "summary", "--json"
    ).json()
    assert [f["frame_type"] for f in by_type["frames"]] == ["summary", "review"]
    heads = run_cli(workspace, "heads", "src/app.py", "--json").json()["heads"]
    assert heads == {"review": review["frame_id"], "summary": put["frame_id"]}
    proof = run_cli(workspace, "proof", "src/app.py", put["frame_id"], "--json").json()
    assert proof["valid"] is True
    node = run_cli(workspace, "node", "src/app.py", "--json").json()
    assert node["frame_set_root"] == proof["root"]
    assert node["frame_count"] == 2


def test_put_from_file_and_basis_frame(workspace, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("from a file")
    first = run_cli(
        workspace,
        "put",
        "README.md",
        "--type",
        "note",
        "--agent",
        "a",
        "--file",
        str(note),
        "--json",
    ).json()
    derived = run_cli(
        workspace,
        "put",
        "README.md",
        "--type",
        "digest",
        "--agent",
        "a",
        "--content",
        "d",
        "--basis-frame",
        first["frame_id"],
        "--json",
    ).json()
    assert derived["basis"] == {
        "kind": "node+frame",
        "node_id": first["node_id"],
        "frame_id": first["frame_id"],
    }


def test_verify_passes_on_healthy_store(workspace):
    run_cli(workspace, "put", "src", "--type", "summary", "--agent", "a", "--content", "s")
    result = run_cli(workspace, "verify", "--json")
    assert result.code == 0, result.stdout
    report = result.json()
    assert report["ok"] is True
    assert report["checked"]["nodes"] >= 7
    assert report["checked"]["frames"] == 1


def test_commands_work_from_a_subdirectory(workspace):
    result = run_cli(workspace / "src" / "lib", "node", "util.py", "--json")
    assert result.json()["path"] == "src/lib/util.py"


def test_human_output_is_not_json(workspace):
    result = run_cli(workspace, "status")
    assert result.code == 0
    assert "workspace default" in result.stdout


def test_demo_runs_end_to_end(tmp_path):
    result = run_cli(tmp_path, "demo", str(tmp_path / "demo"), "--json")
    assert result.code == 0, result.stderr
    payload = result.json()
    assert payload["verify_ok"] is True
    assert payload["first_root"] != payload["second_root"]
    assert payload["files_rehashed_on_rescan"] == 1
    assert payload["synthesized"] == 3  # docs, src, root
    assert payload["regenerated"] == 2  # src and the root
    # util.py's summary needs its agent; src and the root stay incomplete until then.
    assert payload["needs_agent"] == ["src/util.py", "src", ""]
    assert payload["view"]["frame_count"] == 2
    assert "- src: " in payload["root_summary"]
    human = run_cli(tmp_path, "demo", str(tmp_path / "demo2"))
    assert human.code == 0, human.stderr
    assert "regenerate     2 frame(s) rebuilt" in human.stdout


def test_store_option_selects_another_store(tmp_path):
    root = tmp_path / "ws"
    make_tree(root, SAMPLE)
    url = f"sqlite://{tmp_path / 'elsewhere.db'}"
    assert run_cli(root, "init", "--store", url).code == 0
    assert run_cli(root, "scan", "--store", url).code == 0
    assert (tmp_path / "elsewhere.db").exists()
    via_env = run_cli(root, "status", "--json", env={"TREEFRAME_STORE": url}).json()
    assert via_env["current"] is not None
    # The default store was never created: only init creates a store.
    default = run_cli(root, "status", "--json")
    assert default.code == 1
    assert '"store_not_found"' in default.stderr
    assert not (root / ".treeframe" / "store.db").exists()


def test_no_workspace_is_a_clear_error(tmp_path):
    result = run_cli(Path(tmp_path), "status")
    assert result.code == 1
    assert "[workspace_not_found]" in result.stderr
