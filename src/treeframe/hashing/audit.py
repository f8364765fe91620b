"""The hash chain of the audit log: one entry's hash over every other field of it.

``entry_hash = BLAKE3-256(tagged("treeframe:audit:v1", blob(canonical_json(fields))))``
where ``fields`` is the entry without ``entry_hash`` (``seq``, ``time``,
``workspace``, ``agent``, ``operation``, ``node``, ``frame``, ``success``,
``error``, ``request_id``, ``prev_hash``); ``prev_hash`` of entry 1 is
:data:`GENESIS`. The time is hashed on purpose: the chain is a log, not
content, and no entry hash is ever used as a content address
(docs/SCHEMAS.md, "Audit chain").
"""

from __future__ import annotations

import blake3

from treeframe.hashing.canonical_json import canonical_json
from treeframe.hashing.encoding import blob, tagged

__all__ = ["GENESIS", "TAG_AUDIT", "audit_entry_hash", "audit_fields"]

TAG_AUDIT = b"treeframe:audit:v1"
GENESIS = "0" * 64
"""``prev_hash`` of a workspace's first entry."""


def audit_fields(
    *,
    seq: int,
    time: str,
    workspace: str,
    agent: str | None,
    operation: str,
    node: str | None,
    frame: str | None,
    success: bool,
    error: str | None,
    request_id: str | None,
    prev_hash: str,
) -> dict[str, object]:
    """The hashed fields of one entry as the JSON object the hash is taken over."""
    return {
        "seq": seq,
        "time": time,
        "workspace": workspace,
        "agent": agent,
        "operation": operation,
        "node": node,
        "frame": frame,
        "success": success,
        "error": error,
        "request_id": request_id,
        "prev_hash": prev_hash,
    }


def audit_entry_hash(fields: dict[str, object]) -> str:
    """The 64-hex entry hash of :func:`audit_fields` output (canonical JSON, domain-tagged)."""
    return blake3.blake3(tagged(TAG_AUDIT, blob(canonical_json(fields)))).hexdigest()
