"""Agent workflow commands through a real subprocess: agents, authorization, synthesis,
staleness, regeneration, previous frames and composition."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import (
    SAMPLE,
    assert_one_line_error,
    assert_one_refused_entry,
    audit_entries,
    make_tree,
    run_cli,
    store_state,
)

FILES = ("README.md", "docs/guide.md", "src/app.py", "src/lib/util.py")
SYNTHESIZED = ("docs", "src/lib", "src", "")  # post-order of `synthesize . --recursive`


def cli_json(root: Path, *args: str) -> Any:
    result = run_cli(root, *args, "--json")
    assert result.code == 0, result.stderr
    return result.json()


def put(root: Path, path: str, text: str, frame_type: str = "summary") -> str:
    frame = cli_json(root, "put", path, "--type", frame_type, "--agent", "a1", "--content", text)
    return str(frame["frame_id"])


def edit_and_scan(root: Path, rel: str, text: str) -> None:
    """Change a file (dated an hour back, so the stat cache stays honest) and rescan."""
    make_tree(root, {rel: text})
    assert cli_json(root, "scan")["changed"] is True


@pytest.fixture(scope="module")
def fresh_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per module: what tests/cli/conftest.py's ``workspace`` builds per test."""
    root = tmp_path_factory.mktemp("fresh") / "ws"
    make_tree(root, SAMPLE)
    cli_json(root, "init")
    for agent, role in (
        ("a", "synthesis"),
        ("a1", "writer"),
        ("a2", "writer"),
        ("reader", "reader"),
    ):
        cli_json(root, "agent", "add", agent, "--role", role)
    cli_json(root, "scan")
    return root


@pytest.fixture
def workspace(fresh_template: Path, tmp_path: Path) -> Path:
    """The conftest ``workspace`` (scanned sample, agents of every role), as a private copy.

    Copying a template built once saves six CLI runs per test; the copy's
    first rescan re-hashes the files (new inodes) but finds the same tree.
    """
    root = tmp_path / "ws"
    shutil.copytree(fresh_template, root)
    return root


