"""The hash functions behind every ID (see docs/SCHEMAS.md for the exact bytes)."""

from __future__ import annotations

import re

import blake3
import pytest

from treeframe.errors import InvalidId
from treeframe.hashing import ids as h
from treeframe.hashing.encoding import blob, tagged

HEX64 = re.compile(r"[0-9a-f]{64}")
C1 = h.content_hash(b"one")
C2 = h.content_hash(b"two")
N1 = h.file_node_id("a", C1, False)
F1 = h.frame_id(N1, "note", "agent", h.basis_hash(h.BASIS_NODE, node_id=N1), C1)


def test_tags_are_distinct_and_versioned():
    tags = [value for name, value in vars(h).items() if name.startswith("TAG_")]
    assert len(tags) == 10
    assert len(set(tags)) == len(tags)
    for tag in tags:
        assert tag.startswith(b"treeframe:")
        assert tag.endswith(b":v1")


def test_ids_are_64_lowercase_hex():
    for value in (
        C1,
        N1,
        F1,
        h.workspace_id("w"),
        h.dir_node_id("", []),
        h.symlink_node_id("l", "t"),
    ):
        assert HEX64.fullmatch(value)


def test_content_hash_is_domain_separated_blake3():
    assert h.content_hash(b"x") == blake3.blake3(blob(h.TAG_CONTENT) + b"x").hexdigest()
    assert h.content_hash(b"x") != blake3.blake3(b"x").hexdigest()


def test_content_hasher_streams_to_the_same_hash():
    hasher = h.content_hasher()
    hasher.update(b"hel")
    hasher.update(b"lo\n")
    assert hasher.hexdigest() == h.content_hash(b"hello\n")


def test_file_node_id_covers_path_content_and_exec_bit():
    base = h.file_node_id("a", C1, False)
    assert h.file_node_id("a", C1, False) == base
    assert h.file_node_id("b", C1, False) != base
    assert h.file_node_id("a", C2, False) != base
    assert h.file_node_id("a", C1, True) != base


def test_node_kinds_never_collide():
    assert h.symlink_node_id("a", "") != h.dir_node_id("a", [])


def test_symlink_node_id_covers_target_verbatim():
    assert h.symlink_node_id("l", "x") != h.symlink_node_id("l", "y")
    assert h.symlink_node_id("l", "cafe\u0301") != h.symlink_node_id("l", "caf\u00e9")


def test_dir_node_id_depends_on_child_order_given():
    # Sorting is the caller's job (NodeRecord.directory does it); the raw function hashes as given.
    a, b = ("a", N1), ("b", N1)
    assert h.dir_node_id("", [a, b]) != h.dir_node_id("", [b, a])


def test_dir_node_id_covers_names_and_ids():
    base = h.dir_node_id("d", [("a", N1)])
    assert h.dir_node_id("d", [("b", N1)]) != base
    assert h.dir_node_id("d", [("a", h.file_node_id("a", C2, False))]) != base
    assert h.dir_node_id("e", [("a", N1)]) != base
    assert h.dir_node_id("d", []) != base


def test_basis_kinds_hash_differently():
    hashes = {
        h.basis_hash(h.BASIS_NODE, node_id=N1),
        h.basis_hash(h.BASIS_FRAME, frame_id=F1),
        h.basis_hash(h.BASIS_NODE_FRAME, node_id=N1, frame_id=F1),
        h.basis_hash(h.BASIS_SYNTHESIS, child_frames=[F1], policy_id="p", params_json=b"{}"),
    }
    assert len(hashes) == 4


def test_basis_node_and_frame_with_same_bytes_differ():
    same = N1  # a NodeID used as a FrameID: the kind byte keeps them apart
    assert h.basis_hash(h.BASIS_NODE, node_id=same) != h.basis_hash(h.BASIS_FRAME, frame_id=same)


def test_synthesis_basis_covers_order_policy_and_params():
    f2 = h.frame_id(N1, "note", "agent", h.basis_hash(h.BASIS_NODE, node_id=N1), C2)

    def syn(children, policy="p", params=b"{}"):
        return h.basis_hash(
            h.BASIS_SYNTHESIS, child_frames=children, policy_id=policy, params_json=params
        )

    base = syn([F1, f2])
    assert syn([f2, F1]) != base
    assert syn([F1, f2, f2]) != base
    assert syn([F1, f2], policy="q") != base
    assert syn([F1, f2], params=b'{"a":1}') != base


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": h.BASIS_NODE},
        {"kind": h.BASIS_FRAME},
        {"kind": h.BASIS_NODE_FRAME, "node_id": N1},
        {"kind": 0},
        {"kind": 5},
    ],
    ids=["node-missing", "frame-missing", "node+frame-missing-frame", "kind-0", "kind-5"],
)
def test_basis_hash_missing_field_or_unknown_kind_raises(kwargs):
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError, match="basis kind"):
        h.basis_hash(kind, **kwargs)


def test_frame_id_covers_each_hashed_field():
    basis = h.basis_hash(h.BASIS_NODE, node_id=N1)
    base = h.frame_id(N1, "note", "agent", basis, C1)
    n2 = h.file_node_id("b", C1, False)
    assert h.frame_id(n2, "note", "agent", basis, C1) != base
    assert h.frame_id(N1, "summary", "agent", basis, C1) != base
    assert h.frame_id(N1, "note", "agent2", basis, C1) != base
    assert h.frame_id(N1, "note", "agent", h.basis_hash(h.BASIS_FRAME, frame_id=F1), C1) != base
    assert h.frame_id(N1, "note", "agent", basis, C2) != base


def test_frame_id_label_boundaries_are_unambiguous():
    basis = h.basis_hash(h.BASIS_NODE, node_id=N1)
    assert h.frame_id(N1, "ab", "c", basis, C1) != h.frame_id(N1, "a", "bc", basis, C1)


@pytest.mark.parametrize(
    "bad",
    [C1.upper(), C1[:-2], C1 + "00", " " + C1[1:], C1[:32] + " " + C1[33:], "", "zz" * 32],
    ids=["upper", "short", "long", "space-prefix", "inner-space", "empty", "non-hex"],
)
def test_hash_inputs_must_be_canonical_hex(bad):
    with pytest.raises(InvalidId):
        h.file_node_id("a", bad, False)
    with pytest.raises(InvalidId):
        h.frame_id(bad, "t", "a", C1, C1)


def test_set_digests_are_raw_and_domain_separated():
    raw = bytes.fromhex(F1)
    leaf = h.set_leaf(raw)
    assert len(leaf) == 32
    assert leaf != h.set_inner(raw, raw)
    assert h.set_inner(leaf, leaf) != h.set_inner(leaf, h.set_leaf(bytes.fromhex(N1)))
    assert h.set_empty_root() == blake3.blake3(tagged(h.TAG_SET_EMPTY)).digest()


def test_workspace_id_is_deterministic_per_name():
    assert h.workspace_id("w") == h.workspace_id("w")
    assert h.workspace_id("w") != h.workspace_id("W")
