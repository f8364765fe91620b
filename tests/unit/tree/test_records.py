"""NodeRecord: IDs, the node/1 JSON form and strict parsing of damaged records."""

from __future__ import annotations

import json

import pytest

from treeframe.errors import InvalidPath, StoreCorrupt
from treeframe.hashing.canonical_json import canonical_json
from treeframe.hashing.ids import content_hash, dir_node_id, file_node_id, symlink_node_id
from treeframe.tree.records import NodeRecord

C = content_hash(b"hello\n")
FILE = NodeRecord.file("src/a.py", C, 6, True)
LINK = NodeRecord.symlink("src/link", "a.py")
SUB = NodeRecord.directory("src", [("link", LINK.node_id), ("a.py", FILE.node_id)])
ROOT = NodeRecord.directory("", [("src", SUB.node_id)])
RECORDS = [FILE, LINK, SUB, ROOT, NodeRecord.directory("", [])]
RECORD_IDS = ["file", "symlink", "dir", "root", "empty-root"]


def test_constructors_compute_node_ids():
    assert FILE.node_id == file_node_id("src/a.py", C, True)
    assert LINK.node_id == symlink_node_id("src/link", "a.py")
    assert SUB.node_id == dir_node_id("src", [("a.py", FILE.node_id), ("link", LINK.node_id)])


@pytest.mark.parametrize("record", RECORDS, ids=RECORD_IDS)
def test_compute_id_equals_node_id(record):
    assert record.compute_id() == record.node_id


@pytest.mark.parametrize("record", RECORDS, ids=RECORD_IDS)
def test_json_round_trip(record):
    encoded = record.to_json()
    assert encoded == canonical_json(record.to_dict())
    again = NodeRecord.from_json(encoded)
    assert again == record
    assert again.compute_id() == record.node_id
    assert again.to_json() == encoded


def test_size_is_not_hashed():
    assert NodeRecord.file("a", C, 1, False).node_id == NodeRecord.file("a", C, 999, False).node_id


def test_directory_sorts_children_by_utf8_bytes():
    names = ["\U0001f600", "b", "\uff21", "B", "a", "\u00e9"]
    record = NodeRecord.directory("d", [(n, FILE.node_id) for n in names])
    assert [n for n, _ in record.children] == ["B", "a", "b", "\u00e9", "\uff21", "\U0001f600"]


def test_directory_id_is_independent_of_given_order():
    children = [("b", FILE.node_id), ("a", LINK.node_id), ("c", SUB.node_id)]
    assert (
        NodeRecord.directory("d", children).node_id
        == NodeRecord.directory("d", list(reversed(children))).node_id
    )


def test_directory_duplicate_names_raise_invalid_path():
    with pytest.raises(InvalidPath, match="two entries"):
        NodeRecord.directory("d", [("a", FILE.node_id), ("a", LINK.node_id)])


def test_name_is_the_last_component():
    assert FILE.name == "a.py"
    assert SUB.name == "src"
    assert ROOT.name == ""


def test_to_dict_fields_by_kind():
    assert FILE.to_dict() == {
        "schema": "node/1",
        "node_id": FILE.node_id,
        "path": "src/a.py",
        "kind": "file",
        "content_hash": C,
        "size": 6,
        "executable": True,
    }
    assert LINK.to_dict() == {
        "schema": "node/1",
        "node_id": LINK.node_id,
        "path": "src/link",
        "kind": "symlink",
        "target": "a.py",
    }
    assert SUB.to_dict()["children"] == [["a.py", FILE.node_id], ["link", LINK.node_id]]
    assert set(SUB.to_dict()) == {"schema", "node_id", "path", "kind", "children"}


def test_non_ascii_path_is_kept_as_utf8():
    record = NodeRecord.file("caf\u00e9.txt", C, 6, False)
    assert "caf\u00e9.txt".encode() in record.to_json()


_DROP = object()


def _damage(record: NodeRecord, field: str, value: object) -> bytes:
    data = record.to_dict()
    if value is _DROP:
        del data[field]
    else:
        data[field] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    "damaged",
    [
        b"",
        b"{",
        b"null",
        b"[1,2]",
        b'"node"',
        b"\xff\xfe",
        _damage(FILE, "kind", "socket"),
        _damage(FILE, "kind", _DROP),
        _damage(FILE, "schema", "node/2"),
        _damage(FILE, "schema", _DROP),
        _damage(FILE, "node_id", _DROP),
        _damage(FILE, "node_id", FILE.node_id.upper()),
        _damage(FILE, "node_id", 12),
        _damage(FILE, "path", None),
        _damage(FILE, "content_hash", "abc"),
        _damage(FILE, "size", "6"),
        _damage(FILE, "size", -1),
        _damage(FILE, "size", True),
        _damage(FILE, "size", 6.5),
        _damage(FILE, "executable", "false"),
        _damage(FILE, "executable", 0),
        _damage(LINK, "target", _DROP),
        _damage(LINK, "target", ["a"]),
        _damage(SUB, "children", _DROP),
        _damage(SUB, "children", [["a.py"]]),
        _damage(SUB, "children", [[1, FILE.node_id]]),
        _damage(SUB, "children", [["a.py", "zz"]]),
        _damage(SUB, "children", 5),
    ],
    ids=[
        "empty",
        "truncated",
        "null",
        "array",
        "string",
        "not-utf8",
        "unknown-kind",
        "no-kind",
        "future-schema",
        "no-schema",
        "no-node-id",
        "upper-node-id",
        "int-node-id",
        "null-path",
        "short-content-hash",
        "string-size",
        "negative-size",
        "bool-size",
        "float-size",
        "string-executable",
        "int-executable",
        "no-target",
        "list-target",
        "no-children",
        "child-without-id",
        "int-child-name",
        "bad-child-id",
        "children-int",
    ],
)
def test_from_json_damaged_raises_store_corrupt(damaged):
    with pytest.raises(StoreCorrupt):
        NodeRecord.from_json(damaged)


def test_from_json_accepts_a_record_whose_id_does_not_match():
    # Parsing checks shape; verify() is what compares compute_id() with node_id.
    data = FILE.to_dict()
    data["executable"] = False
    record = NodeRecord.from_json(json.dumps(data).encode())
    assert record.compute_id() != record.node_id
