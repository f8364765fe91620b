"""Value types the storage seams exchange: root entries, append results, set states.

They are plain frozen data so every backend (and the conformance suite) can
build and compare them without importing a backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from treeframe.errors import IntegrityError, WorkspaceDeleted
from treeframe.frames.frame import Frame
from treeframe.hashing.audit import GENESIS, audit_entry_hash, audit_fields
from treeframe.ids import NodeId, WorkspaceId

__all__ = [
    "ANY_HEAD",
    "SUPERSEDED",
    "TOKEN_ID_CHARS",
    "AclEntry",
    "AnyHead",
    "Appended",
    "AuditDraft",
    "AuditEntry",
    "Damaged",
    "NodeSetState",
    "RootEntry",
    "SetRootFn",
    "TokenRecord",
    "WorkspaceInfo",
    "basis_refs",
    "chain_entry",
    "is_token_id",
    "missing_content",
    "workspace_deleted",
]

SUPERSEDED = "superseded:"
"""Prefix a store gives the token of a scan whose staging area it dropped.

A staging area lives in the store until its scan commits or aborts, so a
scan killed mid-way (``kill -9``, a crash) would leave its staged rows for
ever. When a scan commits a new root, every other scan of the workspace still
open began against an older root and can only lose its compare-and-set, so
the commit drops their staging areas and marks their tokens superseded:
staging to one is a no-op and committing one is ``ConcurrentUpdate`` (the
root moved), as it would have been. A mark still there at the next
root-moving commit (its scan never came back: it is dead) is deleted then,
so a killed scan costs one tiny row until that commit, and nothing after.
A scan still running after two other scans moved the root (away and back,
say) finds its token unknown, ``StorageError``, as an aborted scan's: it
scans again.
"""

SetRootFn = Callable[[list[bytes]], bytes]
"""Computes a frame-set root from the node's raw FrameIDs (see frames.merkle_set)."""


class AnyHead:
    """Type of :data:`ANY_HEAD`; it has exactly one instance."""

    __slots__ = ()
    _instance: AnyHead | None = None

    def __new__(cls) -> AnyHead:
        """The one instance, so ``expected_head is ANY_HEAD`` holds after a pickle round trip."""
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ANY_HEAD"

    def __reduce__(self) -> str:
        return "ANY_HEAD"  # unpickles as the module-level singleton


ANY_HEAD: Final[AnyHead] = AnyHead()
"""``append_frame(expected_head=ANY_HEAD)``: append without checking the current head."""


def basis_refs(frame: Frame) -> list[str]:
    """IDs a frame's basis names, in basis order without repeats (the basis-index keys).

    The node of a ``node`` / ``node+frame`` basis, the frame of a ``frame`` /
    ``node+frame`` basis and every child frame of a ``synthesis`` basis.
    """
    basis = frame.basis
    refs: list[str] = []
    if basis.node_id is not None:
        refs.append(basis.node_id)
    if basis.frame_id is not None:
        refs.append(basis.frame_id)
    refs.extend(basis.child_frames)
    return list(dict.fromkeys(refs))


@dataclass(frozen=True, slots=True)
class RootEntry:
    """One entry of a workspace's root history; ``created_at`` is never hashed."""

    seq: int
    root: NodeId
    created_at: str


@dataclass(frozen=True, slots=True)
class Appended:
    """What :meth:`FrameStore.append_frame` did.

    ``frame`` is the frame as stored (its record, metadata and content type
    are those of the first append; ``put_seq`` is current). ``created`` is
    False when the FrameID was already stored: nothing new was written, at
    most the head and recency pointer moved back to it.
    """

    frame: Frame
    created: bool


@dataclass(frozen=True, slots=True)
class NodeSetState:
    """A node's frame Merkle set as stored: its root and member count."""

    root: str
    count: int


@dataclass(frozen=True, slots=True)
class Damaged:
    """A stored row that could not even be parsed (reported by ``verify``)."""

    table: str
    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class WorkspaceInfo:
    """A workspace's metadata as the store keeps it (never hashed).

    ``deleted_at`` is the tombstone: set, the workspace is deleted but its
    data is kept untouched, and :meth:`MetadataStore.set_workspace_deleted`
    with None restores it.
    """

    workspace_id: WorkspaceId
    name: str
    description: str
    owner: str | None
    created_at: str
    deleted_at: str | None


