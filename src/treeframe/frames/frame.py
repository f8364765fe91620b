"""Frame and Basis: immutable, content-addressed context attached to a node."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from treeframe.errors import InvalidFrame, InvalidRequest, StoreCorrupt
from treeframe.hashing.canonical_json import canonical_json, load_record, loads
from treeframe.hashing.ids import (
    BASIS_FRAME,
    BASIS_NODE,
    BASIS_NODE_FRAME,
    BASIS_SYNTHESIS,
    basis_hash,
    content_hash,
    frame_id,
)
from treeframe.ids import ContentHash, FrameId, NodeId, parse_hex_id

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_MAX_CONTENT_BYTES",
    "FRAME_SCHEMA",
    "Basis",
    "BasisKind",
    "Frame",
    "new_frame",
    "validate_label",
]

FRAME_SCHEMA = "frame/1"
DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"
DEFAULT_MAX_CONTENT_BYTES = 16 * 1024 * 1024

BasisKind = Literal["node", "frame", "node+frame", "synthesis"]
_KIND_CODES: dict[str, int] = {
    "node": BASIS_NODE,
    "frame": BASIS_FRAME,
    "node+frame": BASIS_NODE_FRAME,
    "synthesis": BASIS_SYNTHESIS,
}
# Frame types and agent IDs enter FrameIDs, so they are restricted to a
# printable ASCII alphabet: no whitespace or normalization ambiguity.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}")


def validate_label(value: str, what: str) -> str:
    """Return ``value`` if it is a valid frame type / agent ID, else raise InvalidFrame."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidFrame(f"{what} must not be empty")
    if _LABEL.fullmatch(value) is None:
        raise InvalidFrame(
            f"invalid {what} {value[:80]!r}: use 1-128 characters from "
            "A-Z a-z 0-9 . _ : @ / + - (starting with a letter or digit)"
        )
    return value


