"""Standalone verification of a snapshot archive: no store, no network (docs/SCHEMAS.md §15.5).

One pass over the stream, in archive order, keeping only what later checks
need: the pre-order walk's stack of expected children, the current node's
frames, the records entries' expected BLAKE3s and the content hashes (with
sizes) that frames name. Every problem is reported with a stable code
(the table in §15.5); a fault of the container (§15.1) ends the reading.
The importer feeds verified items to an :class:`ArchiveSink` through
:func:`verify_archive`, so one reader checks what ``verify-export`` reports
and what ``import`` writes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any, Protocol

import blake3

from treeframe.engine.agents import AgentRecord
from treeframe.engine.push import check_path
from treeframe.errors import InvalidPath, SnapshotInvalid, TreeframeError
from treeframe.frames.frame import Frame, validate_label
from treeframe.frames.merkle_set import root_of
from treeframe.hashing.canonical_json import canonical_json
from treeframe.hashing.ids import content_hasher, workspace_id
from treeframe.ids import ContentHash, FrameId, NodeId
from treeframe.observability.progress import ProgressFn, throttled
from treeframe.snapshot.format import (
    CHECKSUMS,
    MANIFEST,
    MAX_LINE,
    MAX_MANIFEST,
    MAX_RECORDS_ENTRY,
    MAX_SIGNATURE,
    RECORDS_TARGET,
    SCHEMAS,
    SIGNATURE,
    Manifest,
    content_digest,
    parse_line,
    records_name,
    records_number,
)
from treeframe.snapshot.signing import check_signature
from treeframe.snapshot.streams import DEFAULT_MAX_BYTES, DEFAULT_MAX_RATIO, Decompressed
from treeframe.snapshot.tar import BLOCK, Entry, Readable, TarReader
from treeframe.tree.paths import child_path
from treeframe.tree.records import NodeRecord

__all__ = [
    "MAX_PROBLEMS",
    "ArchiveSink",
    "Problem",
    "VerifyReport",
    "verify_archive",
]

PHASE = "verify_bytes"
"""The progress phase of a reading: input bytes read (of ``total_bytes`` when given)."""

MAX_PROBLEMS = 10_000
"""Problems listed in one report; past it they are counted, so a hostile archive cannot fill memory."""

_CHECKSUM_LINE = re.compile(rb"([0-9a-f]{64})  (records/[0-9]{8}\.jsonl)\n")
_CHECKSUM_LINE_MAX = 64 + 2 + len(records_name(1)) + 1
_LINE_KEYS = {
    "agent": {"kind", "record"},
    "ancestor": {"kind", "record"},
    "node": {"kind", "record"},
    "frame": {"kind", "put_seq", "record"},
    "frame_set": {"count", "kind", "node_id", "root"},
    "head": {"frame_id", "frame_type", "kind", "node_id"},
}
_SECTION = {"agent": 0, "ancestor": 1, "node": 2, "frame": 3, "frame_set": 4, "head": 5}
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_LIMIT_SLACK = 1 << 20
_CLOCK_EVERY = 256  # record lines between two looks at the clock


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
        """JSON-ready form (``verify-export --json``; docs/SCHEMAS.md §15.5)."""
        return {
            "checked": dict(self.checked),
            "manifest": self.manifest.to_dict() if self.manifest is not None else None,
            "ok": self.ok,
            "problems": [problem.to_dict() for problem in self.problems],
            "signature": {"signer": self.signer, "state": self.signature},
        }


class ArchiveSink(Protocol):
    """Receives each item of a whole-archive verification, in archive order, once it is checked.

    Contents arrive last; ``chunks`` yields the entry's bytes as they are
    hashed (what the sink leaves unread is read and hashed after it returns;
    a mismatch is reported after the last chunk). An item is passed once its
    own checks pass, but a later problem (a count, a missing content) can
    still fail the archive: the importer keeps nothing unless the report is ok.
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
    phase: str = PHASE,
) -> VerifyReport:
    """Check the archive read from ``source`` (compressed or not) and report every problem.

    Never raises for a bad archive: a structural fault ends up in the report
    as its last problem. ``path``/``sample_percent``/``max_duration`` check a
    part (not with ``sink``, which needs the whole archive). ``progress``
    counts input bytes read as ``phase`` (of ``total_bytes``; at the end the
    total is the bytes read when it was not given).
    """
    partial = path is not None or sample_percent is not None or max_duration is not None
    if sink is not None and partial:
        raise ValueError("a sink needs the whole archive checked: no path, sample or duration")
    if sample_percent is not None and not 0 <= sample_percent <= 100:
        raise ValueError("sample_percent must be between 0 and 100")
    scope = _Scope(path.strip("/") if path is not None else None, sample_percent)
    deadline = time.monotonic() + max_duration if max_duration is not None else None
    run = _Verifier(source, trust, scope, deadline, progress, total_bytes, sink, phase)
    run.run(max_bytes, max_ratio)
    return run.report()


