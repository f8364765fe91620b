"""Standalone verification of a snapshot archive: no store, no network (docs/SCHEMAS.md §15.5).

Owned by the verify work. The importer feeds verified items to an
:class:`ArchiveSink` through :func:`verify_archive`, so one reader checks
what ``verify-export`` reports and what ``import`` writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from treeframe.frames.frame import Frame
from treeframe.ids import ContentHash, FrameId, NodeId
from treeframe.snapshot.format import Manifest
from treeframe.snapshot.streams import DEFAULT_MAX_BYTES, DEFAULT_MAX_RATIO
from treeframe.snapshot.tar import Readable
from treeframe.tree.records import NodeRecord

__all__ = ["ArchiveSink", "Problem", "ProgressFn", "VerifyReport", "verify_archive"]

ProgressFn = Callable[[int, int | None], None]
"""``progress(input bytes read, total input bytes or None)``."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an archive: a stable ``code``, where (entry[:line]) and what."""

    code: str
    where: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"code": self.code, "detail": self.detail, "where": self.where}


@dataclass
class VerifyReport:
    """What was checked and every problem found; ``ok`` when there is none.

    ``checked`` says which part was checked (``scope``: ``all``, ``path``,
    ``sample``; ``complete``: False when ``max_duration`` cut it short) and
    how much (counts of nodes, frames, contents, bytes).
    """

    manifest: Manifest | None
    signature: str
    signer: str | None
    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``verify-export --json``)."""
        raise NotImplementedError


class ArchiveSink(Protocol):
    """Receives each item of a whole-archive verification, in archive order, once it is checked.

    Contents arrive last; ``chunks`` yields the entry's bytes as they are
    hashed (the sink must consume them all; the verifier reports a mismatch
    after the last one, and the importer then rolls everything back).
    """

    def agent(self, record: dict[str, Any]) -> None:
        """An agent/1 record."""

    def node(self, record: NodeRecord, *, ancestor: bool) -> None:
        """A node record (``ancestor``: above the exported subtree)."""

    def frame(self, frame: Frame) -> None:
        """A frame with its ``seq``, ``put_seq`` and ``created_at``."""

    def frame_set(self, node_id: NodeId, root: str, count: int) -> None:
        """A node's frame-set root and count."""

    def head(self, node_id: NodeId, frame_type: str, frame_id: FrameId) -> None:
        """A (node, type) head."""

    def content(self, digest: ContentHash, size: int, chunks: Iterator[bytes]) -> None:
        """A content's bytes, streamed."""


def verify_archive(
    source: Readable,
    *,
    trust: Sequence[str] = (),
    path: str | None = None,
    sample_percent: float | None = None,
    max_duration: float | None = None,
    progress: ProgressFn | None = None,
    total_bytes: int | None = None,
    sink: ArchiveSink | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_ratio: int = DEFAULT_MAX_RATIO,
) -> VerifyReport:
    """Check the archive read from ``source`` (compressed or not) and report every problem.

    Never raises for a bad archive: a structural fault ends up in the report
    as its last problem. ``path``/``sample_percent``/``max_duration`` check a
    part (not with ``sink``, which needs the whole archive).
    """
    raise NotImplementedError
