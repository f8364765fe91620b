"""Frame and Basis: validation, and which fields do and do not enter the FrameID."""

from __future__ import annotations

import dataclasses
import json

import pytest

from treeframe.errors import InvalidFrame, InvalidId, StoreCorrupt
from treeframe.frames.frame import Basis, Frame, new_frame, validate_label
from treeframe.hashing.canonical_json import canonical_json
from treeframe.hashing.ids import content_hash, file_node_id

NODE = file_node_id("a.txt", content_hash(b"hello"), False)
OTHER_NODE = file_node_id("b.txt", content_hash(b"hello"), False)
BASE = new_frame(NODE, "summary", "agent-1", b"text")
FRAME = BASE.frame_id


def test_same_inputs_give_the_same_frame_id():
    assert new_frame(NODE, "summary", "agent-1", b"text").frame_id == FRAME
    assert BASE.compute_id() == FRAME


def test_default_basis_is_the_node():
    assert BASE.basis == Basis.node(NODE)
    explicit = new_frame(NODE, "summary", "agent-1", b"text", basis=Basis.node(NODE))
    assert explicit.frame_id == FRAME


def test_metadata_content_type_and_created_at_do_not_affect_the_id():
    decorated = new_frame(
        NODE,
        "summary",
        "agent-1",
        b"text",
        content_type="text/markdown",
        metadata={"model": "x", "temperature": "0"},
    )
    assert decorated.frame_id == FRAME
    stored = dataclasses.replace(decorated, seq=42, created_at="2030-01-01T00:00:00Z")
    assert stored.compute_id() == FRAME


@pytest.mark.parametrize(
    "kwargs",
    [
        {"node_id": OTHER_NODE},
        {"frame_type": "note"},
        {"agent_id": "agent-2"},
        {"content": b"other text"},
        {"basis": Basis.frame(FRAME)},
        {"basis": Basis.node(OTHER_NODE)},
        {"basis": Basis.node_frame(NODE, FRAME)},
        {"basis": Basis.synthesis([FRAME], "concat")},
    ],
    ids=[
        "node",
        "type",
        "agent",
        "content",
        "frame-basis",
        "other-node-basis",
        "node+frame",
        "synthesis",
    ],
)
def test_each_hashed_input_changes_the_id(kwargs):
    args = {"node_id": NODE, "frame_type": "summary", "agent_id": "agent-1", "content": b"text"}
    args.update(kwargs)
    assert new_frame(**args).frame_id != FRAME


def test_frame_fields_are_filled():
    assert BASE.content_hash == content_hash(b"text")
    assert BASE.size == 4
    assert BASE.seq == 0
    assert BASE.created_at == ""
    assert BASE.content_type == "text/plain; charset=utf-8"


def test_metadata_is_stored_sorted():
    frame = new_frame(NODE, "t", "a", b"", metadata={"b": "2", "a": "1"})
    assert frame.metadata == (("a", "1"), ("b", "2"))


# -- new_frame validation ------------------------------------------------------


@pytest.mark.parametrize("value", ["", " ", "\t\n"], ids=["empty", "space", "whitespace"])
@pytest.mark.parametrize("field", ["frame_type", "agent_id"])
def test_empty_or_whitespace_label_raises_invalid_frame(field, value):
    args = {"node_id": NODE, "frame_type": "t", "agent_id": "a", "content": b""}
    args[field] = value
    with pytest.raises(InvalidFrame, match="must not be empty"):
        new_frame(**args)


@pytest.mark.parametrize(
    "value",
    [
        " lead",
        "trail ",
        "has space",
        "caf\u00e9",
        "-dash-first",
        ".dot",
        "a" * 129,
        "tab\t",
        "x;y",
        "new\nline",
    ],
)
@pytest.mark.parametrize("field", ["frame_type", "agent_id"])
def test_bad_label_characters_raise_invalid_frame(field, value):
    args = {"node_id": NODE, "frame_type": "t", "agent_id": "a", "content": b""}
    args[field] = value
    with pytest.raises(InvalidFrame, match="invalid"):
        new_frame(**args)


@pytest.mark.parametrize("value", ["a", "Z9", "summary.v2", "team/agent@host:1+x-y_z", "a" * 128])
def test_good_labels_pass(value):
    assert validate_label(value, "frame type") == value