@pytest.fixture(scope="module")
def template(fresh_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Built once: the fresh workspace plus a summary on every file and a recursive synthesis."""
    root = tmp_path_factory.mktemp("synthesized") / "ws"
    shutil.copytree(fresh_template, root)
    puts = {path: put(root, path, f"summary of {path}") for path in FILES}
    synthesis = cli_json(root, "synthesize", ".", "--type", "summary", "--agent", "a", "-r")
    assert [f["path"] for f in synthesis["frames"]] == list(SYNTHESIZED)
    return {"root": root, "puts": puts, "synthesis": synthesis}


@pytest.fixture
def synthesized(template: dict[str, Any], tmp_path: Path) -> Path:
    """A private copy of the synthesized template (tree and store)."""
    root = tmp_path / "ws"
    shutil.copytree(template["root"], root)
    return root


def frame_ids(template: dict[str, Any]) -> dict[str, str]:
    """Path -> FrameID of every frame the template wrote."""
    syntheses = {f["path"]: f["frame_id"] for f in template["synthesis"]["frames"]}
    return {**template["puts"], **syntheses}


# -- agents -------------------------------------------------------------------


def test_agent_add_list_show_report_roles_capabilities_and_generator(workspace):
    capable = cli_json(
        workspace, "agent", "add", "cap", "--role", "writer", "--capability", "synthesize"
    )
    stats = cli_json(workspace, "agent", "add", "gen", "--generator", "stats")
    listed = cli_json(workspace, "agent", "list")["agents"]
    assert capable == {
        "schema": "agent/1",
        "agent_id": "cap",
        "role": "writer",
        "capabilities": ["synthesize"],
        "generator": None,
        "provider": {},
    }
    assert (stats["role"], stats["generator"]) == ("writer", "stats")
    assert [(a["agent_id"], a["role"]) for a in listed] == [
        ("a", "synthesis"),
        ("a1", "writer"),
        ("a2", "writer"),
        ("cap", "writer"),
        ("gen", "writer"),
        ("reader", "reader"),
    ]
    assert cli_json(workspace, "agent", "show", "cap") == capable
    assert cli_json(workspace, "agent", "show", "gen") == stats


@pytest.mark.parametrize(
    "args",
    [("--role", "admin"), ("--role", "writer", "--capability", "fly")],
    ids=["bad-role", "bad-capability"],
)
def test_agent_add_bad_input_is_one_line_invalid_request(workspace, args):
    before = cli_json(workspace, "agent", "list")
    result = run_cli(workspace, "agent", "add", "x", *args)
    assert result.code == 1
    assert_one_line_error(result, "invalid_request")
    assert cli_json(workspace, "agent", "list") == before


def test_agent_show_unknown_is_not_found(workspace):
    result = run_cli(workspace, "agent", "show", "nope")
    assert result.code == 1
    assert_one_line_error(result, "not_found")


@pytest.mark.parametrize(
    ("agent", "code"),
    [("ghost", "unauthorized"), ("reader", "access_denied")],
    ids=["unknown-agent", "reader-role"],
)
def test_put_by_agent_without_write_is_refused_and_stores_nothing(workspace, agent, code):
    """An unknown agent is ``unauthorized`` (who are you), a known reader ``access_denied``.

    Only the reader reaches the write (and its refusal is audited): an
    unknown agent gets no principal at all, so nothing is attempted or logged.
    """
    before = store_state(workspace, audit=False)
    logged = audit_entries(workspace)
    result = run_cli(
        workspace, "put", "src/app.py", "--type", "summary", "--agent", agent, "--content", "x"
    )
    assert_one_line_error(result, code)
    assert agent in result.stderr
    assert store_state(workspace, audit=False) == before
    if agent == "reader":
        assert_one_refused_entry(workspace, logged, code)
    else:
        assert audit_entries(workspace) == logged


# -- synthesis ----------------------------------------------------------------


def test_synthesize_recursive_lists_frames_with_paths_in_post_order(workspace):
    app = put(workspace, "src/app.py", "app summary")
    util = put(workspace, "src/lib/util.py", "util summary")
    result = cli_json(workspace, "synthesize", "src", "--type", "summary", "--agent", "a", "-r")
    frames = result["frames"]
    assert [f["path"] for f in frames] == ["src/lib", "src"]
    assert result["skipped"] == []
    assert all((f["frame_type"], f["agent_id"]) == ("summary", "a") for f in frames)
    lib, src = frames
    assert lib["basis"]["child_frames"] == [util]
    assert src["basis"]["child_frames"] == [app, lib["frame_id"]]  # by child name
    heads = cli_json(workspace, "heads", "src")["heads"]
    assert heads == {"summary": src["frame_id"]}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("src/app.py", "--type", "summary", "--agent", "a"), "invalid_request"),
        (("src", "--type", "summary", "--agent", "a", "--policy", "nope"), "invalid_policy"),
        (("src", "--type", "summary", "--agent", "a1"), "access_denied"),
    ],
    ids=["file", "unknown-policy", "writer-without-capability"],
)
def test_synthesize_bad_request_is_one_line_error_and_writes_nothing(workspace, args, code):
    before = store_state(workspace, audit=False)
    logged = audit_entries(workspace)
    result = run_cli(workspace, "synthesize", *args)
    assert result.code == 1
    assert_one_line_error(result, code)
    assert store_state(workspace, audit=False) == before
    assert_one_refused_entry(workspace, logged, code)


def test_synthesize_missing_fail_names_the_child_without_a_frame(workspace):
    put(workspace, "src/app.py", "app summary")
    before = store_state(workspace, audit=False)
    logged = audit_entries(workspace)
    result = run_cli(
        workspace, "synthesize", "src", "--type", "summary", "--agent", "a", "--missing", "fail"
    )
    assert_one_line_error(result, "synthesis_failed")
    assert "src/lib" in result.stderr
    assert "src/app.py" not in result.stderr
    assert store_state(workspace, audit=False) == before
    assert_one_refused_entry(workspace, logged, "synthesis_failed")


# -- staleness and regeneration ------------------------------------------------


def test_stale_is_empty_until_a_file_changes(synthesized, template):
    assert cli_json(synthesized, "stale", ".", "--recursive")["frames"] == []
    edit_and_scan(synthesized, "src/lib/util.py", "X = 2\n")
    stale = cli_json(synthesized, "stale", ".", "--recursive")["frames"]
    ids = frame_ids(template)
    found = {f["path"]: (f["frame_id"], f["recomputable"]) for f in stale}
    assert found == {
        "src/lib/util.py": (ids["src/lib/util.py"], False),
        "src/lib": (ids["src/lib"], True),
        "src": (ids["src"], True),
        "": (ids[""], True),
    }


def test_regenerate_dry_run_reports_the_frames_a_real_run_creates(synthesized, template):
    edit_and_scan(synthesized, "src/lib/util.py", "X = 2\n")
    before = store_state(synthesized)
    planned = cli_json(synthesized, "regenerate", ".", "--recursive", "--dry-run")
    assert store_state(synthesized) == before
    done = cli_json(synthesized, "regenerate", ".", "--recursive")
    again = cli_json(synthesized, "regenerate", ".", "--recursive")
    assert (planned["dry_run"], done["dry_run"]) == (True, False)
    assert planned["frame_ids"] == done["frame_ids"]
    assert done["regenerated_count"] == 3  # src/lib, src and the root, in post-order
    created = [f["frame_id"] for f in store_state(synthesized)["frames"][-3:]]
    assert created == done["frame_ids"]
    assert again["regenerated_count"] == 0
    # util.py's summary needs its agent; the chain above it is incomplete until then.
    assert [f["path"] for f in again["stale_unrecomputable"]] == [
        "src/lib/util.py",
        "src/lib",
        "src",
        "",
    ]
    assert again["stale_unrecomputable"] == done["stale_unrecomputable"]
    assert cli_json(synthesized, "heads", "src")["heads"]["summary"] == done["frame_ids"][1]
    assert template["puts"]["src/lib/util.py"] in {
        f["frame_id"] for f in done["stale_unrecomputable"]
    }


def test_get_include_previous_serves_the_old_frame_as_stale_previous(synthesized, template):
    edit_and_scan(synthesized, "src/lib/util.py", "X = 2\n")
    plain = cli_json(synthesized, "get", "src/lib/util.py")
    view = cli_json(synthesized, "get", "src/lib/util.py", "--include-previous")
    assert plain["frames"] == []
    (old,) = view["frames"]
    assert old["frame_id"] == template["puts"]["src/lib/util.py"]
    assert (old["stale"], old["previous"]) == (True, True)
    assert old["content"] == "summary of src/lib/util.py"
    assert old["node_id"] != view["node_id"]


# -- composition ---------------------------------------------------------------


def test_compose_by_score_is_bounded_deterministic_and_read_only(synthesized, template):
    put(synthesized, "src/app.py", "a note on app", frame_type="note")
    sources = ("--source", "node", "--source", "parent", "--source", "siblings")
    args = ("compose", "src/app.py", *sources, "--order", "score")
    before = store_state(synthesized)
    everything = cli_json(synthesized, *args, "--max", "50")
    first = cli_json(synthesized, *args, "--max", "3")
    second = cli_json(synthesized, *args, "--max", "3")
    assert store_state(synthesized) == before
    assert first == second
    assert len(first["frames"]) == 3
    assert first["candidates"] == everything["candidates"] == 4  # 2 node, 1 parent, 1 sibling
    assert first["frames"] == everything["frames"][:3]
    assert [f["source"] for f in everything["frames"]] == ["node", "node", "parent", "siblings"]
    scores = [f["score"] for f in everything["frames"]]
    assert scores == sorted(scores, reverse=True)
    ids = frame_ids(template)
    assert [f["frame_id"] for f in everything["frames"][2:]] == [ids["src"], ids["src/lib"]]
    assert first["policy"]["max_frames"] == 3
