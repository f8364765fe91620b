"""Per-node frame Merkle set: a sorted binary Merkle tree over FrameIDs.

Leaves are the set's FrameIDs sorted by their raw bytes (duplicates removed),
each hashed with the leaf tag. Each level pairs neighbours left to right with
the inner tag; an odd node at the end of a level is promoted unchanged (never
duplicated, which would let two different sets share a root). The root of
the empty set is a documented constant. The root therefore depends only on
membership, never on insertion order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from treeframe.errors import FrameNotFound, InvalidRequest
from treeframe.hashing.ids import set_empty_root, set_inner, set_leaf
from treeframe.ids import FrameId, parse_hex_id

__all__ = [
    "EMPTY_ROOT",
    "MembershipProof",
    "ProofStep",
    "prove",
    "root_of",
    "root_of_raw",
    "verify",
]

EMPTY_ROOT: str = set_empty_root().hex()


@dataclass(frozen=True, slots=True)
class ProofStep:
    """One sibling on the path to the root; ``side`` is where the sibling sits."""

    side: Literal["left", "right"]
    digest: str


@dataclass(frozen=True, slots=True)
class MembershipProof:
    """Evidence that ``frame_id`` belongs to the set with a given root."""

    frame_id: FrameId
    steps: tuple[ProofStep, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "frame_id": self.frame_id,
            "steps": [{"side": s.side, "digest": s.digest} for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MembershipProof:
        """Parse the JSON form; raises InvalidRequest when malformed."""
        try:
            steps = tuple(ProofStep(s["side"], parse_hex_id(s["digest"])) for s in data["steps"])
            if any(s.side not in ("left", "right") for s in steps):
                raise ValueError("side must be 'left' or 'right'")
            return cls(FrameId(parse_hex_id(data["frame_id"], "FrameID")), steps)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"malformed membership proof: {exc}") from exc


def _leaves(frame_ids: Iterable[bytes]) -> list[bytes]:
    return [set_leaf(raw) for raw in sorted(set(frame_ids))]


def _next_level(level: list[bytes]) -> list[bytes]:
    out = [set_inner(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        out.append(level[-1])
    return out


def root_of_raw(frame_ids: Iterable[bytes]) -> bytes:
    """Raw root digest over raw 32-byte FrameIDs (what storage backends call)."""
    level = _leaves(frame_ids)
    if not level:
        return set_empty_root()
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def root_of(frame_ids: Iterable[FrameId]) -> str:
    """Hex root of the set of hex FrameIDs."""
    return root_of_raw(bytes.fromhex(f) for f in frame_ids).hex()


def prove(frame_ids: Iterable[FrameId], member: FrameId) -> MembershipProof:
    """Membership proof for ``member``; raises FrameNotFound if it is not in the set."""
    raws = sorted({bytes.fromhex(f) for f in frame_ids})
    target = bytes.fromhex(member)
    try:
        index = raws.index(target)
    except ValueError:
        raise FrameNotFound(f"frame {member} is not in this node's frame set") from None
    level = [set_leaf(raw) for raw in raws]
    steps: list[ProofStep] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            side: Literal["left", "right"] = "left" if sibling < index else "right"
            steps.append(ProofStep(side, level[sibling].hex()))
        level = _next_level(level)
        index //= 2
    return MembershipProof(member, tuple(steps))


def verify(proof: MembershipProof, root: str) -> bool:
    """True when ``proof`` shows its frame is a member of the set with ``root``."""
    digest = set_leaf(bytes.fromhex(proof.frame_id))
    for step in proof.steps:
        other = bytes.fromhex(step.digest)
        digest = set_inner(other, digest) if step.side == "left" else set_inner(digest, other)
    return digest.hex() == root
