"""The audit log: every write, accepted or refused, appended to its workspace's hash chain.

:class:`Auditor` is the one entry point writes go through. An accepted write
and its entry commit in one unit of work (``store.unit_of_work()``), so the
log never names a change that did not happen nor misses one that did; a
refused write (any :class:`~treeframe.errors.TreeframeError`) first rolls its
change back, then appends its own entry with ``success`` false and the
error's code, in a transaction of its own. Only the write is held in the
transaction: an operation that computes at length (synthesis, regeneration)
computes first and wraps each write it then makes (:meth:`Auditor.session`).

Two context variables carry request data across the layers without the
engine knowing about HTTP: :data:`REQUEST_ID` (set by the API edge, read
into each entry; unset in the CLI, so entries there have none) and
:data:`AUDIT_HEAD` (a mutable :class:`HeadHolder` the edge places; the
Auditor writes the new head into it, and because the holder is shared, a
write made in a threadpool thread — whose context is a copy — still reaches
the edge). Every entry written is also an engine event named by its operation
(:func:`treeframe.observability.events.emit`: logs and metrics hear of each
write, with its agent, node, frame and seq, never its content).

:func:`verify_chain` checks a chain and names the first bad entry: edited,
missing, reordered, inserted, or (given a head the client kept) truncated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal, TypeVar

from treeframe.clock import Clock
from treeframe.engine.principal import Principal
from treeframe.errors import InvalidRequest, TreeframeError
from treeframe.hashing.audit import GENESIS, audit_entry_hash
from treeframe.ids import WorkspaceId
from treeframe.observability import events
from treeframe.observability.context import REQUEST_ID
from treeframe.storage.base import AuditDraft, AuditEntry, StorageBackend

__all__ = [
    "AUDIT_HEAD",
    "REQUEST_ID",
    "AuditProblem",
    "AuditReport",
    "AuditSession",
    "Auditor",
    "HeadHolder",
    "Operation",
    "ProblemKind",
    "parse_head",
    "verify_chain",
    "verify_workspace",
]

T = TypeVar("T")


class Operation(StrEnum):
    """Every audited operation; the strings are stable (they are stored and hashed)."""

    FRAME_PUT = "frame.put"
    BRANCH_SYNTHESIZE = "branch.synthesize"
    FRAMES_REGENERATE = "frames.regenerate"
    FRAMES_GENERATE = "frames.generate"
    AGENT_REGISTER = "agent.register"
    WORKSPACE_CREATE = "workspace.create"
    WORKSPACE_DELETE = "workspace.delete"
    WORKSPACE_RESTORE = "workspace.restore"
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    ACL_GRANT = "acl.grant"
    ACL_REVOKE = "acl.revoke"
    TREE_PUSH = "tree.push"
    WORKSPACE_IMPORT = "workspace.import"


@dataclass(slots=True)
class HeadHolder:
    """Where the Auditor leaves the newest head (``<seq>:<entry_hash>``) for the edge to send."""

    head: str | None = None


AUDIT_HEAD: ContextVar[HeadHolder | None] = ContextVar("treeframe_audit_head", default=None)
"""The holder of the current request's newest audit head, placed by the API edge."""

Target = Callable[[T], tuple[str | None, str | None]]
"""Gives ``(node, frame)`` of an entry from the result of the write it records."""


