"""Schema upgrades of a real store written by the release of schema version 3.

tests/data/store-v3.db was written by the code of commit 6c928f7 (regenerate
it with tests/data/make_store_v3.py); store-v3.json holds what that code
answered, so every read must give the same answers after the upgrade.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import assert_one_line_error, run_cli
from treeframe.storage.sqlite import SCHEMA_VERSION

DATA = Path(__file__).resolve().parents[1] / "data"
ANSWERS: dict[str, Any] = json.loads((DATA / "store-v3.json").read_text(encoding="utf-8"))
PATH_KEYS = ("root_dir", "store")  # where the workspace was, not what it holds


def _v3_workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for name, text in ANSWERS["files"].items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / ".treeframe").mkdir()
    shutil.copyfile(DATA / "store-v3.db", root / ".treeframe" / "store.db")
    return root


def _schema(root: Path) -> tuple[str, list[tuple[Any, ...]] | None]:
    """The store's version and its schema_migrations rows (None: no such table)."""
    conn = sqlite3.connect(root / ".treeframe" / "store.db")
    try:
        (version,) = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        try:
            rows = conn.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall()
        except sqlite3.OperationalError:
            return version, None
    finally:
        conn.close()
    return version, rows


def _json(root: Path, *args: str) -> Any:
    result = run_cli(root, *args, "--json")
    assert result.code == 0, result.stderr
    return result.json()


def _as_old(new: Any, old: Any) -> Any:
    """``new`` cut down to the keys ``old`` has: fields added to the output since are left out."""
    if isinstance(new, dict) and isinstance(old, dict):
        return {key: _as_old(new[key], old[key]) if key in new else None for key in old}
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [_as_old(n, o) for n, o in zip(new, old, strict=True)]
    return new


def _assert_same_answers(root: Path) -> None:
    status = _json(root, "status")
    expected = dict(ANSWERS["status"])
    for key in PATH_KEYS:
        del status[key], expected[key]
    assert status == expected
    assert _json(root, "ls", "src") == ANSWERS["ls"]
    for path in ("src", "src/app.py"):
        assert _json(root, "heads", path) == ANSWERS["heads"][path]
        old = ANSWERS["get"][path]
        assert _as_old(_json(root, "get", path), old) == old
    assert _json(root, "verify")["ok"] is True


def test_v3_store_gives_the_same_answers_before_and_after_migrate_schema(
    tmp_path: Path,
) -> None:
    root = _v3_workspace(tmp_path)
    _assert_same_answers(root)  # read commands read version 3 as it is
    assert _schema(root) == ("3", None)

    dry = _json(root, "migrate-schema", "--dry-run")
    steps = [
        {"version": 4, "name": "frames.put_seq"},
        {"version": 5, "name": "schema_migrations"},
        {"version": 6, "name": "workspace metadata"},
        {"version": 7, "name": "tokens and acl"},
        {"version": 8, "name": "audit log"},
        {"version": 9, "name": "content catalog"},
    ]
    assert dry == {
        "store": dry["store"],
        "version": 3,
        "latest": SCHEMA_VERSION,
        "pending": steps,
        "applied": [],
        "dry_run": True,
    }
    assert _schema(root) == ("3", None)

    done = _json(root, "migrate-schema")
    assert (done["version"], done["pending"], done["applied"]) == (3, steps, steps)
    version, rows = _schema(root)
    assert version == str(SCHEMA_VERSION)
    assert rows is not None
    assert [row[:2] for row in rows] == [
        (4, "before schema_migrations"),
        (5, "schema_migrations"),
        (6, "workspace metadata"),
        (7, "tokens and acl"),
        (8, "audit log"),
        (9, "content catalog"),
    ]
    assert rows[0][2] is None
    assert rows[1][2].endswith("Z")
    _assert_same_answers(root)

    again = run_cli(root, "migrate-schema")
    assert again.code == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "up to date"

    # Writes work, with today's semantics: a re-put makes the older frame current.
    first = ANSWERS["get"]["src/app.py"]["frames"][1]
    assert first["content"] == "first"
    put = ["put", "src/app.py", "--type", "note", "--agent", "alice", "--content"]
    assert _json(root, *put, "first")["frame_id"] == first["frame_id"]
    assert _json(root, "heads", "src/app.py")["heads"] == {"note": first["frame_id"]}
    new = _json(root, *put, "third")
    assert _json(root, "heads", "src/app.py")["heads"] == {"note": new["frame_id"]}
    assert _json(root, "verify")["ok"] is True


def test_a_write_command_upgrades_an_old_store_when_it_opens_it(tmp_path: Path) -> None:
    root = _v3_workspace(tmp_path)
    added = run_cli(root, "agent", "add", "bob", "--role", "writer")
    assert added.code == 0, added.stderr
    assert _schema(root)[0] == str(SCHEMA_VERSION)
    _assert_same_answers(root)
    assert _json(root, "migrate-schema")["applied"] == []


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["heads", "src"],
        ["put", "src", "--type", "t", "--agent", "alice", "--content", "x"],
        ["migrate-schema"],
        ["migrate-schema", "--dry-run"],
    ],
)
def test_a_newer_store_fails_with_version_not_supported(tmp_path: Path, command: list[str]) -> None:
    root = _v3_workspace(tmp_path)
    conn = sqlite3.connect(root / ".treeframe" / "store.db")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    result = run_cli(root, *command)
    assert result.code == 1
    assert_one_line_error(result, "version_not_supported")
    assert "schema version 99, newer" in result.stderr
    assert _schema(root) == ("99", None)


def test_migrate_schema_on_a_memory_store_has_nothing_to_do(tmp_path: Path) -> None:
    document = _json(tmp_path, "migrate-schema", "--store", "memory://")
    assert (document["version"], document["latest"], document["applied"]) == (None, None, [])
    text = run_cli(tmp_path, "migrate-schema", "--store", "memory://")
    assert "no schema versions" in text.stdout


def test_migrate_schema_refuses_a_missing_store(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "migrate-schema", "--store", f"sqlite://{tmp_path}/none.db")
    assert_one_line_error(result, "store_not_found")
    assert not (tmp_path / "none.db").exists()


def test_migrate_schema_never_prints_a_password(tmp_path: Path, pg_database: str) -> None:
    from treeframe.storage.registry import open_store

    open_store(pg_database).close()  # a current PostgreSQL store
    with_password = pg_database.replace("postgres@", "postgres:s3cret-pw@", 1)
    assert "s3cret-pw" in with_password
    text = run_cli(tmp_path, "migrate-schema", "--store", with_password)
    document = _json(tmp_path, "migrate-schema", "--store", with_password)
    assert text.code == 0, text.stderr
    assert "s3cret-pw" not in text.stdout + text.stderr
    assert "s3cret-pw" not in json.dumps(document)
    assert document["store"].startswith("postgresql://postgres@127.0.0.1")
    assert document["pending"] == []
