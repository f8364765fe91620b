"""diff, diff --disk, explain, doctor and verify --since/--max-duration through the real CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli


def _state(root: Path) -> dict[str, str]:
    """Digests of the store and stat cache files, plus the WAL's size: what "no writes" means.

    A read-only SQLite open (any read command) may create an empty ``-wal`` and
    the ``-shm`` reader index beside the store; a write would put pages in the WAL.
    """
    state = root / ".treeframe"
    out = {
        name: hashlib.sha256((state / name).read_bytes()).hexdigest()
        for name in ("store.db", "statcache.sqlite")
    }
    wal = state / "store.db-wal"
    out["wal bytes"] = str(wal.stat().st_size if wal.exists() else 0)
    return out


def test_diff_between_two_scans_and_exit_code(workspace: Path) -> None:
    (workspace / "src" / "app.py").write_text("print('v2')\n")
    assert run_cli(workspace, "scan").code == 0
    result = run_cli(workspace, "diff", "HEAD~1", "--json")
    assert result.code == 0, result.stderr
    body = result.json()
    assert [(e["path"], e["kind"]) for e in body["entries"]] == [("src/app.py", "changed")]
    assert body["counts"]["files_changed"] == 1
    text = run_cli(workspace, "diff", "HEAD~1", "HEAD")
    assert text.code == 0
    assert "M src/app.py" in text.stdout
    assert run_cli(workspace, "diff", "HEAD~1", "--exit-code").code == 3
    assert run_cli(workspace, "diff", "HEAD", "HEAD", "--exit-code").code == 0
    prefix = body["from_root"][:10]
    assert run_cli(workspace, "diff", prefix, "--json").json() == body


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("diff", "not-a-root"), "invalid_id"),
        (("diff", "ABCDEF"), "invalid_id"),
        (("diff", "0123456789abcdef" * 4), "node_not_found"),
        (("diff", "HEAD~5"), "node_not_found"),
        (("diff",), "invalid_request"),
        (("diff", "--disk", "HEAD"), "invalid_request"),
        (("explain", "xyz"), "invalid_id"),
        (("explain", "e" * 64), "frame_not_found"),
        (("verify", "--since", "nope"), "invalid_id"),
        (("verify", "--max-duration", "soon"), "invalid_request"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else v,
)
def test_bad_input_is_one_error_line(workspace: Path, args: tuple[str, ...], code: str) -> None:
    result = run_cli(workspace, *args)
    assert result.code == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stderr.rstrip().endswith(f"[{code}]")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_diff_disk_and_doctor_write_nothing(workspace: Path) -> None:
    before = _state(workspace)
    assert run_cli(workspace, "diff", "--disk", "--exit-code").code == 0
    clean = run_cli(workspace, "doctor")
    assert clean.code == 0, clean.stderr
    assert clean.stdout.startswith("deterministic: disk matches stored root ")
    (workspace / "README.md").write_text("edited, not scanned\n")
    (workspace / "src" / "new.py").write_text("new\n")
    disk = run_cli(workspace, "diff", "--disk", "--json")
    assert disk.code == 0, disk.stderr
    kinds = {(e["path"], e["kind"]) for e in disk.json()["entries"]}
    assert kinds == {("README.md", "changed"), ("src/new.py", "added")}
    doctor = run_cli(workspace, "doctor", "--json")
    assert doctor.code == 3
    report = doctor.json()
    assert report["repeatable"] is True
    assert report["matches"] is False
    assert report["first_difference"]["path"] == "README.md"
    assert (
        report["first_difference"]["stored_content_hash"]
        != (report["first_difference"]["rescanned_content_hash"])
    )
    human = run_cli(workspace, "doctor")
    assert human.code == 3
    assert "first differing node: README.md (changed)" in human.stderr
    assert _state(workspace) == before


def test_explain_says_why_a_frame_is_stale(workspace: Path) -> None:
    put = run_cli(
        workspace,
        "put",
        "src/app.py",
        "--type",
        "summary",
        "--agent",
        "a1",
        "--content",
        "x",
        "--json",
    )
    assert put.code == 0, put.stderr
    frame_id = put.json()["frame_id"]
    assert run_cli(workspace, "explain", frame_id, "--json").json()["verdict"] == "fresh"
    (workspace / "src" / "app.py").write_text("print('rewritten')\n")
    assert run_cli(workspace, "scan").code == 0
    result = run_cli(workspace, "explain", frame_id)
    assert result.code == 0, result.stderr
    assert "verdict: stale" in result.stdout
    assert "src/app.py changed" in result.stdout
    assert "seq 2" in result.stdout


def test_verify_since_and_max_duration(workspace: Path) -> None:
    (workspace / "src" / "app.py").write_text("print('v2')\n")
    assert run_cli(workspace, "scan").code == 0
    full = run_cli(workspace, "verify", "--json").json()
    scoped = run_cli(workspace, "verify", "--since", "HEAD~1", "--max-duration", "5m", "--json")
    assert scoped.code == 0, scoped.stderr
    body = scoped.json()
    assert body["ok"] is True
    assert body["complete"] is True
    assert body["scope"] == "since"
    assert body["checked"]["nodes"] < full["checked"]["nodes"]
    text = run_cli(workspace, "verify", "--since", "HEAD~1")
    assert text.code == 0
    assert "ok: every hash in scope verified" in text.stdout