def test_oversize_content_raises_invalid_frame():
    new_frame(NODE, "t", "a", b"x" * 10, max_content_bytes=10)
    with pytest.raises(InvalidFrame, match="over the limit"):
        new_frame(NODE, "t", "a", b"x" * 11, max_content_bytes=10)


def test_text_content_must_be_utf8():
    with pytest.raises(InvalidFrame, match="not valid UTF-8"):
        new_frame(NODE, "t", "a", b"\xff\xfe", content_type="text/plain")
    frame = new_frame(NODE, "t", "a", b"\xff\xfe", content_type="application/octet-stream")
    assert frame.size == 2


def test_content_must_be_bytes():
    with pytest.raises(InvalidFrame, match="bytes"):
        new_frame(NODE, "t", "a", "text")  # type: ignore[arg-type]


@pytest.mark.parametrize("content_type", ["", "x" * 256])
def test_bad_content_type_raises_invalid_frame(content_type):
    with pytest.raises(InvalidFrame, match="content type"):
        new_frame(NODE, "t", "a", b"", content_type=content_type)


@pytest.mark.parametrize(
    "metadata",
    [{"": "v"}, {"k": 1}, {1: "v"}, {"k": None}],
    ids=["empty-key", "int-value", "int-key", "none-value"],
)
def test_bad_metadata_raises_invalid_frame(metadata):
    with pytest.raises(InvalidFrame, match="metadata"):
        new_frame(NODE, "t", "a", b"", metadata=metadata)


@pytest.mark.parametrize(
    "node_id", [NODE.upper(), NODE[:-1], "", "g" * 64], ids=["upper", "short", "empty", "non-hex"]
)
def test_malformed_node_id_raises_invalid_id(node_id):
    with pytest.raises(InvalidId):
        new_frame(node_id, "t", "a", b"")


# -- Basis ---------------------------------------------------------------------


def test_basis_constructors_fill_the_right_fields():
    assert Basis.node(NODE).to_dict() == {"kind": "node", "node_id": NODE}
    assert Basis.frame(FRAME).to_dict() == {"kind": "frame", "frame_id": FRAME}
    assert Basis.node_frame(NODE, FRAME).to_dict() == {
        "kind": "node+frame",
        "node_id": NODE,
        "frame_id": FRAME,
    }
    synthesis = Basis.synthesis([FRAME], "concat", {"sep": "\n"})
    assert synthesis.to_dict() == {
        "kind": "synthesis",
        "child_frames": [FRAME],
        "policy_id": "concat",
        "params": {"sep": "\n"},
    }
    assert synthesis.params_json == b'{"sep":"\\n"}'


@pytest.mark.parametrize(
    "basis",
    [
        Basis.node(NODE),
        Basis.frame(FRAME),
        Basis.node_frame(NODE, FRAME),
        Basis.synthesis([FRAME, FRAME], "concat", {"b": [1], "a": True}),
        Basis.synthesis([], "p"),
    ],
    ids=["node", "frame", "node+frame", "synthesis", "synthesis-empty"],
)
def test_basis_dict_round_trip_keeps_the_hash(basis):
    again = Basis.from_dict(json.loads(json.dumps(basis.to_dict())))
    assert again == basis
    assert again.hash() == basis.hash()


def test_synthesis_params_key_order_does_not_matter():
    one = Basis.synthesis([FRAME], "p", {"a": 1, "b": 2})
    two = Basis.synthesis([FRAME], "p", {"b": 2, "a": 1})
    assert one.hash() == two.hash()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "bogus"},
        {"kind": "node"},
        {"kind": "node", "node_id": NODE, "frame_id": FRAME},
        {"kind": "frame", "node_id": NODE},
        {"kind": "node+frame", "node_id": NODE},
        {"kind": "synthesis", "node_id": NODE, "policy_id": "p"},
        {"kind": "node", "node_id": NODE, "child_frames": (FRAME,)},
        {"kind": "node", "node_id": NODE, "policy_id": "p"},
        {"kind": "node", "node_id": NODE, "params_json": b'{"a":1}'},
    ],
    ids=[
        "unknown-kind",
        "node-missing",
        "node-with-frame",
        "frame-with-node",
        "node+frame-missing",
        "synthesis-with-node",
        "node-with-children",
        "node-with-policy",
        "node-with-params",
    ],
)
def test_basis_with_wrong_fields_raises_invalid_frame(kwargs):
    with pytest.raises(InvalidFrame):
        Basis(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"node_id": NODE.upper()}, {"node_id": "x"}],
    ids=["upper", "short"],
)
def test_basis_malformed_id_raises_invalid_id(kwargs):
    with pytest.raises(InvalidId):
        Basis("node", **kwargs)
    with pytest.raises(InvalidId):
        Basis.synthesis([kwargs["node_id"]], "p")


