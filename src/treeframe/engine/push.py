"""Receiving a pushed tree: Merkle negotiation, verified records, and the compare-and-set root move.

A client that scanned a tree locally syncs it into a workspace of this store
in three steps (docs/API.md, "Push"): it *negotiates* (which of these NodeIDs
does the store lack?), walking down only into directories the store lacks;
it sends the missing *records*, children before parents, in batches; and it
*commits* the new root, compare-and-set on the root it saw.

The one invariant everything rests on: **a stored directory implies its
whole subtree is stored.** :meth:`PushReceiver.receive` refuses a directory
whose children are neither in its batch nor already stored, and the scanner
writes records bottom-up too, so a directory the store answers "present" for
needs nothing below it sent, and a stored root is a complete tree.

Nothing a client says is trusted: every NodeID is recomputed from the
record's hashed fields (:meth:`~treeframe.tree.records.NodeRecord.compute_id`),
every path must be canonical (NFC names, no ``.``/``..``), a directory's
children must be sorted and each child's record must sit at the directory's
path plus the child's name. A batch is verified whole before any of it is
stored, then stored in one transaction: a rejected batch leaves nothing.
Stored records are immutable facts (append-only, idempotent), so an
interrupted push resumes by negotiating again.

:meth:`PushReceiver.commit` diffs the old tree against the new one exactly as
a scan does (only changed paths are staged, removed subtrees are deleted) and
moves the root through the store's scan commit, so the path index, path
history and root history are those a local scan of the same tree leaves.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from treeframe.clock import SYSTEM_CLOCK, Clock
from treeframe.engine.audit import Auditor, AuditSession, Operation
from treeframe.engine.principal import Permission, Principal, authorize
from treeframe.errors import (
    AccessDenied,
    ConcurrentUpdate,
    IncompleteTree,
    InvalidPath,
    InvalidRequest,
    RecordMismatch,
    SchemaValidationFailed,
    StoreCorrupt,
)
from treeframe.ids import NodeId, WorkspaceId, parse_hex_id
from treeframe.observability import events
from treeframe.storage.base import RootEntry, StorageBackend
from treeframe.tree.paths import child_path, has_unassigned, normalize_name
from treeframe.tree.records import NodeRecord

_HEX64 = re.compile(r"[0-9a-f]{64}")

__all__ = [
    "DEFAULT_MAX_BATCH",
    "MAX_MISSING_SHOWN",
    "Negotiation",
    "PushCommit",
    "PushReceiver",
    "Received",
    "check_path",
]

DEFAULT_MAX_BATCH = 1000
"""Most NodeIDs one negotiation offers and records one batch sends (``limits.max_batch``)."""

MAX_MISSING_SHOWN = 100
"""An ``incomplete_tree`` error lists at most this many missing IDs."""

_STAGE_CHUNK = 2000
_FETCH_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Negotiation:
    """What the store lacks of what was offered, and the root a commit must expect."""

    current_root: NodeId | None
    root_present: bool
    missing: tuple[NodeId, ...]
    offered: int
    max_batch: int


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted batch: how many records came, how many were new to the store."""

    received: int
    stored: int
    already_present: int


@dataclass(frozen=True, slots=True)
class PushCommit:
    """The outcome of a commit: the entry now current and whether the root moved."""

    root: NodeId
    previous_root: NodeId | None
    entry: RootEntry
    changed: bool
    paths_changed: int


def check_path(path: str, checked: set[str] | None = None) -> str:
    """``path`` if it is a canonical workspace path (NFC names, none empty, ``.`` or ``..``).

    Raises InvalidPath otherwise. The root is ``""``. ``checked`` caches
    names already found valid (a batch repeats its directory names a lot).
    """
    if path == "":
        return path
    for name in path.split("/"):
        if checked is None or name not in checked:
            _check_name(name, path)
            if checked is not None:
                checked.add(name)
    return path


def _check_name(name: str, where: str) -> None:
    if name.isascii():  # NFC and assigned by definition; only the separators remain
        if name in ("", ".", "..") or "/" in name or "\x00" in name:
            raise InvalidPath(f"invalid path component {name!r} in {where!r}")
        return
    try:
        canonical = normalize_name(name)
    except (UnicodeError, ValueError):
        raise InvalidPath(f"path {where!r} is not valid UTF-8") from None
    if canonical != name:
        raise InvalidPath(f"name {name!r} in {where!r} is not NFC-normalized")
    if has_unassigned(name):
        raise InvalidPath(f"name {name!r} in {where!r} has an unassigned code point")