@dataclass(frozen=True, slots=True)
class Basis:
    """What a frame was derived from; its hash enters the FrameID."""

    kind: BasisKind
    node_id: NodeId | None = None
    frame_id: FrameId | None = None
    child_frames: tuple[FrameId, ...] = ()
    policy_id: str = ""
    params_json: bytes = b"{}"

    def __post_init__(self) -> None:
        if self.kind not in _KIND_CODES:
            raise InvalidFrame(f"unknown basis kind {self.kind!r}")
        needs_node = self.kind in ("node", "node+frame")
        needs_frame = self.kind in ("frame", "node+frame")
        if needs_node != (self.node_id is not None) or needs_frame != (self.frame_id is not None):
            raise InvalidFrame(f"basis kind {self.kind!r} has the wrong fields")
        if self.node_id is not None:
            parse_hex_id(self.node_id, "NodeID")
        if self.frame_id is not None:
            parse_hex_id(self.frame_id, "FrameID")
        for child in self.child_frames:
            parse_hex_id(child, "FrameID")
        if self.kind != "synthesis":
            if self.child_frames or self.policy_id or self.params_json != b"{}":
                raise InvalidFrame("only a synthesis basis has child frames and a policy")
            return
        validate_label(self.policy_id, "policy ID")
        # The params bytes are hashed, but records carry the parsed object and
        # re-encode it on load: only canonical bytes survive that round trip.
        try:
            canonical = canonical_json(loads(self.params_json))
        except (ValueError, UnicodeDecodeError):
            canonical = b""
        if canonical != self.params_json or not canonical.startswith(b"{"):
            raise InvalidFrame("synthesis params must be a canonical JSON object")

    @classmethod
    def node(cls, node_id: NodeId) -> Basis:
        """Basis naming one node (e.g. the file an analysis describes)."""
        return cls("node", node_id=node_id)

    @classmethod
    def frame(cls, frame: FrameId) -> Basis:
        """Basis naming one frame (e.g. a summary of another frame)."""
        return cls("frame", frame_id=frame)

    @classmethod
    def node_frame(cls, node_id: NodeId, frame: FrameId) -> Basis:
        """Basis naming a node and a frame together."""
        return cls("node+frame", node_id=node_id, frame_id=frame)

    @classmethod
    def synthesis(
        cls, child_frames: list[FrameId], policy_id: str, params: Mapping[str, Any] | None = None
    ) -> Basis:
        """Basis of a synthesized frame: ordered child FrameIDs, policy and its parameters."""
        try:
            params_json = canonical_json(dict(params or {}))
        except (TypeError, ValueError) as exc:
            raise InvalidFrame(f"synthesis params are not canonical JSON: {exc}") from exc
        return cls(
            "synthesis",
            child_frames=tuple(child_frames),
            policy_id=policy_id,
            params_json=params_json,
        )

    @property
    def params(self) -> dict[str, Any]:
        """Policy parameters of a synthesis basis."""
        parsed: dict[str, Any] = loads(self.params_json)
        return parsed

    def hash(self) -> str:
        """Basis hash as it enters the FrameID."""
        return basis_hash(
            _KIND_CODES[self.kind],
            node_id=self.node_id,
            frame_id=self.frame_id,
            child_frames=self.child_frames,
            policy_id=self.policy_id,
            params_json=self.params_json,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.node_id is not None:
            out["node_id"] = self.node_id
        if self.frame_id is not None:
            out["frame_id"] = self.frame_id
        if self.kind == "synthesis":
            out.update(
                child_frames=list(self.child_frames), policy_id=self.policy_id, params=self.params
            )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Basis:
        """Parse the JSON form; raises InvalidFrame when malformed."""
        try:
            kind = data["kind"]
            if kind == "synthesis":
                return cls.synthesis(
                    list(data["child_frames"]), data["policy_id"], data.get("params") or {}
                )
            return cls(kind, node_id=data.get("node_id"), frame_id=data.get("frame_id"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidFrame(f"malformed basis: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Frame:
    """One context frame. Only node, type, agent, basis and content enter its ID.

    ``seq`` (per-workspace append order) and ``created_at`` are assigned by
    the store on first append and are never hashed. ``put_seq`` is the
    workspace sequence number of the frame's latest put: ``seq`` at first, a
    new number when a re-put made it current again (recency views order by
    it). It is a pointer kept by the store, not part of the ``frame/1``
    record, and is ignored when frames are compared.
    """

    frame_id: FrameId
    node_id: NodeId
    frame_type: str
    agent_id: str
    basis: Basis
    content_hash: ContentHash
    size: int
    content_type: str = DEFAULT_CONTENT_TYPE
    metadata: tuple[tuple[str, str], ...] = field(default=())
    seq: int = 0
    created_at: str = ""
    put_seq: int = field(default=0, compare=False)

    def compute_id(self) -> FrameId:
        """Recompute the FrameID from the hashed fields (used by ``verify``)."""
        return frame_id(
            self.node_id, self.frame_type, self.agent_id, self.basis.hash(), self.content_hash
        )

    def to_dict(self) -> dict[str, Any]:
        """The documented ``frame/1`` JSON form (content not included)."""
        return {
            "schema": FRAME_SCHEMA,
            "frame_id": self.frame_id,
            "node_id": self.node_id,
            "frame_type": self.frame_type,
            "agent_id": self.agent_id,
            "basis": self.basis.to_dict(),
            "content_hash": self.content_hash,
            "size": self.size,
            "content_type": self.content_type,
            "metadata": dict(self.metadata),
            "seq": self.seq,
            "created_at": self.created_at,
        }

    def to_json(self) -> bytes:
        """Canonical JSON bytes of :meth:`to_dict`."""
        return canonical_json(self.to_dict(), checked=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Frame:
        """Parse the ``frame/1`` form; raises StoreCorrupt on a malformed record."""
        try:
            return cls(
                frame_id=FrameId(parse_hex_id(data["frame_id"], "FrameID")),
                node_id=NodeId(parse_hex_id(data["node_id"], "NodeID")),
                frame_type=str(data["frame_type"]),
                agent_id=str(data["agent_id"]),
                basis=Basis.from_dict(data["basis"]),
                content_hash=ContentHash(parse_hex_id(data["content_hash"], "content hash")),
                size=int(data["size"]),
                content_type=str(data["content_type"]),
                metadata=tuple(sorted((str(k), str(v)) for k, v in data["metadata"].items())),
                seq=int(data["seq"]),
                created_at=str(data["created_at"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError, InvalidRequest) as exc:
            raise StoreCorrupt(f"malformed frame record: {exc}") from exc

    @classmethod
    def from_json(cls, data: bytes) -> Frame:
        """Parse canonical JSON bytes; raises StoreCorrupt on damage."""
        return cls.from_dict(load_record(data, "frame record"))


def new_frame(
    node_id: NodeId,
    frame_type: str,
    agent_id: str,
    content: bytes,
    *,
    basis: Basis | None = None,
    content_type: str = DEFAULT_CONTENT_TYPE,
    metadata: Mapping[str, str] | None = None,
    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES,
) -> Frame:
    """Validate inputs and build an unsequenced frame; the basis defaults to the node.

    A ``text/*`` content type promises UTF-8 text, so such content must decode.
    """
    parse_hex_id(node_id, "NodeID")
    validate_label(frame_type, "frame type")
    validate_label(agent_id, "agent ID")
    if not isinstance(content, bytes):
        raise InvalidFrame("frame content must be bytes")
    if len(content) > max_content_bytes:
        raise InvalidFrame(
            f"frame content is {len(content)} bytes, over the limit of {max_content_bytes}"
        )
    if not content_type or len(content_type) > 255:
        raise InvalidFrame("content type must be 1-255 characters")
    if content_type.startswith("text/"):
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidFrame(f"content declared as {content_type!r} is not valid UTF-8") from None
    meta: list[tuple[str, str]] = []
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise InvalidFrame(f"metadata must map non-empty strings to strings, got {key!r}")
        meta.append((key, value))
    chosen = basis if basis is not None else Basis.node(node_id)
    digest = content_hash(content)
    fid = frame_id(node_id, frame_type, agent_id, chosen.hash(), digest)
    return Frame(
        frame_id=fid,
        node_id=node_id,
        frame_type=frame_type,
        agent_id=agent_id,
        basis=chosen,
        content_hash=digest,
        size=len(content),
        content_type=content_type,
        metadata=tuple(sorted(meta)),
    )