@dataclass(frozen=True)
class _Scope:
    """Which nodes and contents get their expensive checks (IDs, frames, content bytes)."""

    prefix: str | None
    percent: float | None

    @property
    def threshold(self) -> int:
        """Sampled items have a hash whose first 8 bytes are below this."""
        return int((self.percent or 0) / 100 * (1 << 64))

    def sampled(self, hex_hash: str) -> bool:
        """Whether ``hex_hash`` (a NodeID or content hash) falls in the sample; same every run."""
        return self.percent is None or int(hex_hash[:16], 16) < self.threshold

    def in_prefix(self, path: str) -> bool:
        """Whether ``path`` is at or under the prefix (always, without one)."""
        prefix = self.prefix
        return not prefix or path == prefix or path.startswith(prefix + "/")

    def node(self, record: NodeRecord) -> bool:
        """Whether the node itself (its NodeID, frames and frame set) is checked."""
        return self.in_prefix(record.path) and self.sampled(record.node_id)

    def content(self, digest: str, in_prefix: bool) -> bool:
        """Whether a content's bytes are hashed: named under the prefix, and sampled by its hash."""
        return in_prefix and self.sampled(digest)

    def node_id(self, record: NodeRecord) -> bool:
        """Whether the node's ID is recomputed: in scope, or needed to reach what is."""
        if self.node(record):
            return True
        if record.kind != "dir":
            return False
        if self.prefix is not None:
            # A directory above the prefix links the root to it.
            return record.path == "" or self.prefix.startswith(record.path + "/")
        return True  # a sample can fall anywhere below any directory

    def describe(self) -> dict[str, Any]:
        """The ``scope`` part of ``checked``."""
        if self.prefix is not None:
            out: dict[str, Any] = {"scope": "path", "prefix": self.prefix}
            if self.percent is not None:
                out["percent"] = self.percent
            return out
        if self.percent is not None:
            return {"scope": "sample", "percent": self.percent}
        return {"scope": "all"}


class _OutOfTime(Exception):
    """``max_duration`` has passed: stop reading (not an archive problem)."""


@dataclass
class _Node:
    """The node whose frames, frame set and heads are being read."""

    record: NodeRecord
    checked: bool
    section: int = _SECTION["node"]
    frames: list[tuple[FrameId, str, int]] = field(default_factory=list)
    frame_set: bool = False
    last_frame: str = ""
    last_head: str = ""
    heads: set[str] = field(default_factory=set)