def workspace_deleted(info: WorkspaceInfo) -> WorkspaceDeleted:
    """The error every backend raises for creating a tombstoned workspace (one wording)."""
    return WorkspaceDeleted(
        f"workspace {info.name!r} ({info.workspace_id}) was deleted at {info.deleted_at}; "
        "restore it instead of creating it again"
    )


def missing_content(frame: Frame) -> IntegrityError:
    """The error every backend raises for appending a frame whose content blob is not stored."""
    return IntegrityError(
        f"content {frame.content_hash} of frame {frame.frame_id} is not in the blob store: "
        "put the content first, then the frame",
        expected=frame.content_hash,
        got="",
    )


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One API token as the store keeps it: never the secret, only its SHA-256 (never hashed).

    ``token_id`` (16 lowercase hex) is the public half of the token and the
    row key; ``scope`` is the one workspace the token reaches, or None for
    every workspace its agent holds rights in; ``permissions`` are sorted
    permission names (the token's ceiling). ``created_by`` is the agent that
    made it, None for the local owner (the CLI).
    """

    token_id: str
    secret_hash: str
    agent_id: str
    scope: WorkspaceId | None
    permissions: tuple[str, ...]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    created_by: str | None


@dataclass(frozen=True, slots=True)
class AclEntry:
    """What one agent may do in one workspace (configuration: never enters any hash).

    ``permissions`` are sorted permission names; ``granted_by`` is the agent
    that granted them, None for the local owner (the CLI).
    """

    agent_id: str
    permissions: tuple[str, ...]
    granted_at: str
    granted_by: str | None


TOKEN_ID_CHARS = 16
"""Length of a token ID: 16 lowercase hex digits (64 random bits, public)."""


def is_token_id(text: object) -> bool:
    """True for a well-formed token ID; both backends store and find nothing else."""
    return (
        isinstance(text, str)
        and len(text) == TOKEN_ID_CHARS
        and all(c in "0123456789abcdef" for c in text)
    )


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """An audit entry before the store chains it: everything but ``seq`` and the hashes."""

    time: str
    agent: str | None
    operation: str
    node: str | None
    frame: str | None
    success: bool
    error: str | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of a workspace's audit chain, as stored (see :mod:`treeframe.hashing.audit`).

    ``seq`` counts a workspace's entries from 1 without gaps; ``prev_hash`` is
    the previous entry's ``entry_hash`` (64 zeros for entry 1). Log data,
    never content: the only hashed structure with a time in it.
    """

    seq: int
    time: str
    workspace: WorkspaceId
    agent: str | None
    operation: str
    node: str | None
    frame: str | None
    success: bool
    error: str | None
    request_id: str | None
    prev_hash: str
    entry_hash: str

    def fields(self) -> dict[str, object]:
        """The hashed fields (every field but ``entry_hash``)."""
        return audit_fields(
            seq=self.seq,
            time=self.time,
            workspace=self.workspace,
            agent=self.agent,
            operation=self.operation,
            node=self.node,
            frame=self.frame,
            success=self.success,
            error=self.error,
            request_id=self.request_id,
            prev_hash=self.prev_hash,
        )

    @property
    def head(self) -> str:
        """The ``<seq>:<entry_hash>`` form clients keep to detect truncation later."""
        return f"{self.seq}:{self.entry_hash}"


def chain_entry(ws: WorkspaceId, draft: AuditDraft, previous: AuditEntry | None) -> AuditEntry:
    """The entry ``draft`` becomes after ``previous`` (None: the first): seq and hashes set.

    Every backend builds entries with this one function inside its write
    transaction, so the chain cannot differ between backends.
    """
    seq = 1 if previous is None else previous.seq + 1
    prev_hash = GENESIS if previous is None else previous.entry_hash
    fields = audit_fields(
        seq=seq,
        time=draft.time,
        workspace=ws,
        agent=draft.agent,
        operation=draft.operation,
        node=draft.node,
        frame=draft.frame,
        success=draft.success,
        error=draft.error,
        request_id=draft.request_id,
        prev_hash=prev_hash,
    )
    return AuditEntry(
        seq,
        draft.time,
        ws,
        draft.agent,
        draft.operation,
        draft.node,
        draft.frame,
        draft.success,
        draft.error,
        draft.request_id,
        prev_hash,
        audit_entry_hash(fields),
    )
