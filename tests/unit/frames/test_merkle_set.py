"""Per-node frame Merkle set: roots, proofs and their verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from treeframe.errors import FrameNotFound, InvalidRequest
from treeframe.frames import merkle_set
from treeframe.frames.merkle_set import (
    EMPTY_ROOT,
    MembershipProof,
    ProofStep,
    prove,
    root_of,
    verify,
)
from treeframe.hashing.ids import content_hash, set_inner, set_leaf

VECTORS = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "test-vectors.json").read_text("utf-8")
)


def ids(n: int, salt: str = "") -> list[str]:
    return [content_hash(f"{salt}{i}".encode()) for i in range(n)]


def test_empty_root_is_the_documented_constant():
    assert VECTORS["frame_set"]["empty_root"]["root"] == EMPTY_ROOT
    assert root_of([]) == EMPTY_ROOT
    assert merkle_set.root_of_raw([]).hex() == EMPTY_ROOT


def test_single_member_root_is_its_leaf():
    (f,) = ids(1)
    assert root_of([f]) == set_leaf(bytes.fromhex(f)).hex()


def test_two_members_root_is_inner_of_sorted_leaves():
    a, b = sorted(ids(2))
    expected = set_inner(set_leaf(bytes.fromhex(a)), set_leaf(bytes.fromhex(b))).hex()
    assert root_of([b, a]) == expected


def test_odd_member_is_promoted_not_duplicated():
    a, b, c = sorted(ids(3))
    la, lb, lc = (set_leaf(bytes.fromhex(x)) for x in (a, b, c))
    assert root_of([a, b, c]) == set_inner(set_inner(la, lb), lc).hex()
    assert root_of([a, b, c]) != set_inner(set_inner(la, lb), set_inner(lc, lc)).hex()


@pytest.mark.parametrize("n", [2, 3, 5, 8, 17])
def test_root_is_independent_of_order(n):
    members = ids(n)
    assert root_of(members) == root_of(list(reversed(members)))
    assert root_of(members) == root_of(sorted(members))


def test_duplicates_are_ignored():
    members = ids(4)
    assert root_of(members + members[:2]) == root_of(members)


def test_root_depends_on_membership():
    members = ids(4)
    roots = {root_of(members[:k]) for k in range(5)}
    assert len(roots) == 5
    assert root_of(ids(4, "x")) != root_of(members)


def test_root_of_raw_matches_hex_root():
    members = ids(6)
    assert merkle_set.root_of_raw(bytes.fromhex(m) for m in members).hex() == root_of(members)


@pytest.mark.parametrize("n", range(1, 34))
def test_every_member_proof_verifies(n):
    members = ids(n)
    root = root_of(members)
    for member in members:
        proof = prove(members, member)
        assert proof.frame_id == member
        assert len(proof.steps) <= max(1, n - 1).bit_length()
        assert verify(proof, root)
        assert verify(MembershipProof.from_dict(proof.to_dict()), root)


def test_proof_fails_for_a_non_member():
    members = ids(5)
    proof = prove(members, members[2])
    forged = MembershipProof(ids(1, "outsider")[0], proof.steps)
    assert not verify(forged, root_of(members))


def test_proof_fails_for_a_tampered_step():
    members = ids(5)
    root = root_of(members)
    proof = prove(members, members[0])
    step = proof.steps[0]
    flipped_side = ProofStep("right" if step.side == "left" else "left", step.digest)
    other_digest = ProofStep(step.side, "0" * 64)
    for bad in (flipped_side, other_digest):
        tampered = MembershipProof(proof.frame_id, (bad, *proof.steps[1:]))
        assert not verify(tampered, root)
    assert not verify(MembershipProof(proof.frame_id, proof.steps[:-1]), root)


def test_proof_fails_for_the_wrong_root():
    members = ids(5)
    proof = prove(members, members[3])
    assert not verify(proof, root_of(members[:4]))
    assert not verify(proof, EMPTY_ROOT)


def test_prove_non_member_raises_frame_not_found():
    with pytest.raises(FrameNotFound):
        prove(ids(3), ids(1, "outsider")[0])
    with pytest.raises(FrameNotFound):
        prove([], ids(1)[0])


def test_single_member_proof_has_no_steps():
    (f,) = ids(1)
    proof = prove([f], f)
    assert proof.steps == ()
    assert verify(proof, root_of([f]))


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"frame_id": "a" * 64},
        {"frame_id": "a" * 64, "steps": [{"side": "up", "digest": "b" * 64}]},
        {"frame_id": "a" * 64, "steps": [{"side": "left", "digest": "B" * 64}]},
        {"frame_id": "short", "steps": []},
        {"frame_id": "a" * 64, "steps": [{"side": "left"}]},
    ],
    ids=["empty", "no-steps", "bad-side", "upper-digest", "short-id", "no-digest"],
)
def test_malformed_proof_dict_raises_invalid_request(data):
    with pytest.raises(InvalidRequest):
        MembershipProof.from_dict(data)
