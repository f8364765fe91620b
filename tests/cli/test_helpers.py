"""The test helpers themselves: "store unchanged" must notice a change in any table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli.helpers import store_state
from treeframe.hashing.ids import workspace_id
from treeframe.storage.sqlite import SqliteStore
from treeframe.testing.factories import workspace_info

ROWS = {
    "agents": "INSERT INTO agents VALUES (1, 'bot', x'7b7d')",
    "contents": "INSERT INTO contents (ws, hash, data) VALUES (1, zeroblob(32), x'00')",
    "path_history": "INSERT INTO path_history VALUES (1, 'a.txt', 1, zeroblob(32))",
    "basis_refs": "INSERT INTO basis_refs VALUES (1, zeroblob(32), 1, zeroblob(32))",
    "scan_staging": "INSERT INTO scan_staging VALUES (1, 'tok', 'a.txt', NULL)",
    "scans": "INSERT INTO scans VALUES (1, 'tok')",
    "sequence": "UPDATE workspaces SET next_seq = next_seq + 1",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    with SqliteStore(tmp_path / ".treeframe" / "store.db") as store:
        store.create_workspace(workspace_info(workspace_id("default"), "default"))
    return tmp_path


@pytest.mark.parametrize("change", sorted(ROWS))
def test_store_state_sees_a_change_in_every_table(root: Path, change: str) -> None:
    before = store_state(root)
    conn = sqlite3.connect(root / ".treeframe" / "store.db")
    try:
        conn.execute(ROWS[change])
        conn.commit()
    finally:
        conn.close()
    assert store_state(root) != before
