"""The client side of a push: drive negotiation, record batches and the commit over an ``httpx.Client``.

The tree comes from a local store the caller scanned into (the server never
sees the disk). :func:`push_tree` offers the root; while the server lacks
something, it reads the missing directories' records locally and offers
their children, one level at a time, so it descends only into subtrees the
server lacks (a stored directory has its whole subtree stored). It then
sends the missing records in post-order (each directory right after its
children), so children always arrive before their parents, in batches of at most the server's ``max_batch`` and
about :data:`MAX_BATCH_BYTES`, and finally commits the root with
compare-and-set on the root the first negotiation reported.

Every batch the server accepts is stored for good, so an interrupted push
(``max_batches`` simulates one) loses nothing: the next run negotiates again
and sends only what is still missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

import treeframe.errors as errors
from treeframe.errors import StoreCorrupt, TreeframeError
from treeframe.ids import NodeId, WorkspaceId
from treeframe.observability.progress import ProgressFn, throttled
from treeframe.storage.base import StorageBackend
from treeframe.tree.records import NodeRecord
from treeframe.wire.push import (
    CommitRequest,
    CommitResponse,
    NegotiateRequest,
    NegotiateResponse,
    RecordsResponse,
)

__all__ = ["MAX_BATCH_BYTES", "PushInterrupted", "PushResult", "error_from_response", "push_tree"]

MAX_BATCH_BYTES = 4 << 20
"""A record batch is closed once its JSON reaches about this size (well under the body limit)."""

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class PushResult:
    """What a push did: what it offered, sent and skipped, and the root it left."""

    root: NodeId
    previous_root: NodeId | None
    changed: bool
    seq: int
    offered: int
    """Distinct NodeIDs offered to the server (the root included)."""
    sent: int
    """Records sent (the server received them all: each batch is accepted whole or refused)."""
    stored: int
    """Records new to the server's store."""
    skipped: int
    """Offered NodeIDs the server had already (nothing below them was sent)."""
    batches: int
    negotiations: int
    paths_changed: int

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape of ``treeframe push``."""
        return {
            "root": self.root,
            "previous_root": self.previous_root,
            "changed": self.changed,
            "seq": self.seq,
            "offered": self.offered,
            "sent": self.sent,
            "stored": self.stored,
            "skipped": self.skipped,
            "batches": self.batches,
            "negotiations": self.negotiations,
            "paths_changed": self.paths_changed,
        }


class PushInterrupted(Exception):
    """Raised by :func:`push_tree` when ``max_batches`` were sent before the push was done.

    Not a library error: it exists so tests and tools can stop a push
    part-way, as a crash would. ``sent`` counts the records the server
    stored for good.
    """

    def __init__(self, message: str, *, sent: int = 0) -> None:
        super().__init__(message)
        self.sent = sent


def _error_classes() -> dict[str, type[TreeframeError]]:
    found: dict[str, type[TreeframeError]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, TreeframeError):
            found.setdefault(value.code, value)
    return found


def error_from_response(response: httpx.Response) -> TreeframeError:
    """The library error an error envelope names (its class by ``code``, its data as attributes)."""
    try:
        body = response.json()["error"]
        code, message = str(body["code"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        return TreeframeError(f"HTTP {response.status_code} without an error envelope")
    cls = _error_classes().get(code, TreeframeError)
    error = cls.__new__(cls)
    TreeframeError.__init__(error, message)
    for key, value in body.items():
        if key not in ("error_type", "code", "message"):
            setattr(error, key, value)
    return error


def _post(http: httpx.Client, url: str, body: BaseModel | bytes, model: type[_M]) -> _M:
    content = body if isinstance(body, bytes) else body.model_dump_json().encode()
    response = http.post(url, content=content, headers={"Content-Type": "application/json"})
    if response.status_code >= 400:
        raise error_from_response(response)
    return model.model_validate_json(response.content)


def push_tree(
    http: httpx.Client,
    workspace: WorkspaceId,
    source: StorageBackend,
    source_ws: WorkspaceId,
    root: NodeId,
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
    progress: ProgressFn | None = None,
) -> PushResult:
    """Push the tree ``root`` of ``source``'s workspace ``source_ws`` into the server's ``workspace``.

    Args:
        http: A client whose ``base_url`` is the server (auth headers set).
        workspace: The server's workspace ID.
        source: The local store holding the scanned tree.
        source_ws: The workspace of ``source`` that holds it.
        root: The tree's root NodeID.
        batch_size: Records per batch (default and ceiling: the server's ``max_batch``).
        max_batches: Stop with :class:`PushInterrupted` after this many batches.
        progress: Called as ``progress(phase, done, total)``: phase
            ``negotiate`` (NodeIDs offered; its total is known when it
            ends), then ``send`` (records sent, of those the server lacks).

    Raises:
        ConcurrentUpdate: The workspace's root moved since the negotiation.
        TreeframeError: Whatever the server refused, as the envelope's class.
    """
    base = f"/v1/workspaces/{workspace}/push"
    progress = throttled(progress)
    first = _post(http, f"{base}/negotiate", NegotiateRequest(root=root), NegotiateResponse)
    limit = max(1, min(batch_size or first.max_batch, first.max_batch))
    negotiations, offered, skipped = 1, 1, 0
    levels: list[list[NodeRecord]] = []
    if first.root_present:
        skipped = 1
    else:
        frontier: list[NodeId] = [root]
        while frontier:
            found = source.get_nodes(source_ws, frontier)
            lost = [n for n in frontier if n not in found]
            if lost:
                raise StoreCorrupt(f"the local store lacks node {lost[0]} of the tree {root}")
            records = [found[n] for n in frontier]
            levels.append(records)
            children = list(dict.fromkeys(c for r in records for _, c in r.children))
            missing: list[NodeId] = []
            for start in range(0, len(children), first.max_batch):
                chunk = children[start : start + first.max_batch]
                answer = _post(
                    http,
                    f"{base}/negotiate",
                    NegotiateRequest(root=root, node_ids=list(chunk)),
                    NegotiateResponse,
                )
                negotiations += 1
                missing += [NodeId(n) for n in answer.missing]
                if progress is not None:
                    progress("negotiate", offered + start + len(chunk), None)
            offered += len(children)
            skipped += len(children) - len(missing)
            frontier = missing
    to_send = _post_order(root, {r.node_id: r for level in levels for r in level})
    sent = stored = batches = 0
    if progress is not None:
        progress("negotiate", offered, offered)
        progress("send", 0, len(to_send))
    for batch in _batches(to_send, limit):
        if max_batches is not None and batches >= max_batches:
            raise PushInterrupted(
                f"stopped after {batches} batches ({sent} of {len(to_send)} records)", sent=sent
            )
        answer_records = _post(
            http,
            f"{base}/records",
            _records_body(batch),
            RecordsResponse,
        )
        batches += 1
        sent += answer_records.received
        stored += answer_records.stored
        if progress is not None:
            progress("send", sent, len(to_send))
    done = _post(
        http,
        f"{base}/commit",
        CommitRequest(root=root, expected_root=first.current_root),
        CommitResponse,
    )
    return PushResult(
        root=NodeId(done.root),
        previous_root=NodeId(done.previous_root) if done.previous_root is not None else None,
        changed=done.changed,
        seq=done.seq,
        offered=offered,
        sent=sent,
        stored=stored,
        skipped=skipped,
        batches=batches,
        negotiations=negotiations,
        paths_changed=done.paths_changed,
    )


def _post_order(root: NodeId, missing: dict[NodeId, NodeRecord]) -> list[NodeRecord]:
    """The missing records, each directory right after its (missing) children.

    Children come before parents, as the server requires, and a directory
    mostly travels in the same batch as its children, so the server rarely
    reads children back from its store to check them.
    """
    out: list[NodeRecord] = []
    if root not in missing:
        return out
    stack: list[tuple[NodeRecord, bool]] = [(missing[root], False)]
    while stack:
        record, expanded = stack.pop()
        if expanded:
            out.append(record)
            continue
        stack.append((record, True))
        for _, child in reversed(record.children):
            found = missing.get(child)
            if found is not None:
                stack.append((found, False))
    return out


def _records_body(batch: Sequence[NodeRecord]) -> bytes:
    """A :class:`~treeframe.wire.push.RecordsRequest` body, from the records' canonical JSON."""
    return b'{"records":[' + b",".join(record.to_json() for record in batch) + b"]}"


def _batches(records: Sequence[NodeRecord], limit: int) -> list[list[NodeRecord]]:
    """Consecutive runs of at most ``limit`` records and about :data:`MAX_BATCH_BYTES` of JSON."""
    out: list[list[NodeRecord]] = []
    current: list[NodeRecord] = []
    size = 0
    for record in records:
        weight = len(record.to_json()) + 1 if record.kind == "dir" else 300 + len(record.path)
        if current and (len(current) >= limit or size + weight > MAX_BATCH_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(record)
        size += weight
    if current:
        out.append(current)
    return out
