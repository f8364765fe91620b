"""``treeframe audit verify`` and ``audit list`` on a real store, tampered with through SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, run_cli


def db(root: Path) -> Path:
    return root / ".treeframe" / "store.db"


def tamper(root: Path, *statements: str) -> None:
    conn = sqlite3.connect(db(root))
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def puts(root: Path, n: int) -> None:
    for i in range(n):
        done = run_cli(
            root, "put", "README.md", "--type", "note", "--agent", "a1", "--content", f"v{i}"
        )
        assert done.code == 0, done.stderr


def test_verify_reports_the_entries_and_head(workspace: Path) -> None:
    puts(workspace, 2)
    listed = run_cli(workspace, "audit", "list", "--json").json()["entries"]
    ok = run_cli(workspace, "audit", "verify")
    assert ok.code == 0, ok.stderr
    last = listed[-1]
    assert ok.stdout.strip() == (
        f"ok: {len(listed)} entries, head {last['seq']}:{last['entry_hash']}"
    )
    assert run_cli(workspace, "verify").code == 0  # the full verify checks the chain too
    as_json = run_cli(workspace, "audit", "verify", "--json").json()
    assert as_json == {
        "ok": True,
        "entries": len(listed),
        "head": f"{last['seq']}:{last['entry_hash']}",
        "problem": None,
    }


def test_every_cli_write_is_listed_with_no_request_id(workspace: Path) -> None:
    puts(workspace, 1)
    refused = run_cli(
        workspace, "put", "README.md", "--type", "note", "--agent", "reader", "--content", "x"
    )
    assert_one_line_error(refused, "access_denied")
    entries = run_cli(workspace, "audit", "list", "--json").json()["entries"]
    # init created the workspace, then the fixture registered its four agents.
    assert [e["operation"] for e in entries][:5] == ["workspace.create"] + ["agent.register"] * 4
    assert [(e["operation"], e["agent"], e["success"], e["error"]) for e in entries[-2:]] == [
        ("frame.put", "a1", True, None),
        ("frame.put", "reader", False, "access_denied"),
    ]
    assert all(e["request_id"] is None for e in entries)
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))


def test_list_filters_and_pages(workspace: Path) -> None:
    puts(workspace, 3)
    by_agent = run_cli(workspace, "audit", "list", "--agent", "a1", "--json").json()["entries"]
    assert [e["agent"] for e in by_agent] == ["a1"] * 3
    node = by_agent[0]["node"]
    on_node = run_cli(workspace, "audit", "list", "--node", node, "--json").json()["entries"]
    assert len(on_node) == 3
    page = run_cli(
        workspace, "audit", "list", "--operation", "frame.put", "--after", str(by_agent[0]["seq"]),
        "--limit", "1", "--json",
    ).json()["entries"]  # fmt: skip
    assert [e["seq"] for e in page] == [by_agent[1]["seq"]]
    text = run_cli(workspace, "audit", "list", "--operation", "frame.put")
    assert text.code == 0
    assert len(text.stdout.strip().splitlines()) == 3
    assert "frame.put" in text.stdout
    assert "a1" in text.stdout
    bad = run_cli(workspace, "audit", "list", "--operation", "frame.delete")
    assert_one_line_error(bad, "invalid_request")


@pytest.mark.parametrize(
    ("statements", "seq", "kind"),
    [
        (["UPDATE audit_log SET agent = 'mallory' WHERE seq = 5"], 5, "edited"),
        (["DELETE FROM audit_log WHERE seq = 5"], 5, "missing"),
        (
            [
                "UPDATE audit_log SET seq = -1 WHERE seq = 5",
                "UPDATE audit_log SET seq = 5 WHERE seq = 6",
                "UPDATE audit_log SET seq = 6 WHERE seq = -1",
            ],
            5,
            "reordered",
        ),
        (
            [
                "UPDATE audit_log SET seq = -seq WHERE seq >= 5",
                "UPDATE audit_log SET seq = 1 - seq WHERE seq < 0",
                "INSERT INTO audit_log SELECT ws, 5, time, 'mallory', 'acl.grant', node, frame,"
                " 1, NULL, NULL, prev_hash, entry_hash FROM audit_log WHERE seq = 4",
            ],
            5,
            "inserted",
        ),
    ],
    ids=["edited", "deleted", "swapped", "inserted"],
)
def test_verify_names_the_first_tampered_entry(workspace: Path, statements, seq, kind) -> None:
    puts(workspace, 3)
    tamper(workspace, *statements)
    bad = run_cli(workspace, "audit", "verify")
    assert bad.code == 3
    assert bad.stdout == ""
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1, bad.stderr
    assert lines[0].startswith(f"audit log damaged at seq {seq}: {kind}:"), lines[0]
    full = run_cli(workspace, "verify", "--json")
    assert full.code == 3
    problems = full.json()["problems"]
    assert [(p["kind"], p["key"]) for p in problems] == [(f"audit_{kind}", f"audit:{seq}")]


def test_truncation_is_caught_only_with_a_kept_head(workspace: Path) -> None:
    puts(workspace, 3)
    head = run_cli(workspace, "audit", "verify", "--json").json()["head"]
    last = int(head.split(":")[0])
    tamper(workspace, f"DELETE FROM audit_log WHERE seq >= {last - 1}")
    assert run_cli(workspace, "audit", "verify").code == 0
    cut = run_cli(workspace, "audit", "verify", "--head", head)
    assert cut.code == 3
    assert f"seq {last}: truncated" in cut.stderr
    malformed = run_cli(workspace, "audit", "verify", "--head", "12")
    assert_one_line_error(malformed, "invalid_request")
