"""The snapshot flow as a user runs it: keygen, export --sign, verify-export --trust, import.

One workspace is built through the CLI, exported signed and zstd-compressed,
verified standalone, imported into a second store of every backend (SQLite,
PostgreSQL, LMDB), and the read commands' outputs compared between source
and copy. The steps under test (keygen, export, verify-export, import) run
as real processes, for their exit codes and one-line errors; the many read
commands compared afterwards run in process (same ``main``, same output).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import (
    SAMPLE,
    assert_one_line_error,
    make_tree,
    run_cli,
    run_cli_in_process,
    store_state,
)
from treeframe.storage.urls import lmdb_url, sqlite_url

FILES = ("README.md", "docs/guide.md", "src/app.py", "src/lib/util.py")
PATHS = (".", "docs", "src", "src/lib", *FILES)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class Source:
    """The exported workspace, its key pair, a second key and the signed archive."""

    root: Path
    key: Path
    public_key: str
    other_key: Path
    archive: Path
    manifest: dict[str, Any]


def ok(cwd: Path, *args: str) -> Any:
    """Run a command in process with ``--json``; it must succeed; its JSON document."""
    result = run_cli_in_process(cwd, *args, "--json")
    assert result.code == 0, result.stderr
    return result.json()


def ok_process(cwd: Path, *args: str) -> Any:
    """:func:`ok` as a real process."""
    result = run_cli(cwd, *args, "--json")
    assert result.code == 0, result.stderr
    return result.json()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """A scanned workspace with frames of two agents and types, a recursive synthesis, exported."""
    base = tmp_path_factory.mktemp("snapshot-flow")
    root = base / "ws"
    make_tree(root, SAMPLE)
    ok(root, "init")
    for agent, role in (("a", "synthesis"), ("a1", "writer"), ("a2", "writer")):
        ok(root, "agent", "add", agent, "--role", role)
    ok(root, "scan")
    for path in FILES:
        ok(root, "put", path, "--type", "summary", "--agent", "a1", "--content", f"about {path}")
    # A second version (the first becomes a previous frame) and another type and agent.
    ok(root, "put", "src/app.py", "--type", "summary", "--agent", "a1", "--content", "app v2")
    ok(
        root,
        "put",
        "src/app.py",
        "--type",
        "note",
        "--agent",
        "a2",
        "--content",
        "see util",
        "--meta",
        "k=v",
    )
    ok(root, "synthesize", ".", "--type", "summary", "--agent", "a", "--recursive")

    keygen = ok_process(base, "keygen", str(base / "key"))
    assert keygen["private_key_file"] == str(base / "key")
    assert keygen["public_key_file"] == str(base / "key.pub")
    assert (base / "key.pub").read_text(encoding="ascii") == keygen["public_key"] + "\n"
    assert (base / "key").stat().st_mode & 0o777 == 0o600
    ok_process(base, "keygen", str(base / "other"))

    archive = base / "a.tar.zst"
    exported = ok_process(
        root, "export", "--sign", str(base / "key"), "-o", str(archive), "--compression", "zstd"
    )
    assert exported["output"] == str(archive)
    assert exported["archive_bytes"] == archive.stat().st_size
    assert archive.read_bytes()[:4] == ZSTD_MAGIC
    return Source(
        root=root,
        key=base / "key",
        public_key=keygen["public_key"],
        other_key=base / "other",
        archive=archive,
        manifest=exported["manifest"],
    )


@pytest.fixture(params=["sqlite", "postgresql", "lmdb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store of each backend, as a store URL (a new PostgreSQL database per test)."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "copy.db")
    if request.param == "lmdb":
        return lmdb_url(tmp_path / "copy.lmdb")
    return str(request.getfixturevalue("pg_database"))


def test_export_describes_the_current_root_and_everything_on_it(source: Source) -> None:
    status = ok(source.root, "status")
    manifest = source.manifest
    assert manifest["root_hash"] == manifest["node_id"] == status["current"]["root"]
    assert (manifest["path"], manifest["compression"]) == ("", "zstd")
    assert manifest["workspace"]["id"] == status["workspace_id"]
    frames = store_state(source.root)["frames"]
    counts = manifest["counts"]
    assert (counts["nodes"], counts["frames"], counts["agents"]) == (8, len(frames), 3)


def test_verify_export_trusts_the_signing_key(source: Source, tmp_path: Path) -> None:
    pub = str(source.key) + ".pub"
    for trust in (pub, source.public_key):  # the .pub file or the hex itself
        report = ok_process(tmp_path, "verify-export", str(source.archive), "--trust", trust)
        assert report["ok"] is True, report["problems"]
        assert report["problems"] == []
        assert report["signature"] == {"state": "trusted", "signer": source.public_key}
        assert report["manifest"] == source.manifest
        checked = report["checked"]
        assert (checked["scope"], checked["complete"]) == ("all", True)
        counts = source.manifest["counts"]
        for kind in ("nodes", "frames", "contents", "content_bytes"):
            assert checked[kind] == counts[kind], kind


def test_verify_export_against_another_key_is_a_problem(source: Source, tmp_path: Path) -> None:
    other_pub = str(source.other_key) + ".pub"
    result = run_cli(tmp_path, "verify-export", str(source.archive), "--trust", other_pub, "--json")
    assert result.code == 3, result.stderr
    report = result.json()
    assert report["ok"] is False
    assert report["signature"] == {"state": "untrusted", "signer": source.public_key}
    assert [(p["code"], p["where"]) for p in report["problems"]] == [("signature", "manifest.sig")]
    # One of several trusted keys suffices; with no --trust the signer is named, no problem.
    both = ok_process(
        tmp_path,
        "verify-export",
        str(source.archive),
        "--trust",
        other_pub,
        "--trust",
        str(source.key) + ".pub",
    )
    assert both["signature"]["state"] == "trusted"
    untrusted = ok_process(tmp_path, "verify-export", str(source.archive))
    assert (untrusted["ok"], untrusted["signature"]["state"]) == (True, "untrusted")


def test_a_changed_archive_fails_verification_and_is_not_imported(
    source: Source, tmp_path: Path
) -> None:
    data = bytearray(source.archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged = tmp_path / "damaged.tar.zst"
    damaged.write_bytes(bytes(data))
    verified = run_cli(tmp_path, "verify-export", str(damaged), "--trust", str(source.key) + ".pub")
    assert verified.code == 3
    assert "Traceback" not in verified.stderr
    url = sqlite_url(tmp_path / "copy.db")
    assert_one_line_error(
        run_cli(tmp_path, "import", str(damaged), "--store", url), "snapshot_invalid"
    )
    assert not (tmp_path / "copy.db").exists()  # verified before any store was created


def test_import_requiring_another_key_is_refused_and_writes_nothing(
    source: Source, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "copy.db")
    result = run_cli(
        tmp_path,
        "import",
        str(source.archive),
        "--store",
        url,
        "--trust",
        str(source.other_key) + ".pub",
    )
    assert_one_line_error(result, "snapshot_invalid")
    assert "not a trusted key" in result.stderr
    assert not (tmp_path / "copy.db").exists()  # verified before any store was created


def read_outputs(source: Source, *store: str) -> dict[str, Any]:
    """Every read command's JSON over every path and frame of the workspace, against a store.

    Run from the source's workspace directory so paths resolve the same way;
    ``store`` is ``("--store", URL)`` for the copy, empty for the source.
    ``status`` is reduced to what an import keeps (it records its own time).
    """
    root = source.root
    outputs: dict[str, Any] = {}
    for path in PATHS:
        for command in (
            ("node", path),
            ("ls", path),
            ("get", path),
            ("get", path, "--include-previous", "--order", "type"),
            ("get", path, "--type", "note", "--agent", "a2"),
            ("heads", path),
            ("stale", path, "--recursive"),
            ("compose", path, "--source", "node", "--source", "parent", "--source", "siblings"),
        ):
            outputs[" ".join(command)] = ok(root, *command, *store)
    for frame in store_state(root)["frames"]:
        frame_id, node_id = frame["frame_id"], frame["node_id"]
        outputs[f"frame {frame_id}"] = ok(root, "frame", frame_id, *store)
        outputs[f"proof {frame_id}"] = ok(root, "proof", node_id, frame_id, *store)
    outputs["agent list"] = ok(root, "agent", "list", *store)
    status = ok(root, "status", *store)
    outputs["status"] = (
        status["workspace"],
        status["workspace_id"],
        status["current"]["root"],
        [entry["root"] for entry in status["history"]],
    )
    return outputs


def test_import_into_every_backend_reproduces_the_workspace(
    source: Source, target: str, tmp_path: Path
) -> None:
    imported = run_cli(
        tmp_path,
        "import",
        str(source.archive),
        "--store",
        target,
        "--trust",
        str(source.key) + ".pub",
        "--json",
    )
    assert imported.code == 0, imported.stderr
    report = imported.json()
    counts = source.manifest["counts"]
    assert (report["created"], report["root_moved"]) == (True, True)
    assert report["root_hash"] == source.manifest["root_hash"]
    assert report["workspace"] == "default"
    assert report["signature"] == {"state": "trusted", "signer": source.public_key}
    assert all(count == 0 for count in report["present"].values()), report["present"]
    for kind in ("agents", "nodes", "frames", "frame_sets", "heads", "contents"):
        assert report["written"][kind] == counts[kind], kind

    assert read_outputs(source, "--store", target) == read_outputs(source)

    # The same root exported again from the copy, signed by the same key: the same bytes.
    again = tmp_path / "again.tar.zst"
    ok_process(
        source.root,
        "export",
        "--store",
        target,
        "--sign",
        str(source.key),
        "-o",
        str(again),
        "--compression",
        "zstd",
    )
    assert again.read_bytes() == source.archive.read_bytes()

    # Idempotent: a second import finds everything present and writes nothing.
    second = ok(tmp_path, "import", str(source.archive), "--store", target)
    assert (second["created"], second["root_moved"]) == (False, False)
    assert all(count == 0 for count in second["written"].values()), second["written"]
    assert second["present"]["frames"] == counts["frames"]
    assert read_outputs(source, "--store", target) == read_outputs(source)


def test_import_under_another_name_in_the_same_store(source: Source, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(source.root, root)
    report = ok_process(root, "import", str(source.archive), "--workspace", "copy")
    assert (report["workspace"], report["created"]) == ("copy", True)
    for path in PATHS:
        copied = ok(root, "get", path, "--include-previous", "--workspace", "copy")
        assert copied == ok(root, "get", path, "--include-previous")


def test_a_conflicting_head_is_reported_and_nothing_written(source: Source, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "copy.db")
    ok_process(tmp_path, "import", str(source.archive), "--store", url)
    # The copy moves on: a new summary on src/app.py takes the head the archive names.
    work = tmp_path / "ws"
    shutil.copytree(source.root, work)
    ok(
        work,
        "put",
        "src/app.py",
        "--type",
        "summary",
        "--agent",
        "a1",
        "--content",
        "app v3",
        "--store",
        url,
    )
    before = json.dumps(read_outputs_for(work, url), sort_keys=True)
    result = run_cli(tmp_path, "import", str(source.archive), "--store", url)
    assert_one_line_error(result, "import_conflict")
    assert json.dumps(read_outputs_for(work, url), sort_keys=True) == before


def read_outputs_for(root: Path, url: str) -> list[Any]:
    """What ``get`` and ``heads`` show on every path of the store at ``url``."""
    return [
        ok(root, command, path, "--store", url) for path in PATHS for command in ("get", "heads")
    ]