@pytest.mark.parametrize("policy", ["", " ", "has space", "caf\u00e9"])
def test_synthesis_policy_id_uses_the_label_alphabet(policy):
    with pytest.raises(InvalidFrame):
        Basis.synthesis([FRAME], policy)


@pytest.mark.parametrize(
    "params_json",
    [b'{ "a": 1 }', b'{"b":1,"a":2}', b"[]", b"1", b"not json", b"\xff", b'{"a":1.5}'],
    ids=["spaces", "unsorted", "array", "number", "garbage", "not-utf8", "float"],
)
def test_synthesis_params_must_be_canonical_json_object(params_json):
    with pytest.raises(InvalidFrame, match="canonical"):
        Basis("synthesis", policy_id="p", params_json=params_json)


@pytest.mark.parametrize("params", [{"a": 1.5}, {1: "x"}], ids=["float", "int-key"])
def test_synthesis_non_canonical_params_raise_invalid_frame(params):
    with pytest.raises(InvalidFrame):
        Basis.synthesis([FRAME], "p", params)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"kind": "synthesis"},
        {"kind": "node"},
        {"kind": "synthesis", "child_frames": 3, "policy_id": "p"},
    ],
    ids=["no-kind", "synthesis-missing", "node-missing", "children-not-list"],
)
def test_basis_from_dict_malformed_raises_invalid_frame(data):
    with pytest.raises(InvalidFrame):
        Basis.from_dict(data)


# -- frame/1 records --------------------------------------------------------------


def _stored() -> Frame:
    frame = new_frame(
        NODE,
        "summary",
        "agent-1",
        "r\u00e9sum\u00e9".encode(),
        basis=Basis.synthesis([FRAME], "concat", {"n": 2}),
        metadata={"model": "m"},
    )
    return dataclasses.replace(frame, seq=3, created_at="2024-01-01T00:00:00Z")


def test_frame_json_round_trip():
    frame = _stored()
    assert Frame.from_json(frame.to_json()) == frame
    assert frame.to_json() == canonical_json(frame.to_dict())
    assert frame.to_dict()["schema"] == "frame/1"


def test_frame_dict_field_names():
    assert set(_stored().to_dict()) == {
        "schema",
        "frame_id",
        "node_id",
        "frame_type",
        "agent_id",
        "basis",
        "content_hash",
        "size",
        "content_type",
        "metadata",
        "seq",
        "created_at",
    }


def _damage(field: str, value: object) -> bytes:
    data = _stored().to_dict()
    if value is _DROP:
        del data[field]
    else:
        data[field] = value
    return json.dumps(data).encode()


_DROP = object()


@pytest.mark.parametrize(
    "damaged",
    [
        b"",
        b"{",
        b"[]",
        b"\xff",
        _damage("frame_id", _DROP),
        _damage("frame_id", "X" * 64),
        _damage("node_id", 5),
        _damage("content_hash", "abc"),
        _damage("basis", {"kind": "node", "node_id": "short"}),
        _damage("basis", {"kind": "nope"}),
        _damage("basis", "node"),
        _damage("metadata", []),
        _damage("size", "many"),
    ],
    ids=[
        "empty",
        "truncated",
        "array",
        "not-utf8",
        "missing-id",
        "upper-id",
        "int-node",
        "short-hash",
        "basis-bad-id",
        "basis-bad-kind",
        "basis-string",
        "metadata-list",
        "size-string",
    ],
)
def test_frame_from_json_damaged_raises_store_corrupt(damaged):
    with pytest.raises(StoreCorrupt):
        Frame.from_json(damaged)
