"""Hypothesis properties of the hashing and frame layers."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from treeframe.frames.frame import new_frame
from treeframe.frames.merkle_set import prove, root_of, verify
from treeframe.hashing.canonical_json import canonical_json, loads
from treeframe.hashing.ids import content_hash, file_node_id
from treeframe.tree.records import NodeRecord

hex_ids = st.binary(min_size=32, max_size=32).map(bytes.hex)
NODE = file_node_id("a.txt", content_hash(b"a"), False)

names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=12,
).filter(lambda n: n not in (".", ".."))
paths = st.lists(names, max_size=4).map("/".join)
labels = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,20}", fullmatch=True)
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.text(st.characters(blacklist_categories=("Cs",)))
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=6), inner, max_size=4
        )
    ),
    max_leaves=20,
)


@given(st.lists(hex_ids, max_size=40), st.randoms(use_true_random=False))
def test_merkle_root_is_independent_of_order_and_duplicates(members, rnd):
    shuffled = members + members[: len(members) // 2]
    rnd.shuffle(shuffled)
    assert root_of(shuffled) == root_of(members)


@given(st.lists(hex_ids, min_size=1, max_size=40, unique=True), st.data())
def test_merkle_proof_verifies_for_members_only(members, data):
    root = root_of(members)
    member = data.draw(st.sampled_from(members))
    proof = prove(members, member)
    assert verify(proof, root)
    outsider = data.draw(hex_ids.filter(lambda f: f not in members))
    assert not verify(dataclasses.replace(proof, frame_id=outsider), root)


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=5),
    st.sampled_from(["text/plain", "text/markdown; charset=utf-8", "application/json"]),
    labels,
    labels,
    st.binary(max_size=64).map(lambda b: b.hex().encode()),
)
def test_frame_id_is_independent_of_metadata_and_content_type(
    metadata, content_type, frame_type, agent, content
):
    plain = new_frame(NODE, frame_type, agent, content)
    decorated = new_frame(
        NODE, frame_type, agent, content, metadata=metadata, content_type=content_type
    )
    assert decorated.frame_id == plain.frame_id
    assert dataclasses.replace(decorated, seq=9, created_at="x").compute_id() == plain.frame_id


records = st.one_of(
    st.builds(
        NodeRecord.file,
        paths,
        st.binary(max_size=16).map(content_hash),
        st.integers(min_value=0, max_value=2**63),
        st.booleans(),
    ),
    st.builds(NodeRecord.symlink, paths, st.text(st.characters(blacklist_categories=("Cs",)))),
    st.builds(
        NodeRecord.directory,
        paths,
        st.dictionaries(names, hex_ids, max_size=6).map(lambda d: list(d.items())),
    ),
)


@given(records)
def test_node_record_json_round_trip(record):
    encoded = record.to_json()
    again = NodeRecord.from_json(encoded)
    assert again == record
    assert again.compute_id() == record.node_id
    assert again.to_json() == encoded


@given(paths, st.dictionaries(names, hex_ids, max_size=8), st.randoms(use_true_random=False))
def test_directory_id_is_independent_of_child_order(path, children, rnd):
    entries = list(children.items())
    shuffled = entries[:]
    rnd.shuffle(shuffled)
    assert (
        NodeRecord.directory(path, shuffled).node_id == NodeRecord.directory(path, entries).node_id
    )


@given(json_values)
def test_canonical_json_parse_round_trip(value):
    encoded = canonical_json(value)
    assert loads(encoded) == value
    assert canonical_json(loads(encoded)) == encoded
    assert b"\n" not in encoded


@given(records)
def test_node_record_json_is_the_generic_canonical_encoding(record):
    # to_json formats file records directly for speed; it must stay byte-equal.
    assert record.to_json() == canonical_json(record.to_dict())
