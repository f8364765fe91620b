"""``treeframe verify-export`` as a real process: no store, no config, exit codes, JSON, progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import Result, run_cli
from tests.snapshot.archives import archive
from tests.snapshot.hostile import HOSTILE
from treeframe.snapshot.signing import generate_key, load_signing_key, sign_manifest


@pytest.fixture
def nowhere(tmp_path: Path) -> dict[str, str]:
    """An environment whose store, config and server are all unusable: any use of them fails."""
    bad_config = tmp_path / "config.toml"
    bad_config.write_text("this is [ not toml", encoding="utf-8")
    return {
        "TREEFRAME_STORE": "postgresql://nobody@127.0.0.1:1/none",
        "TREEFRAME_CONFIG": str(bad_config),
        "TREEFRAME_SERVER": "http://127.0.0.1:1",
        "XDG_CONFIG_HOME": str(tmp_path / "no-such-dir"),
    }


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """A directory that looks like a broken workspace, so nothing may be read from it either."""
    here = tmp_path / "work"
    (here / ".treeframe").mkdir(parents=True)
    (here / ".treeframe" / "store.db").write_bytes(b"not a database")
    (here / ".treeframe" / "config.toml").write_text("[[[", encoding="utf-8")
    return here


def verify_export(cwd: Path, env: dict[str, str], *args: str, stdin: bytes | None = None) -> Result:
    return run_cli(cwd, "verify-export", *args, env=env, stdin=stdin)


@pytest.mark.parametrize("compression", ["none", "zstd", "gzip"])
def test_a_valid_archive_exits_0_without_any_store(
    cwd: Path, nowhere: dict[str, str], compression: str
) -> None:
    path = cwd / "a.tar"
    path.write_bytes(archive(compression=compression))
    result = verify_export(cwd, nowhere, str(path))
    assert result.code == 0, result.stderr
    assert "ok: no problem found" in result.stdout
    assert "checked everything: 10 nodes, 7 frames, 6 contents" in result.stdout
    assert result.stderr == ""


def test_problems_exit_3_and_are_all_listed(cwd: Path, nowhere: dict[str, str]) -> None:
    path = cwd / "bad.tar"
    path.write_bytes(HOSTILE["missing_content"]())
    result = verify_export(cwd, nowhere, str(path))
    assert result.code == 3
    lines = result.stderr.splitlines()
    assert lines[-1] == "3 problem(s) found"
    assert lines[0].startswith("missing: contents/")
    assert lines[1] == "count: manifest.json: counts.contents is 6, found 5"
    assert "Traceback" not in result.stderr


def test_json_output_is_the_report(cwd: Path, nowhere: dict[str, str]) -> None:
    data = HOSTILE["wrong_count"]()
    result = verify_export(cwd, nowhere, "-", "--json", stdin=data)
    assert result.code == 3
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert payload["problems"] == [
        {"code": "count", "detail": "counts.nodes is 11, found 10", "where": "manifest.json"}
    ]
    assert payload["checked"]["scope"] == "all"
    assert payload["checked"]["bytes_read"] == len(data)
    assert payload["signature"] == {"signer": None, "state": "unsigned"}


def test_partial_checks_say_what_they_checked(cwd: Path, nowhere: dict[str, str]) -> None:
    path = cwd / "a.tar"
    path.write_bytes(archive())
    by_path = verify_export(cwd, nowhere, str(path), "--path", "src", "--json")
    assert by_path.code == 0, by_path.stderr
    assert by_path.json()["checked"]["scope"] == "path"
    assert by_path.json()["checked"]["prefix"] == "src"
    assert by_path.json()["checked"]["nodes"] == 4
    sampled = verify_export(cwd, nowhere, str(path), "--sample", "50%", "--json")
    assert sampled.json()["checked"]["percent"] == 50
    human = verify_export(cwd, nowhere, str(path), "--sample", "50%")
    assert "checked a 50.0% sample:" in human.stdout
    timed = verify_export(cwd, nowhere, str(path), "--max-duration", "1h", "--json")
    assert timed.json()["checked"]["complete"] is True


def test_a_structural_fault_is_one_line_not_a_traceback(cwd: Path, nowhere: dict[str, str]) -> None:
    result = verify_export(cwd, nowhere, "-", stdin=HOSTILE["symlink_entry"]())
    assert result.code == 3
    assert "structure: archive: the header at byte" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["missing.tar"], "cannot read missing.tar: no such file or directory", "invalid_request"),
        (["."], "cannot read .: is a directory", "invalid_request"),
        (["a.tar", "--sample", "150%"], "invalid sample '150%'", "invalid_request"),
        (["a.tar", "--max-duration", "soon"], "invalid duration 'soon'", "invalid_request"),
        (["a.tar", "--max-bytes", "lots"], "invalid size 'lots'", "invalid_request"),
        (["a.tar", "--path", "src/../x"], "invalid path component '..'", "invalid_path"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_1(
    cwd: Path, nowhere: dict[str, str], args: list[str], message: str, code: str
) -> None:
    (cwd / "a.tar").write_bytes(archive())
    result = verify_export(cwd, nowhere, *args)
    assert result.code == 1
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert result.stderr.endswith(f"[{code}]\n")


def test_caps_are_adjustable(cwd: Path, nowhere: dict[str, str]) -> None:
    path = cwd / "a.tar"
    path.write_bytes(archive())
    result = verify_export(cwd, nowhere, str(path), "--max-bytes", "10K")
    assert result.code == 3
    assert "structure: archive: the archive decompresses past 10240 bytes" in result.stderr


def test_progress_on_request(cwd: Path, nowhere: dict[str, str]) -> None:
    data = archive()
    path = cwd / "a.tar"
    path.write_bytes(data)
    quiet = verify_export(cwd, nowhere, str(path))
    assert "verify_bytes" not in quiet.stderr
    shown = verify_export(cwd, nowhere, str(path), "--progress")
    assert shown.code == 0
    size = f"{len(data) / 1000:.1f} kB"  # a bytes phase is shown as sizes (decimal units)
    assert "verify_bytes" in shown.stderr
    assert f"{size}/{size}" in shown.stderr


def test_trusted_keys_judge_the_signature(
    cwd: Path, nowhere: dict[str, str], tmp_path: Path
) -> None:
    key_file, other_file = tmp_path / "key", tmp_path / "other"
    public = generate_key(key_file)
    generate_key(other_file)
    key = load_signing_key(key_file)
    path = cwd / "signed.tar"
    path.write_bytes(archive(sign=lambda manifest: sign_manifest(manifest, key)))
    trusted = verify_export(cwd, nowhere, str(path), "--trust", f"{key_file}.pub")
    assert trusted.code == 0, trusted.stderr
    assert f"signature: trusted by {public}" in trusted.stdout
    stranger = verify_export(cwd, nowhere, str(path), "--trust", f"{other_file}.pub", "--json")
    assert stranger.code == 3
    assert stranger.json()["signature"] == {"signer": public, "state": "untrusted"}
    assert [p["code"] for p in stranger.json()["problems"]] == ["signature"]
    bad_key = verify_export(cwd, nowhere, str(path), "--trust", "not-a-key")
    assert bad_key.code == 1
    assert bad_key.stderr.endswith("[config_error]\n")