class Auditor:
    """Runs writes so that each one, accepted or refused, leaves exactly its audit entry.

    Wrap a write with :meth:`run`::

        auditor.run(Operation.TOKEN_CREATE, principal, lambda: store.put_token(...))

    ``fn`` runs inside ``store.unit_of_work()`` with the entry appended after
    it, so both commit or neither does; ``node``/``frame`` name what the
    write touched, or ``target`` derives them from ``fn``'s result. When
    ``fn`` raises a TreeframeError its change is rolled back, a refused entry
    (``success`` false, ``error`` the code) is appended on its own, and the
    error propagates. ``principal`` gives the agent and the workspace
    (``workspace`` overrides it). Do the slow reading and computing before
    calling :meth:`run`: the store's write lock is held while ``fn`` runs.
    Operations that write many times between computations use :meth:`session`.
    """

    def __init__(self, store: StorageBackend, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def run(
        self,
        operation: Operation,
        principal: Principal | None,
        fn: Callable[[], T],
        *,
        workspace: WorkspaceId | None = None,
        agent: str | None = None,
        node: str | None = None,
        frame: str | None = None,
        target: Target[T] | None = None,
    ) -> T:
        """Run the write ``fn`` and append its entry in the same transaction (see the class)."""
        ws = _workspace(principal, workspace)
        if agent is None and isinstance(principal, Principal):
            agent = principal.agent_id
        try:
            with self.store.unit_of_work():
                result = fn()
                where = target(result) if target is not None else (node, frame)
                entry = self.store.append_audit(ws, self._draft(operation, agent, *where))
        except TreeframeError as exc:
            self.refused(operation, ws, agent, exc, node=node, frame=frame)
            raise
        _publish(entry)
        return result

    @contextmanager
    def session(
        self,
        operation: Operation,
        principal: Principal,
        *,
        workspace: WorkspaceId | None = None,
        node: str | None = None,
    ) -> Iterator[AuditSession]:
        """An operation that computes, writes, computes again: each write gets its own entry.

        Call :meth:`AuditSession.write` for every write; each is one unit of
        work with its entry. A TreeframeError leaving the block appends one
        refused entry (writes that committed before it stay, with theirs).
        An operation that completes without writing anything appends one
        accepted entry naming ``session.node``, so every accepted call is on
        record. ``workspace`` (default: the principal's) is the log written to;
        set ``session.node`` once the target is resolved, for the refused entry.
        """
        ws = _workspace(principal, workspace)
        agent = principal.agent_id if isinstance(principal, Principal) else None
        session = AuditSession(self, operation, ws, agent, node)
        try:
            yield session
        except TreeframeError as exc:
            self.refused(operation, ws, agent, exc, node=session.node)
            raise
        if not session.writes:
            _publish(self.store.append_audit(ws, self._draft(operation, agent, session.node, None)))

    def refused(
        self,
        operation: Operation,
        ws: WorkspaceId,
        agent: str | None,
        exc: TreeframeError,
        *,
        node: str | None = None,
        frame: str | None = None,
    ) -> AuditEntry | None:
        """Append the entry of a refused write (its change already rolled back).

        None when even that cannot be written (an unknown workspace, a
        read-only or unreachable store): the caller raises the original error.
        """
        draft = self._draft(operation, agent, node, frame, error=exc.code)
        try:
            entry = self.store.append_audit(ws, draft)
        except TreeframeError:
            return None
        _publish(entry)
        return entry

    def _draft(
        self,
        operation: Operation,
        agent: str | None,
        node: str | None,
        frame: str | None,
        *,
        error: str | None = None,
    ) -> AuditDraft:
        return AuditDraft(
            time=self.clock.now(),
            agent=agent,
            operation=str(operation),
            node=node,
            frame=frame,
            success=error is None,
            error=error,
            request_id=REQUEST_ID.get(),
        )


class AuditSession:
    """The writes of one long operation (from :meth:`Auditor.session`)."""

    def __init__(
        self,
        auditor: Auditor,
        operation: Operation,
        ws: WorkspaceId,
        agent: str | None,
        node: str | None,
    ) -> None:
        self.auditor = auditor
        self.operation = operation
        self.ws = ws
        self.agent = agent
        self.node = node
        """What the operation acts on (set it once resolved): the refused entry names it."""
        self.writes = 0

    def write(
        self,
        fn: Callable[[], T],
        *,
        node: str | None = None,
        target: Target[T] | None = None,
    ) -> T:
        """Run one write and append its entry in one unit of work (a failure rolls both back)."""
        auditor = self.auditor
        with auditor.store.unit_of_work():
            result = fn()
            where = target(result) if target is not None else (node or self.node, None)
            draft = auditor._draft(self.operation, self.agent, *where)
            entry = auditor.store.append_audit(self.ws, draft)
        self.writes += 1
        _publish(entry)
        return result


def _workspace(principal: Principal | None, workspace: WorkspaceId | None) -> WorkspaceId:
    if workspace is not None:
        return workspace
    if not isinstance(principal, Principal):
        raise TypeError("an audited write needs a principal or a workspace")
    return principal.workspace


def _publish(entry: AuditEntry) -> None:
    """Hand the new head to the request's holder, and tell listeners (logs, metrics) of the write."""
    holder = AUDIT_HEAD.get()
    if holder is not None:
        holder.head = entry.head
    events.emit(
        entry.operation,
        workspace=entry.workspace,
        agent=entry.agent,
        node=entry.node,
        frame=entry.frame,
        success=entry.success,
        error=entry.error,
        audit_seq=entry.seq,
    )


# -- verification -------------------------------------------------------------
ProblemKind = Literal["edited", "missing", "reordered", "inserted", "truncated"]


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """The first bad entry of a chain: its seq, what is wrong, and a sentence saying so."""

    seq: int
    kind: ProblemKind
    message: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What :func:`verify_chain` found: the entry count, the head, the first problem if any."""

    entries: int
    head: str | None
    problem: AuditProblem | None

    @property
    def ok(self) -> bool:
        """True when the chain is intact (and agrees with the head checked against, if any)."""
        return self.problem is None


_HEAD = re.compile(r"([1-9][0-9]*):([0-9a-f]{64})")


def parse_head(head: str) -> tuple[int, str]:
    """``(seq, entry_hash)`` of a ``<seq>:<entry_hash>`` head; InvalidRequest when malformed."""
    match = _HEAD.fullmatch(head.strip()) if isinstance(head, str) else None
    if match is None:
        raise InvalidRequest(f"an audit head is '<seq>:<64 hex>', not {head!r}")
    return int(match.group(1)), match.group(2)


def _hash_at(entry: AuditEntry, seq: int) -> str:
    return audit_entry_hash(replace(entry, seq=seq).fields())


def verify_chain(entries: Iterable[AuditEntry], *, head: str | None = None) -> AuditReport:
    """Check a workspace's entries (by ascending seq) link up; name the first bad one.

    Each entry's hash is recomputed and its ``prev_hash`` compared with the
    entry before. The kind of damage is told from what still verifies: a gap
    in seq is ``missing``; an entry whose hash verifies under another seq was
    moved (``reordered`` when two swapped, ``inserted`` when something took
    its place, ``missing`` when later entries were renumbered down); an entry
    that verifies under no seq was ``edited``. A chain can be cut at its end
    without a trace in itself: ``head`` (``<seq>:<hash>`` a client kept from
    ``X-Audit-Head``) catches that (``truncated``) and a rewritten tail.
    """
    expected_head = parse_head(head) if head is not None else None
    chain = list(entries)
    by_seq = {e.seq: e for e in chain}
    prev = GENESIS
    problem: AuditProblem | None = None
    for index, entry in enumerate(chain):
        want = index + 1
        if entry.seq != want:
            problem = AuditProblem(
                want, "missing", f"entry {want} is missing (the next stored entry is {entry.seq})"
            )
            break
        if audit_entry_hash(entry.fields()) != entry.entry_hash:
            problem = _classify(entry, by_seq, prev)
            break
        if entry.prev_hash != prev:
            before = max(want - 1, 1)
            problem = AuditProblem(
                before,
                "edited",
                f"entry {before} was rewritten: entry {want} names a different previous hash",
            )
            break
        prev = entry.entry_hash
    last = chain[-1] if chain else None
    if problem is None and expected_head is not None:
        seq, digest = expected_head
        found = by_seq.get(seq)
        if found is None:
            problem = AuditProblem(
                seq,
                "truncated",
                f"the log ends at entry {last.seq if last else 0}, before head entry {seq}",
            )
        elif found.entry_hash != digest:
            problem = AuditProblem(
                seq, "edited", f"entry {seq} is not the entry of the head {seq}:{digest}"
            )
    return AuditReport(len(chain), last.head if last else None, problem)


def _classify(entry: AuditEntry, by_seq: dict[int, AuditEntry], prev: str) -> AuditProblem:
    """What happened to ``entry``, whose hash does not verify at its stored seq."""
    seq = entry.seq
    # Where it was before it moved: another stored seq (a swap) or a neighbour
    # of one (a shift). Bounded by the entries, whatever numbers a forger wrote.
    candidates = sorted({c for s in by_seq for c in (s - 1, s, s + 1) if c >= 1} - {seq})
    original = next((s for s in candidates if _hash_at(entry, s) == entry.entry_hash), None)
    if original is None:
        follower = by_seq.get(seq + 1)
        if (
            follower is not None
            and follower.prev_hash == prev
            and _hash_at(follower, seq) == (follower.entry_hash)
        ):
            return AuditProblem(
                seq,
                "inserted",
                f"entry {seq} is not part of the chain: the entry that belongs there was "
                f"moved to {seq + 1}",
            )
        return AuditProblem(seq, "edited", f"entry {seq} was edited: its hash does not match")
    if original < seq:
        return AuditProblem(
            original,
            "inserted",
            f"entry {original} is not part of the chain: the entry that belongs there was "
            f"moved to {seq}",
        )
    occupant = by_seq.get(original)
    if occupant is not None and _hash_at(occupant, seq) == occupant.entry_hash:
        return AuditProblem(
            seq, "reordered", f"entries {seq} and {original} were swapped (reordered)"
        )
    return AuditProblem(
        seq, "missing", f"entry {seq} is missing: later entries were renumbered to hide it"
    )


def verify_workspace(
    store: StorageBackend, ws: WorkspaceId, *, head: str | None = None
) -> AuditReport:
    """:func:`verify_chain` over the workspace's stored log."""
    return verify_chain(store.iter_audit(ws), head=head)
