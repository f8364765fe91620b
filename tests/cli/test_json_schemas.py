"""The --json shape of every command is the JSON Schema written in docs/CLI.md."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer.main  # noqa: TID251 (the app's own command tree)

from tests.cli.helpers import Result, run_cli, run_cli_in_process
from tests.snapshot.archives import archive
from treeframe.cli.main import app
from treeframe.storage.urls import sqlite_url

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "CLI.md"
BLOCK = re.compile(r"<!-- json-schema: (.+?) -->\n```json\n(.*?)\n```", re.S)


def _blocks() -> dict[str, Any]:
    found = BLOCK.findall(CLI_MD.read_text(encoding="utf-8"))
    blocks = {name: json.loads(text) for name, text in found}
    assert len(blocks) == len(found), "a schema is written twice"
    return blocks


def _schema(name: str) -> dict[str, Any]:
    blocks = _blocks()
    schema: dict[str, Any] = copy.deepcopy(blocks[name])
    schema["$defs"] = blocks["$defs"]
    return schema


def _validate(name: str, document: Any) -> None:
    jsonschema.Draft202012Validator(_schema(name)).validate(document)


def _json_commands() -> set[str]:
    names = set()

    def walk(group: Any, prefix: str) -> None:
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, f"{prefix}{name} ")
            elif any("--json" in param.opts for param in command.params):
                names.add(prefix + name)

    walk(typer.main.get_command(app), "")
    return names


def test_every_json_command_has_exactly_one_schema():
    commands = _json_commands()
    assert {"put", "get", "frame", "config show", "agent list"} <= commands
    assert set(_blocks()) - {"$defs", "error"} == commands


def test_schemas_are_valid_and_strict():
    for name in _blocks():
        if name != "$defs":
            jsonschema.Draft202012Validator.check_schema(_schema(name))
    frame = {
        "schema": "frame/1",
        "frame_id": "a" * 64,
        "node_id": "b" * 64,
        "frame_type": "t",
        "agent_id": "a",
        "basis": {"kind": "node", "node_id": "b" * 64},
        "content_hash": "c" * 64,
        "size": 1,
        "content_type": "text/plain",
        "metadata": {},
        "seq": 1,
        "created_at": "2026-01-01T00:00:00.123456Z",
    }
    _validate("put", frame)
    for broken in (
        {k: v for k, v in frame.items() if k != "frame_id"},  # a field removed
        {**frame, "surprise": 1},  # a field not documented
        {**frame, "seq": "1"},  # a type changed
        {**frame, "basis": {"kind": "node"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            _validate("put", broken)


def _json(result: Result) -> Any:
    assert result.code == 0, result.stderr
    return result.json()


def test_every_command_prints_its_documented_shape(workspace: Path, tmp_path: Path):
    checked: set[str] = set()

    def check(name: str, *args: str, cwd: Path = workspace, **kw: Any) -> Any:
        document = _json(run_cli_in_process(cwd, *args, "--json", **kw))
        _validate(name, document)
        checked.add(name)
        return document

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    check("init", "init", cwd=fresh)
    os.symlink("README.md", workspace / "link")
    check("scan", "scan")
    check("agent add", "agent", "add", "gen", "--generator", "stats")
    check("agent list", "agent", "list")
    check("agent show", "agent", "show", "a1")
    check("status", "status")
    check("ls", "ls", "src")
    for ref in ("src", "src/app.py", "link"):
        check("node", "node", ref)
    put = [
        "put",
        "src/app.py",
        "--type",
        "summary",
        "--agent",
        "a1",
        "--content",
        "hi",
        "--meta",
        "k=v",
    ]
    first = check("put", *put)
    check("put", *put)  # a re-put prints the stored frame
    check(
        "put",
        "put",
        "src/app.py",
        "--type",
        "review",
        "--agent",
        "a2",
        "--content",
        "ok",
        "--basis-frame",
        first["frame_id"],
    )
    check("get", "get", "src/app.py")
    check("frame", "frame", first["frame_id"])
    check("heads", "heads", "src/app.py")
    check("proof", "proof", "src/app.py", first["frame_id"])
    check("synthesize", "synthesize", ".", "--type", "summary", "--agent", "a", "-r")
    planned = check(
        "generate", "generate", ".", "--agent", "a", "-r", "--type", "gist", "--dry-run"
    )
    assert planned["would_generate"] > 0
    made = check("generate", "generate", ".", "--agent", "a", "-r", "--type", "gist")
    assert made["generated"] == planned["would_generate"]
    (workspace / "src" / "app.py").write_text("print('changed')\n")
    _json(run_cli_in_process(workspace, "scan", "--json"))
    stale = check("stale", "stale", ".", "--recursive")
    assert stale["frames"]
    check("regenerate", "regenerate", ".", "--recursive", "--dry-run")
    check("regenerate", "regenerate", ".", "--recursive")
    redone = check("regenerate", "regenerate", ".", "--recursive", "--agents")
    assert redone["regenerated_count"] > 0  # the gist frames above src/app.py
    composed = check("compose", "compose", "src/app.py", "--source", "node", "--source", "parent")
    assert composed["frames"]
    check("verify", "verify")
    scoped = check("verify", "verify", "--since", "HEAD~1", "--max-duration", "1m")
    assert scoped["scope"] == "since"
    assert scoped["complete"]
    explained = check("explain", "explain", first["frame_id"])
    assert explained["verdict"] == "stale"
    assert check("diff", "diff", "HEAD~1", "HEAD")["entries"]
    assert check("doctor", "doctor")["ok"]
    (workspace / "README.md").write_text("edited, not scanned\n")
    assert check("diff", "diff", "--disk")["counts"]["files_changed"] == 1
    check("audit verify", "audit", "verify")
    check("audit list", "audit", "list")
    check("migrate-schema", "migrate-schema", "--dry-run")
    check("migrate-schema", "migrate-schema", "--store", "memory://")
    source = sqlite_url(str(workspace / ".treeframe" / "store.db"))
    copied = sqlite_url(str(tmp_path / "copied.db"))
    assert check("migrate", "migrate", "--from", source, "--to", copied)["verified"]
    check("workspace create", "workspace", "create", "other", "--description", "second")
    check("workspace delete", "workspace", "delete", "other", "--confirm", "other")
    listed = check("workspace list", "workspace", "list", "--all")
    assert {w["name"] for w in listed["workspaces"]} == {"default", "other"}
    check("workspace restore", "workspace", "restore", "other")
    made = check(
        "token create",
        "token",
        "create",
        "--workspace",
        "other",
        "--agent",
        "a1",
        "--perm",
        "read,admin",
        "--expires",
        "30d",
    )
    check("token create", "token", "create", "--all-workspaces", "--agent", "a1", "--perm", "read")
    check("token list", "token", "list")
    check("token list", "token", "list", "--workspace", "other")
    check("token revoke", "token", "revoke", made["token_id"])
    check("acl grant", "acl", "grant", "--workspace", "other", "--agent", "a2", "--perm", "read")
    check("acl list", "acl", "list", "--workspace", "other")
    check("acl revoke", "acl", "revoke", "--workspace", "other", "--agent", "a2")
    check("config show", "config", "show")
    check("demo", "demo", str(tmp_path / "demo"))
    snapshot_archive = tmp_path / "snapshot.tar"
    snapshot_archive.write_bytes(archive())
    check("verify-export", "verify-export", str(snapshot_archive))
    exported = tmp_path / "exported.tar"
    assert (
        check("export", "export", "-o", str(exported))["archive_bytes"] == exported.stat().st_size
    )
    target = sqlite_url(tmp_path / "imported.db")
    assert check("import", "import", str(exported), "--store", target)["created"] is True
    assert check("import", "import", str(exported), "--store", target)["written"]["frames"] == 0
    check("keygen", "keygen", str(tmp_path / "signing.key"))
    error = run_cli(workspace, "node", "missing", "--json")
    assert error.code == 1
    _validate("error", json.loads(error.stderr))
    checked.add("error")
    # push needs a server: tests/api/test_push_server.py validates its shape against one;
    # watch runs until stopped: tests/cli/test_watch.py validates every line it prints.
    assert checked == set(_blocks()) - {"$defs", "push", "watch"}