class _Bad(Exception):
    """One record that breaks the schema (collected, then raised together)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _parse(data: Any, checked: set[str]) -> NodeRecord:
    """A ``node/1`` record from its JSON form, with canonical paths and sorted, valid children."""
    if not isinstance(data, Mapping):
        raise _Bad(f"a record is a node/1 object, not {type(data).__name__}")
    try:
        record = NodeRecord.from_dict(dict(data))
    except StoreCorrupt as exc:
        raise _Bad(exc.message.removeprefix("malformed node record: ")) from None
    try:
        check_path(record.path, checked)
        if record.kind == "dir":
            previous: bytes | None = None
            for name, _ in record.children:
                if name not in checked:
                    _check_name(name, child_path(record.path, name))
                    checked.add(name)
                raw = name.encode("utf-8")
                if previous is not None and raw <= previous:
                    raise _Bad("children must be sorted by UTF-8 name bytes, without duplicates")
                previous = raw
        elif record.kind == "symlink":
            assert record.target is not None
            record.target.encode("utf-8")
    except InvalidPath as exc:
        raise _Bad(exc.message) from None
    except UnicodeError:
        raise _Bad("a symlink target must be valid Unicode text") from None
    return record


class PushReceiver:
    """The server side of a push into one workspace of one store.

    Every method takes the caller's principal and needs ``write`` (a
    negotiation only reads, but its one purpose is a push, so a caller that
    could not finish one is told at the first step).
    """

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.ws = ws
        self.max_batch = max_batch
        self.clock = clock
        self.auditor = Auditor(store, clock)

    def _authorize(self, principal: Principal) -> None:
        if not isinstance(principal, Principal):
            raise TypeError(f"principal must be a Principal, not {type(principal).__name__}")
        if principal.workspace != self.ws:
            raise AccessDenied(f"{principal} belongs to another workspace")
        authorize(principal, Permission.WRITE)

    def _check_batch(self, n: int, what: str) -> None:
        if n > self.max_batch:
            raise InvalidRequest(
                f"{n} {what} in one request exceed the limit of {self.max_batch} (limits.max_batch)"
            )

    # -- negotiation ------------------------------------------------------------
    def negotiate(
        self, root: str, node_ids: Sequence[str] | None = None, *, principal: Principal
    ) -> Negotiation:
        """Which of ``node_ids`` (default: just ``root``) the store lacks, in offered order.

        A present directory needs nothing below it sent (the invariant), so
        a client walks down only into the directories listed as missing.
        """
        self._authorize(principal)
        root_id = NodeId(parse_hex_id(root, "root NodeID"))
        offered = [root_id] if node_ids is None else list(node_ids)
        self._check_batch(len(offered), "NodeIDs")
        ids = list(dict.fromkeys(NodeId(parse_hex_id(n, "NodeID")) for n in offered))
        present = self.store.get_nodes(self.ws, [*ids, root_id])
        current = self.store.current_root(self.ws)
        return Negotiation(
            current_root=current.root if current is not None else None,
            root_present=root_id in present,
            missing=tuple(n for n in ids if n not in present),
            offered=len(ids),
            max_batch=self.max_batch,
        )

    # -- records ------------------------------------------------------------------
    def receive(self, records: Sequence[Any], *, principal: Principal) -> Received:
        """Verify a batch of ``node/1`` records whole, then store it in one transaction.

        Audited as ``tree.push`` (no node), accepted or refused, like the commit.

        Raises:
            SchemaValidationFailed: A record is malformed (every bad one is listed).
            RecordMismatch: A NodeID does not match its record, or a child's path
                does not match its directory.
            IncompleteTree: A directory names children neither in the batch nor stored.
            InvalidRequest: More records than ``max_batch``.
        """
        with self.auditor.session(Operation.TREE_PUSH, principal, workspace=self.ws) as audit:
            return self._receive(records, principal, audit)

    def _receive(
        self, records: Sequence[Any], principal: Principal, audit: AuditSession
    ) -> Received:
        self._authorize(principal)
        self._check_batch(len(records), "records")
        parsed: list[NodeRecord] = []
        bad: list[dict[str, str]] = []
        checked: set[str] = set()
        for index, data in enumerate(records):
            try:
                parsed.append(_parse(data, checked))
            except _Bad as exc:
                bad.append(
                    {"field": f"records.{index}", "location": "body", "message": exc.message}
                )
        if bad:
            raise SchemaValidationFailed(
                f"{len(bad)} of {len(records)} records are malformed", errors=tuple(bad)
            )
        batch: dict[NodeId, NodeRecord] = {}
        for index, record in enumerate(parsed):
            computed = record.compute_id()
            if computed != record.node_id:
                raise RecordMismatch(
                    f"record {index} ({record.path!r}) claims NodeID {record.node_id} "
                    f"but its fields hash to {computed}",
                    expected=computed,
                    got=record.node_id,
                    node_id=record.node_id,
                    index=index,
                )
            batch.setdefault(record.node_id, record)
        children = {
            child for record in batch.values() for _, child in record.children if child not in batch
        }
        stored = self.store.get_nodes(self.ws, [*batch, *children])
        missing: list[NodeId] = []
        for index, record in enumerate(parsed):
            for name, child in record.children:
                found = batch.get(child) or stored.get(child)
                if found is None:
                    missing.append(child)
                elif found.path != child_path(record.path, name):
                    raise RecordMismatch(
                        f"directory {record.path!r} names child {name!r} as {child}, "
                        f"whose record is at {found.path!r}",
                        expected=child_path(record.path, name),
                        got=found.path,
                        node_id=record.node_id,
                        index=index,
                    )
        if missing:
            shown = tuple(dict.fromkeys(missing))
            raise IncompleteTree(
                f"{len(shown)} children are neither in the batch nor stored: send them first",
                missing=shown[:MAX_MISSING_SHOWN],
            )
        new = [record for node_id, record in batch.items() if node_id not in stored]
        if new:
            audit.write(lambda: self.store.put_nodes(self.ws, new))
        return Received(
            received=len(records), stored=len(new), already_present=len(batch) - len(new)
        )

    # -- commit -------------------------------------------------------------------
    def commit(self, root: str, expected: str | None, *, principal: Principal) -> PushCommit:
        """Move the workspace root to ``root`` if it is still ``expected`` (None: no root yet).

        The root must be a stored directory at path ``""`` (so its subtree is
        complete); the path index is updated as a scan would, in the same
        transaction as the root move and its history entry.

        Raises:
            ConcurrentUpdate: The current root is not ``expected`` (nothing moved).
            IncompleteTree: The root, or a node under it, is not stored.
            InvalidRequest: The root is not the root directory of a tree.
        """
        with self.auditor.session(Operation.TREE_PUSH, principal, workspace=self.ws) as audit:
            audit.node = root if isinstance(root, str) and _HEX64.fullmatch(root) else None
            return self._commit(root, expected, principal, audit)

    def _commit(
        self, root: str, expected: str | None, principal: Principal, audit: AuditSession
    ) -> PushCommit:
        self._authorize(principal)
        root_id = NodeId(parse_hex_id(root, "root NodeID"))
        expected_id = None if expected is None else NodeId(parse_hex_id(expected, "expected root"))
        current = self.store.current_root(self.ws)
        actual = current.root if current is not None else None
        if actual != expected_id:
            raise ConcurrentUpdate(
                "the workspace root is not the one this push expected; negotiate again",
                expected=expected_id or "",
                actual=actual or "",
            )
        record = self.store.get_node(self.ws, root_id)
        if record is None:
            raise IncompleteTree(
                f"root {root_id} is not stored: push its records first", missing=(root_id,)
            )
        if record.kind != "dir" or record.path != "":
            raise InvalidRequest(
                f"{root_id} is a {record.kind} at {record.path!r}, not a tree root"
            )
        if current is not None and actual == root_id:
            return PushCommit(root_id, actual, current, changed=False, paths_changed=0)
        token = self.store.begin_scan(self.ws)
        try:
            staged = 0
            chunk: list[tuple[str, NodeId | None]] = []
            for change in self._diff(actual, root_id):
                chunk.append(change)
                if len(chunk) >= _STAGE_CHUNK:
                    self.store.stage_paths(self.ws, token, chunk)
                    staged += len(chunk)
                    chunk = []
            if chunk:
                self.store.stage_paths(self.ws, token, chunk)
                staged += len(chunk)
            entry = audit.write(
                lambda: self.store.commit_scan(self.ws, token, root_id, actual, self.clock.now())
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.store.abort_scan(self.ws, token)
            raise
        events.emit(
            "push",
            workspace=self.ws,
            agent=principal.agent_id,
            root=root_id,
            previous_root=actual,
            paths_changed=staged,
        )
        return PushCommit(root_id, actual, entry, changed=True, paths_changed=staged)

    def _diff(self, old: NodeId | None, new: NodeId) -> Iterator[tuple[str, NodeId | None]]:
        """Path-index changes from tree ``old`` to tree ``new``, level by level.

        The same changes a scan stages: every path whose NodeID changed (the
        root included), every path of an added subtree, a delete for every
        path of a removed one; an unchanged subtree costs nothing.
        """
        level: list[tuple[str, NodeId | None, NodeId | None]] = [("", old, new)]
        while level:
            wanted = [n for _, o, nw in level for n in (o, nw) if n is not None]
            records: dict[NodeId, NodeRecord] = {}
            for start in range(0, len(wanted), _FETCH_CHUNK):
                records.update(self.store.get_nodes(self.ws, wanted[start : start + _FETCH_CHUNK]))
            following: list[tuple[str, NodeId | None, NodeId | None]] = []
            for path, old_id, new_id in level:
                yield path, new_id
                old_children = _children(records, old_id, required=False)
                new_children = _children(records, new_id, required=True)
                for name, child in new_children.items():
                    was = old_children.get(name)
                    if was != child:
                        following.append((child_path(path, name), was, child))
                for name, child in old_children.items():
                    if name not in new_children:
                        following.append((child_path(path, name), child, None))
            level = following


def _children(
    records: Mapping[NodeId, NodeRecord], node_id: NodeId | None, *, required: bool
) -> dict[str, NodeId]:
    if node_id is None:
        return {}
    record = records.get(node_id)
    if record is None:
        if required:
            raise IncompleteTree(
                f"node {node_id} of the new tree is not stored", missing=(node_id,)
            )
        return {}  # an old tree always is; never fail a push on its account
    return dict(record.children)
