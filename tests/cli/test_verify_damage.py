"""verify finds every kind of damage in one run, never stopping at the first or crashing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli.helpers import run_cli


def _put(root: Path, path: str, frame_type: str, content: str) -> dict:
    result = run_cli(
        root, "put", path, "--type", frame_type, "--agent", "a", "--content", content, "--json"
    )
    assert result.code == 0, result.stderr
    return result.json()


def _db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / ".treeframe" / "store.db", isolation_level=None)


def _rewrite_json(conn: sqlite3.Connection, table: str, key_col: str, key: bytes, **changes):
    (record,) = conn.execute(f"SELECT record FROM {table} WHERE {key_col}=?", (key,)).fetchone()
    data = json.loads(record)
    data.update(changes)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    conn.execute(f"UPDATE {table} SET record=? WHERE {key_col}=?", (blob, key))


def test_verify_reports_each_kind_of_damage(workspace):
    app = _put(workspace, "src/app.py", "summary", "app summary")
    _put(workspace, "src/app.py", "review", "app review")
    readme = _put(workspace, "README.md", "summary", "readme summary")
    util = run_cli(workspace, "node", "src/lib/util.py", "--json").json()
    guide = run_cli(workspace, "node", "docs/guide.md", "--json").json()
    assert run_cli(workspace, "verify").code == 0

    conn = _db(workspace)
    try:
        raw = bytes.fromhex
        # a node record whose hashed field changed
        _rewrite_json(conn, "nodes", "node", raw(util["node_id"]), path="src/lib/other.py")
        # a node record that no longer parses
        conn.execute(
            "UPDATE nodes SET record=? WHERE node=?", (b"{not json", raw(guide["node_id"]))
        )
        # content bytes that no longer match their hash
        conn.execute(
            "UPDATE contents SET data=? WHERE hash=?",
            (b"tampered", raw(readme["content_hash"])),
        )
        # a frame whose hashed field changed (column kept consistent with the record)
        _rewrite_json(conn, "frames", "frame", raw(app["frame_id"]), agent_id="mallory")
        conn.execute("UPDATE frames SET agent='mallory' WHERE frame=?", (raw(app["frame_id"]),))
        # a frame-set root and a count that disagree with the members
        conn.execute(
            "UPDATE frame_sets SET root=? WHERE node=?", (b"\0" * 32, raw(readme["node_id"]))
        )
        conn.execute("UPDATE frame_sets SET count=7 WHERE node=?", (raw(app["node_id"]),))
        # a head pointing at another node's frame, and one pointing nowhere
        conn.execute(
            "UPDATE heads SET frame=? WHERE node=? AND type='review'",
            (raw(readme["frame_id"]), raw(app["node_id"])),
        )
        conn.execute(
            "UPDATE heads SET frame=? WHERE node=? AND type='summary'",
            (b"\x01" * 32, raw(readme["node_id"])),
        )
        # a path index entry naming a missing node
        conn.execute("UPDATE paths SET node=? WHERE path='docs'", (b"\x02" * 32,))
        # path history naming a missing node
        conn.execute(
            "INSERT INTO path_history (ws, path, seq, node) VALUES (1, 'gone.txt', 1, ?)",
            (b"\x03" * 32,),
        )
        # a basis-index entry naming a frame that does not exist
        conn.execute(
            "INSERT INTO basis_refs (ws, ref, seq, frame) VALUES (1, ?, 999, ?)",
            (raw(util["node_id"]), b"\x04" * 32),
        )
        # an agent record that no longer parses
        conn.execute("UPDATE agents SET record=? WHERE agent='a1'", (b"{broken",))
    finally:
        conn.close()

    result = run_cli(workspace, "verify", "--json")
    assert result.code == 3
    assert "Traceback" not in result.stderr
    report = result.json()
    assert report["ok"] is False
    kinds = {(p["kind"], p["key"]) for p in report["problems"]}
    expected = {
        ("node_id_mismatch", util["node_id"]),
        ("content_hash_mismatch", readme["content_hash"]),
        ("frame_id_mismatch", app["frame_id"]),
        ("set_root_mismatch", readme["node_id"]),
        ("set_count_mismatch", app["node_id"]),
        ("head_mismatch", f"{app['node_id']}:review"),
        ("head_dangling", f"{readme['node_id']}:summary"),
        ("path_dangling", "docs"),
        ("path_history_dangling", "gone.txt@1"),
        ("basis_ref_dangling", f"{util['node_id']}:{'04' * 32}"),
        ("basis_index_incomplete", ""),
        ("damaged_record", "agents:a1"),
    }
    assert expected <= kinds, sorted(kinds)
    assert any(kind == "damaged_record" and guide["node_id"] in key for kind, key in kinds)
    # human output lists every problem on stderr and exits non-zero too
    human = run_cli(workspace, "verify")
    assert human.code == 3
    assert human.stderr.count("\n") >= len(expected)


def test_verify_on_byte_level_damage_never_tracebacks(workspace):
    for i in range(20):
        _put(workspace, "src/app.py", "note", f"note {i} " * 200)
    db = workspace / ".treeframe" / "store.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    # keep the 100-byte header intact so the file is still recognisably SQLite
    for offset in range(4096 * 2, len(data), 997):
        data[offset] ^= 0x5A
    db.write_bytes(bytes(data))
    result = run_cli(workspace, "verify", "--json")
    assert result.code in (1, 3), result
    assert "Traceback" not in result.stderr
    if result.code == 3:
        assert result.json()["ok"] is False
    else:
        assert len(result.stderr.strip().splitlines()) == 1