class _Verifier:
    """One verification run: the state of the single pass and the problems found."""

    def __init__(
        self,
        source: Readable,
        trust: Sequence[str],
        scope: _Scope,
        deadline: float | None,
        progress: ProgressFn | None,
        total_bytes: int | None,
        sink: ArchiveSink | None,
        progress_phase: str,
    ) -> None:
        self.source = source
        self.trust = trust
        self.scope = scope
        self.deadline = deadline
        self.progress = throttled(progress)
        self.progress_phase = progress_phase
        self.total_bytes = total_bytes
        self.sink = sink
        self.problems: list[Problem] = []
        self.unlisted = 0
        self.structural: Problem | None = None
        self.complete = True
        self.stream: Decompressed | None = None
        self.manifest: Manifest | None = None
        self.manifest_bytes = b""
        self.signature = "unsigned"
        self.signer: str | None = None
        self.judged = False
        # entry order: 0 manifest, 1 signature, 2 checksums, 3 records, 4 contents
        self.phase = -1
        self.listed: bytearray | None = None  # the checksums.b3 digests, 32 bytes each
        self.records_seen = 0
        self.prev_entry_size = 0
        self.line_no = 0
        # the walk
        self.section = 0
        self.last_agent = ""
        self.components: list[str] = []
        self.ancestors = 0
        self.next_ancestor: NodeId | None = None
        self.stack: list[tuple[str, NodeId]] = []
        self.walk_started = False
        self.node: _Node | None = None
        self.named: dict[str, tuple[int, bool]] = {}  # content hash -> (size, checked)
        self.expected_contents: list[str] | None = None
        self.content_at = 0
        self.last_content = ""
        self.counts = dict.fromkeys(
            (
                "agents",
                "ancestors",
                "nodes",
                "frames",
                "frame_sets",
                "heads",
                "contents",
                "records_entries",
                "record_bytes",
                "content_bytes",
            ),
            0,
        )
        self.checked_counts = {"nodes": 0, "frames": 0, "contents": 0, "content_bytes": 0}
        self.lines_since_clock = 0
        self.raw = b""  # the record line being checked

    # -- reporting ---------------------------------------------------------

    def problem(self, code: str, where: str, detail: str) -> None:
        """Record a problem; past MAX_PROBLEMS only count it."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(code, where, detail))
        else:
            self.unlisted += 1

    def report(self) -> VerifyReport:
        """The report of this run (the structural fault, if any, last)."""
        problems = list(self.problems)
        if self.unlisted:
            problems.append(
                Problem("limit", "", f"{self.unlisted} more problems were found and not listed")
            )
        if self.structural is not None:
            problems.append(self.structural)
        checked: dict[str, Any] = self.scope.describe()
        checked["complete"] = self.complete and self.structural is None
        checked.update(self.checked_counts)
        checked["records_entries"] = self.counts["records_entries"]
        checked["record_bytes"] = self.counts["record_bytes"]
        checked["bytes_read"] = self.stream.consumed if self.stream is not None else 0
        return VerifyReport(self.manifest, self.signature, self.signer, problems, checked)

    def show_progress(self, *, final: bool = False) -> None:
        """Tell the caller how much input was read (``final``: all of it, so done is the total)."""
        if self.progress is not None and self.stream is not None:
            done = self.stream.consumed
            total = done if final and self.total_bytes is None else self.total_bytes
            self.progress(self.progress_phase, done, total)

    def tick(self) -> None:
        """Report progress and stop (``_OutOfTime``) once the deadline has passed."""
        self.show_progress()
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.complete = False
            raise _OutOfTime

    # -- the pass ----------------------------------------------------------

    def run(self, max_bytes: int, max_ratio: int) -> None:
        """Read the whole stream once; a structural fault or the deadline ends it."""
        try:
            self.stream = Decompressed(self.source, max_bytes=max_bytes, max_ratio=max_ratio)
            reader = TarReader(self.stream)
            while (entry := reader.next_entry()) is not None:
                self.entry(reader, entry)
                self.tick()
            self.show_progress(final=True)
            self.finish()
        except SnapshotInvalid as exc:
            self.structural = Problem("structure", "archive", exc.message)
        except _OutOfTime:
            pass

    def entry(self, reader: TarReader, entry: Entry) -> None:
        """Check one entry's place in the order of §15.2, then read it."""
        name = entry.name
        number = records_number(name)
        digest = content_digest(name)
        phase = _PHASES.get(name, 3 if number is not None else 4)
        if self.phase == -1 and phase != 0:
            self.problem("order", name, f"the first entry must be {MANIFEST}")
            self.phase = 0
        if phase < self.phase or (phase == self.phase and phase < 3):
            what = "a second" if phase == self.phase else "out of order:"
            self.problem("order", name, f"{what} {name} after the entries before it")
            return
        if phase > 1:
            self.judge_signature(None)
        if phase > 2 and self.phase < 2:
            self.problem("missing", CHECKSUMS, f"the archive has no {CHECKSUMS}")
        if phase == 4 and self.phase < 3:
            self.problem("missing", records_name(1), "the archive has no records entry")
        if phase == 4:
            self.end_records()
        self.phase = phase
        if phase == 0:
            self.read_manifest(reader, entry)
        elif phase == 1:
            self.judge_signature(self.read_limited(reader, entry, MAX_SIGNATURE))
        elif phase == 2:
            self.read_checksums(reader, entry)
        elif phase == 3:
            assert number is not None
            self.read_records(reader, entry, number)
        else:
            assert digest is not None
            self.read_content(reader, entry, digest)

    def read_limited(self, reader: TarReader, entry: Entry, limit: int) -> bytes | None:
        """The entry's bytes, or None (a ``limit`` problem) when it is over ``limit``."""
        if entry.size > limit:
            self.problem("limit", entry.name, f"{entry.size} bytes, over its limit of {limit}")
            return None
        return reader.read_all(limit)

    def finish(self) -> None:
        """The end of the archive: what never came is missing; counts compared."""
        if self.phase < 0:
            self.problem("missing", MANIFEST, "the archive is empty")
        self.judge_signature(None)
        if self.phase < 2:
            self.problem("missing", CHECKSUMS, f"the archive has no {CHECKSUMS}")
        if self.phase < 3:
            self.problem("missing", records_name(1), "the archive has no records entry")
        self.end_records()
        self.end_contents()
        self.compare_counts()

    # -- manifest and signature --------------------------------------------

    def read_manifest(self, reader: TarReader, entry: Entry) -> None:
        """Parse and check the manifest, then tighten the decompression cap to what it declares."""
        data = self.read_limited(reader, entry, MAX_MANIFEST)
        if data is None:
            return
        self.manifest_bytes = data
        try:
            manifest = Manifest.parse(data)
        except SnapshotInvalid as exc:
            self.problem("manifest", MANIFEST, exc.message)
            return
        assert self.stream is not None
        if manifest.compression != self.stream.compression:
            self.problem(
                "manifest",
                MANIFEST,
                f"compression {manifest.compression!r}, but the archive is"
                f" {self.stream.compression!r}",
            )
        if manifest.workspace.workspace_id != workspace_id(manifest.workspace.name):
            self.problem("manifest", MANIFEST, "the workspace ID is not the ID of its name")
        if manifest.schemas != SCHEMAS:
            self.problem("manifest", MANIFEST, f"unsupported record schemas {manifest.schemas}")
        if manifest.path:
            self.components = manifest.path.split("/")
            for name in self.components:
                if not _valid_name(name):
                    self.problem("manifest", MANIFEST, f"path {manifest.path!r} is not valid")
                    break
        elif manifest.node_id != manifest.root_hash:
            self.problem("manifest", MANIFEST, "a whole export's node_id must be its root_hash")
        self.manifest = manifest
        self.next_ancestor = manifest.root_hash if manifest.path else None
        counts = manifest.counts
        declared = (
            BLOCK * (6 + counts.records_entries + counts.contents)
            + len(data)
            + MAX_SIGNATURE
            + manifest.checksums_size
            + counts.record_bytes
            + counts.content_bytes
        )
        # Slack, so that an archive holding a little more than it declares is
        # reported item by item; a bomb still stops near the declared size.
        self.stream.limit(2 * declared + _LIMIT_SLACK)

    def judge_signature(self, data: bytes | None) -> None:
        """Judge the signature once (``data`` None: unsigned), when there is a manifest."""
        if self.judged or self.manifest is None:
            return
        self.judged = True
        if data is None and not self.trust:
            return  # nothing to judge: unsigned, and nobody asked for a signer
        verdict = check_signature(self.manifest_bytes, data, self.trust)
        self.signature, self.signer = verdict.state, verdict.public_key
        if verdict.problem:
            self.problem("signature", SIGNATURE, verdict.problem)

    # -- checksums.b3 and records entries ----------------------------------

    def read_checksums(self, reader: TarReader, entry: Entry) -> None:
        """Keep the BLAKE3 each records entry must have; check the entry against the manifest."""
        hasher = blake3.blake3()
        listed = bytearray()
        buffer = b""
        bad = False
        for chunk in reader.chunks():
            hasher.update(chunk)
            buffer += chunk
            lines = buffer.split(b"\n")
            buffer = lines.pop()
            if len(buffer) >= _CHECKSUM_LINE_MAX:
                bad = True
                buffer = b""
            for line in lines:
                match = _CHECKSUM_LINE.fullmatch(line + b"\n")
                expected = records_name(len(listed) // 32 + 1)
                if match is None or match.group(2).decode() != expected:
                    bad = True
                    continue
                listed += bytes.fromhex(match.group(1).decode())
        if buffer:
            bad = True
        if bad:
            self.problem(
                "checksum",
                CHECKSUMS,
                "a line is not '<64 hex>  records/NNNNNNNN.jsonl', numbered from 1",
            )
        self.listed = listed
        if self.manifest is None:
            return
        if entry.size != self.manifest.checksums_size:
            self.problem(
                "checksum",
                CHECKSUMS,
                f"{entry.size} bytes, but the manifest says {self.manifest.checksums_size}",
            )
        if hasher.hexdigest() != self.manifest.checksums_blake3:
            self.problem("checksum", CHECKSUMS, "its BLAKE3 is not the one the manifest holds")

    def read_records(self, reader: TarReader, entry: Entry, number: int) -> None:
        """Hash one records entry and check its lines one by one (a line at most in memory)."""
        name = entry.name
        if number <= self.records_seen:
            self.problem("order", name, f"{name} after records entry {self.records_seen}")
            return
        for gap in range(self.records_seen + 1, number):
            self.problem("missing", records_name(gap), "a records entry is missing")
        self.records_seen = number
        self.counts["records_entries"] += 1
        self.counts["record_bytes"] += entry.size
        if entry.size > MAX_RECORDS_ENTRY:
            self.problem("limit", name, f"{entry.size} bytes, over {MAX_RECORDS_ENTRY}")
            return
        hasher = blake3.blake3()
        buffer = b""
        size = 0
        self.line_no = 0
        for chunk in reader.chunks():
            hasher.update(chunk)
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n", start)) != -1:
                line = buffer[start : end + 1]
                start = end + 1
                size = self.cut_rule(name, size, len(line))
                self.line(name, line)
            buffer = buffer[start:]
            if len(buffer) > MAX_LINE:
                self.problem("limit", f"{name}:{self.line_no + 1}", f"a line over {MAX_LINE} bytes")
                return
        if buffer:
            self.problem("record", f"{name}:{self.line_no + 1}", "the last line has no newline")
        if entry.size == 0:
            self.problem("record", name, "an empty records entry")
        self.prev_entry_size = entry.size
        listed = self.listed
        if listed is not None and len(listed) >= 32 * number:
            if hasher.digest() != bytes(listed[32 * (number - 1) : 32 * number]):
                self.problem("checksum", name, f"its BLAKE3 is not the one {CHECKSUMS} lists")
        elif listed is not None:
            self.problem("checksum", name, f"not listed in {CHECKSUMS}")

    def cut_rule(self, name: str, size: int, length: int) -> int:
        """The writer cuts before a line that would pass RECORDS_TARGET, and only then."""
        if size == 0 and self.records_seen > 1 and self.prev_entry_size + length <= RECORDS_TARGET:
            self.problem("record", name, "the previous records entry was cut early")
        elif size and size + length > RECORDS_TARGET:
            self.problem("record", name, f"the entry runs past {RECORDS_TARGET} bytes")
        return size + length

    def end_records(self) -> None:
        """The records are over: every expected node came, the contents to expect are known."""
        if self.expected_contents is not None:
            return  # already ended
        if self.listed is not None:
            for number in range(self.records_seen + 1, len(self.listed) // 32 + 1):
                self.problem("missing", records_name(number), f"listed in {CHECKSUMS}, absent")
        self.end_node()
        if self.manifest is not None and not self.walk_started:
            self.start_walk("the end of the records")
        for path, node_id in reversed(self.stack):
            self.problem("missing", path or "/", f"node {node_id} is not in the archive")
        self.stack = []
        self.expected_contents = sorted(self.named)

    # -- record lines ------------------------------------------------------

    def line(self, entry: str, data: bytes) -> None:
        """Parse one record line and dispatch it to ``on_<kind>``."""
        self.line_no += 1
        where = f"{entry}:{self.line_no}"
        self.lines_since_clock += 1
        if self.lines_since_clock >= _CLOCK_EVERY:
            self.lines_since_clock = 0
            self.tick()
        if len(data) > MAX_LINE:
            self.problem("limit", where, f"a record line over {MAX_LINE} bytes")
            return
        try:
            value = parse_line(data, where)
        except SnapshotInvalid as exc:
            self.problem("record", where, exc.message)
            return
        kind = value["kind"]
        if set(value) != _LINE_KEYS[kind]:
            self.problem(
                "record", where, f"a {kind} line must have exactly {sorted(_LINE_KEYS[kind])}"
            )
            return
        if self.manifest is None:
            return  # without a manifest there is no root to check anything against
        section = _SECTION[kind]
        if kind in ("agent", "ancestor", "node"):
            if section < self.section:
                self.problem("order", where, f"an {kind} line after the {_KINDS[self.section]}s")
                return
            self.section = section
        self.raw = data
        try:
            getattr(self, f"on_{kind}")(where, value)
        except (TreeframeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.problem("record", where, f"a malformed {kind} line: {exc}")

    def record_bytes(self) -> bytes:
        """The canonical bytes of the current line's ``record``: its last key, so its tail."""
        return self.raw[self.raw.index(b'"record":') + len(b'"record":') : -2]

    def node_record(self, record: Any) -> NodeRecord:
        """A node/1 record, parsed strictly: it must re-encode to the same JSON."""
        parsed = NodeRecord.from_dict(record)
        if parsed.to_json() != self.record_bytes():
            raise ValueError("not a node/1 record")
        return parsed

    def on_agent(self, where: str, value: dict[str, Any]) -> None:
        """An agent/1 record, ascending by ID."""
        record = value["record"]
        agent = AgentRecord.from_dict(record)
        if _encoded(agent.to_dict()) != self.record_bytes():
            self.problem("record", where, "not an agent/1 record")
            return
        self.counts["agents"] += 1
        if agent.agent_id <= self.last_agent:
            self.problem(
                "order", where, f"agent {agent.agent_id!r} is not after {self.last_agent!r}"
            )
            return
        self.last_agent = agent.agent_id
        if self.sink is not None:
            self.sink.agent(record)

    def on_ancestor(self, where: str, value: dict[str, Any]) -> None:
        """A directory above the subtree: the next one on the path from ``root_hash``."""
        record = self.node_record(value["record"])
        self.counts["ancestors"] += 1
        index = self.ancestors
        self.ancestors += 1
        if index >= len(self.components):
            self.problem("unreachable", where, f"ancestor {record.path!r} is not above the subtree")
            return
        ok = self.check_node(where, record, "/".join(self.components[:index]), self.next_ancestor)
        if record.kind != "dir":
            self.problem("unreachable", where, f"ancestor {record.path!r} is not a directory")
            self.next_ancestor = None
            return
        child = dict(record.children).get(self.components[index])
        if child is None:
            self.problem("unreachable", where, f"lists no child {self.components[index]!r}")
        self.next_ancestor = child
        if ok and self.sink is not None:
            self.sink.node(record, ancestor=True)

    def start_walk(self, where: str) -> None:
        """The first subtree node: the ancestors must have led to ``node_id``."""
        manifest = self.manifest
        assert manifest is not None
        self.walk_started = True
        if manifest.path:
            if self.ancestors < len(self.components):
                missing = len(self.components) - self.ancestors
                self.problem("missing", where, f"{missing} ancestor record(s) missing")
            elif self.next_ancestor is not None and self.next_ancestor != manifest.node_id:
                self.problem(
                    "unreachable",
                    where,
                    f"the subtree {manifest.path!r} is not node_id {manifest.node_id} in root_hash",
                )
        self.stack = [(manifest.path, manifest.node_id)]

    def on_node(self, where: str, value: dict[str, Any]) -> None:
        """The next node of the pre-order walk: exactly the child the stack expects."""
        self.end_node()
        if not self.walk_started:
            self.start_walk(where)
        record = self.node_record(value["record"])
        self.counts["nodes"] += 1
        if not self.stack:
            self.problem(
                "unreachable", where, f"node {record.path!r} is not reachable from the root"
            )
            return
        path, expected = self.stack.pop()
        ok = self.check_node(where, record, path, expected)
        if record.kind == "dir":
            self.stack.extend(
                (child_path(record.path, name), child) for name, child in reversed(record.children)
            )
        checked = self.scope.node(record)
        self.node = _Node(record, checked)
        if checked:
            self.checked_counts["nodes"] += 1
        if ok and self.sink is not None:
            self.sink.node(record, ancestor=False)

    def check_node(
        self, where: str, record: NodeRecord, path: str, expected: NodeId | None
    ) -> bool:
        """The checks of one node record; False when it failed any."""
        ok = True
        if record.path != path:
            self.problem("unreachable", where, f"path {record.path!r} where {path!r} comes next")
            ok = False
        elif expected is not None and record.node_id != expected:
            self.problem("unreachable", where, f"node {record.node_id} where {expected} comes next")
            ok = False
        if self.scope.node_id(record) and record.compute_id() != record.node_id:
            self.problem("node_id", where, f"{record.path!r}: NodeID does not match its fields")
            ok = False
        if record.kind == "dir":
            names = [name.encode("utf-8") for name, _ in record.children]
            if any(a >= b for a, b in pairwise(names)):
                self.problem("record", where, "children are not sorted by name bytes, or repeat")
                ok = False
            if not all(_valid_name(name) for name, _ in record.children):
                self.problem("record", where, "a child name is not a valid path component")
                ok = False
        return ok

    def frame_line_node(self, where: str, kind: str, node_id: str | None = None) -> _Node | None:
        """The current node for a frame/frame_set/head line, checking its position."""
        node = self.node
        if node is None:
            self.problem("order", where, f"a {kind} line before any node")
            return None
        section = _SECTION[kind]
        if section < node.section or (section == node.section and kind == "frame_set"):
            self.problem("order", where, f"a {kind} line after the node's {_KINDS[node.section]}s")
            return None
        if kind == "head" and node.section < _SECTION["frame_set"]:
            self.close_frames(where)
        node.section = section
        if node_id is not None and node_id != node.record.node_id:
            self.problem(
                "frame" if kind == "frame" else kind,
                where,
                f"names node {node_id}, not the node {node.record.node_id} it follows",
            )
            return None
        return node

    def on_frame(self, where: str, value: dict[str, Any]) -> None:
        """A frame of the current node, ascending by FrameID."""
        record = value["record"]
        put_seq = value["put_seq"]
        frame = Frame.from_dict(record)
        if frame.to_json() != self.record_bytes() or type(put_seq) is not int:
            self.problem("record", where, "not a frame/1 record with an integer put_seq")
            return
        validate_label(frame.frame_type, "frame type")
        validate_label(frame.agent_id, "agent ID")
        if _TIMESTAMP.fullmatch(frame.created_at) is None:
            self.problem("record", where, f"created_at {frame.created_at!r} is not a timestamp")
            return
        self.counts["frames"] += 1
        node = self.frame_line_node(where, "frame", frame.node_id)
        if node is None:
            return
        if frame.frame_id <= node.last_frame:
            self.problem("order", where, f"frame {frame.frame_id} is not after {node.last_frame}")
            return
        node.last_frame = frame.frame_id
        node.frames.append((frame.frame_id, frame.frame_type, put_seq))
        ok = True
        if not 1 <= frame.seq <= put_seq:
            self.problem(
                "frame", where, f"seq {frame.seq} and put_seq {put_seq}: need 1 <= seq <= put_seq"
            )
            ok = False
        if node.checked:
            self.checked_counts["frames"] += 1
            if frame.compute_id() != frame.frame_id:
                self.problem(
                    "frame_id", where, f"FrameID {frame.frame_id} does not match its fields"
                )
                ok = False
        size, checked = self.named.get(frame.content_hash, (frame.size, False))
        if size != frame.size:
            self.problem("content_hash", where, f"size {frame.size}, another frame says {size}")
            ok = False
        in_prefix = checked or self.scope.in_prefix(node.record.path)
        self.named[frame.content_hash] = (size, in_prefix)
        if ok and self.sink is not None:
            self.sink.frame(replace(frame, put_seq=put_seq))

    def close_frames(self, where: str) -> None:
        """The node's frames are over: a frame set must have come when it has any."""
        node = self.node
        if node is not None and node.frames and not node.frame_set:
            self.problem(
                "frame_set", where, f"node {node.record.path!r} has frames but no frame set"
            )

    def on_frame_set(self, where: str, value: dict[str, Any]) -> None:
        """The current node's frame-set root and count, over the FrameIDs just read."""
        node = self.frame_line_node(where, "frame_set", value["node_id"])
        self.counts["frame_sets"] += 1
        if node is None:
            return
        node.frame_set = True
        root, count = value["root"], value["count"]
        if type(root) is not str or type(count) is not int:
            self.problem("record", where, "a frame set's root is a string, its count an integer")
            return
        if not node.frames:
            self.problem("frame_set", where, "a frame set for a node without frames")
            return
        if node.checked:
            ids = [frame_id for frame_id, _, _ in node.frames]
            if count != len(ids) or root != root_of(ids):
                self.problem("frame_set", where, "root or count does not match the node's frames")
                return
        if self.sink is not None:
            self.sink.frame_set(node.record.node_id, root, count)

    def on_head(self, where: str, value: dict[str, Any]) -> None:
        """A head of the current node: its newest frame of that type."""
        node = self.frame_line_node(where, "head", value["node_id"])
        self.counts["heads"] += 1
        if node is None:
            return
        frame_type, frame_id = value["frame_type"], value["frame_id"]
        if type(frame_type) is not str or frame_type <= node.last_head:
            self.problem("order", where, f"head {frame_type!r} is not after {node.last_head!r}")
            return
        node.last_head = frame_type
        node.heads.add(frame_type)
        of_type = [(put_seq, fid) for fid, ftype, put_seq in node.frames if ftype == frame_type]
        if not of_type or frame_id not in {fid for _, fid in of_type}:
            self.problem("head", where, f"names {frame_id}, not a {frame_type!r} frame of the node")
            return
        newest = max(put_seq for put_seq, _ in of_type)
        if {fid: s for s, fid in of_type}[frame_id] != newest:
            self.problem("head", where, f"{frame_id} is not the {frame_type!r} frame put last")
            return
        if self.sink is not None:
            self.sink.head(node.record.node_id, frame_type, frame_id)

    def end_node(self) -> None:
        """The current node is over: it needs its frame set, and a head per frame type."""
        node = self.node
        if node is not None:
            where = f"node {node.record.path!r}"
            if node.section < _SECTION["frame_set"]:
                self.close_frames(where)
            # every put moves its (node, type) head, so each type with frames has one
            for frame_type in sorted({t for _, t, _ in node.frames} - node.heads):
                self.problem("head", where, f"no head for its {frame_type!r} frames")
        self.node = None

    # -- contents ----------------------------------------------------------

    def read_content(self, reader: TarReader, entry: Entry, digest: str) -> None:
        """One content entry, matched against the sorted hashes frames named, and hashed."""
        name = entry.name
        if digest <= self.last_content:
            what = "a second" if digest == self.last_content else "out of order:"
            self.problem("order", name, f"{what} {name}")
            return
        self.last_content = digest
        self.counts["contents"] += 1
        self.counts["content_bytes"] += entry.size
        expected = self.expected_contents or []
        while self.content_at < len(expected) and expected[self.content_at] < digest:
            self.missing_content(expected[self.content_at])
            self.content_at += 1
        if self.content_at >= len(expected) or expected[self.content_at] != digest:
            self.problem("unreachable", name, "a content no exported frame names")
            return
        self.content_at += 1
        size, in_prefix = self.named[digest]
        if entry.size != size:
            self.problem("content_hash", name, f"{entry.size} bytes, but its frames say {size}")
            return
        if not self.scope.content(digest, in_prefix):
            return
        self.checked_counts["contents"] += 1
        self.checked_counts["content_bytes"] += size
        hasher = content_hasher()

        def chunks() -> Iterator[bytes]:
            for chunk in reader.chunks():
                hasher.update(chunk)
                yield chunk
                self.tick()

        if self.sink is not None:
            stream = chunks()
            self.sink.content(ContentHash(digest), size, stream)
            for _ in stream:  # what the sink left unread
                pass
        else:
            for _ in chunks():
                pass
        if hasher.hexdigest() != digest:
            self.problem("content_hash", name, "its bytes do not hash to its name")

    def missing_content(self, digest: str) -> None:
        """Report a content that a frame names but the archive lacks."""
        self.problem(
            "missing", f"contents/{digest}", "a content a frame names is not in the archive"
        )

    def end_contents(self) -> None:
        """Every named content that never came is missing."""
        if self.expected_contents is None:
            return
        for digest in self.expected_contents[self.content_at :]:
            self.missing_content(digest)
        self.content_at = len(self.expected_contents)

    def compare_counts(self) -> None:
        """Every count and byte total the manifest declares, against what was read."""
        if self.manifest is None:
            return
        declared = self.manifest.counts.to_dict()
        for name, found in self.counts.items():
            if declared[name] != found:
                self.problem("count", MANIFEST, f"counts.{name} is {declared[name]}, found {found}")


_KINDS = {index: kind for kind, index in _SECTION.items()}
_PHASES = {MANIFEST: 0, SIGNATURE: 1, CHECKSUMS: 2}  # then records (3) and contents (4)


def _encoded(value: Any) -> bytes:
    """Canonical JSON of a value from a record line (parse_line has already refused floats)."""
    return canonical_json(value, checked=True)


def _valid_name(name: str) -> bool:
    """A path component as a scan or push produces it (docs/SCHEMAS.md §4)."""
    try:
        check_path(name)
    except InvalidPath:
        return False
    return "/" not in name and name != ""
