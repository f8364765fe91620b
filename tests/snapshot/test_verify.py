"""verify_archive against archives built from docs/SCHEMAS.md §15: valid, hostile, tampered, partial."""

from __future__ import annotations

import gzip
import io
from typing import Any

import pytest
import zstandard

from tests.snapshot.archives import (
    Snapshot,
    archive,
    compress,
    entries,
    pack,
    sample,
    snapshot_of,
    tiny,
    unbound_offsets,
)
from tests.snapshot.hostile import EXPECTED, HOSTILE
from treeframe.frames.frame import Frame
from treeframe.ids import ContentHash, FrameId, NodeId
from treeframe.observability.progress import ProgressTracker
from treeframe.snapshot.format import MANIFEST
from treeframe.snapshot.verify import VerifyReport, verify_archive
from treeframe.tree.records import NodeRecord


def verify(data: bytes, **kwargs: Any) -> VerifyReport:
    return verify_archive(io.BytesIO(data), **kwargs)


def codes(report: VerifyReport) -> list[str]:
    return [problem.code for problem in report.problems]


@pytest.mark.parametrize("compression", ["none", "zstd", "gzip"])
def test_a_valid_archive_verifies(compression: str) -> None:
    data = archive(compression=compression)
    report = verify(data)
    assert report.problems == []
    assert report.ok
    assert report.signature == "unsigned"
    assert report.manifest is not None
    assert report.manifest.compression == compression
    snapshot = sample()
    kinds = [line["kind"] for line in snapshot.lines]
    assert report.checked == {
        "scope": "all",
        "complete": True,
        "nodes": kinds.count("node"),
        "frames": kinds.count("frame"),
        "contents": len(snapshot.contents),
        "content_bytes": sum(map(len, snapshot.contents.values())),
        "records_entries": 1,
        "record_bytes": report.manifest.counts.record_bytes,
        "bytes_read": len(data),
    }


@pytest.mark.parametrize("subtree", ["src", "src/lib", "src/lib/b.py", "README.md"])
def test_a_subtree_export_verifies_on_its_own(subtree: str) -> None:
    snapshot = sample(subtree=subtree)
    assert sum(line["kind"] == "ancestor" for line in snapshot.lines) == subtree.count("/") + 1
    report = verify(archive(snapshot))
    assert report.problems == []


def test_a_subtree_not_in_its_root_is_unreachable() -> None:
    snapshot = sample(subtree="src/lib")
    snapshot.node_id = sample(subtree="docs").node_id  # the manifest names another node
    report = verify(archive(snapshot))
    assert "unreachable" in codes(report)


def test_a_records_entry_split_follows_the_cut_rule() -> None:
    # ~15k nodes: more than 4 MiB of records, so two records entries.
    tree: dict[str, Any] = {
        f"d{i:03d}": {f"f{j:03d}": b"x" for j in range(150)} for i in range(100)
    }
    snapshot = snapshot_of(tree, {"d000/f000": [("summary", "agent-1", b"z")]})
    items = entries(snapshot)
    assert [name for name, _ in items if name.startswith("records/")] == [
        "records/00000001.jsonl",
        "records/00000002.jsonl",
    ]
    assert verify(pack(items)).problems == []
    # cutting the first entry one line early is a different (non-canonical) archive
    first, second = items[2][1], items[3][1]
    last_line = first[:-1].rpartition(b"\n")[2] + b"\n"
    moved = [
        *items[:2],
        (items[2][0], first[: -len(last_line)]),
        (items[3][0], last_line + second),
        *items[4:],
    ]
    report = verify(pack(moved))
    assert "record" in codes(report)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_archive_is_reported_never_raised(name: str) -> None:
    report = verify(HOSTILE[name]())
    assert not report.ok
    assert EXPECTED[name] in codes(report), report.problems
    structural = [p for p in report.problems if p.code == "structure"]
    if structural:
        assert report.problems[-1] is structural[0]
        assert len(structural) == 1
        assert report.checked["complete"] is False


def test_independent_problems_are_all_reported() -> None:
    snapshot = sample()
    frame = next(line for line in snapshot.lines if line["kind"] == "frame")
    frame["record"]["agent_id"] = "agent-2"  # FrameID no longer matches
    node = [line for line in snapshot.lines if line["kind"] == "node"][2]
    node["record"] = {**node["record"], "path": node["record"]["path"] + "x"}  # off the walk
    items = entries(snapshot, edit_manifest=lambda m: m["counts"].update(heads=99))
    name, data = items[-1]
    items[-1] = (name, data + b"!")  # a content with the wrong bytes (and size)
    report = verify(pack(items))
    found = set(codes(report))
    assert {"frame_id", "unreachable", "count", "content_hash"} <= found, report.problems


def test_every_single_byte_change_is_detected() -> None:
    data = archive(tiny())
    assert verify(data).ok
    unbound = unbound_offsets(data)
    missed = []
    for offset in range(len(data)):
        changed = bytearray(data)
        changed[offset] ^= 0x01
        if verify(bytes(changed)).ok and offset not in unbound:
            missed.append(offset)
    assert missed == []


def _decompress(data: bytes, compression: str) -> bytes | None:
    try:
        if compression == "zstd":
            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
        return gzip.decompress(data)
    except Exception:
        return None


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_a_byte_change_of_a_compressed_archive_is_detected_or_harmless(compression: str) -> None:
    """Compressed encodings have slack (deflate's and zstd's unused bits and header hints):
    a change there decodes to the very same tar stream, which is all an archive says."""
    snapshot = tiny()
    tar = pack(entries(snapshot, compression=compression))
    data = compress(tar, compression)
    unbound = unbound_offsets(tar)
    for offset in range(len(data)):
        changed = bytearray(data)
        changed[offset] ^= 0x01
        if not verify(bytes(changed)).ok:
            continue
        decoded = _decompress(bytes(changed), compression)
        assert decoded is not None, offset
        assert len(decoded) == len(tar), offset
        differs = {i for i in range(len(tar)) if decoded[i] != tar[i]}
        assert differs <= unbound, (offset, differs)


@pytest.mark.parametrize("percent", [0, 50, 100])
def test_a_sample_checks_a_deterministic_part(percent: float) -> None:
    data = archive()
    first = verify(data, sample_percent=percent)
    second = verify(data, sample_percent=percent)
    assert first.ok
    assert first.checked == second.checked
    assert first.checked["scope"] == "sample"
    assert first.checked["percent"] == percent
    everything = verify(data).checked
    if percent == 100:
        for key in ("nodes", "frames", "contents"):
            assert first.checked[key] == everything[key]
    if percent == 0:
        assert first.checked["nodes"] == 0
        assert first.checked["contents"] == 0


def test_a_sample_finds_damage_in_what_it_checks() -> None:
    snapshot = sample()
    for line in snapshot.lines:
        if line["kind"] == "frame":
            line["record"]["agent_id"] = "agent-9"  # every FrameID wrong
    data = archive(snapshot)
    assert "frame_id" in codes(verify(data, sample_percent=100))
    assert "frame_id" not in codes(verify(data, sample_percent=0))


def test_a_path_check_covers_the_prefix_and_its_ancestors_only() -> None:
    bad = sample()
    for line in bad.lines:
        if line["kind"] == "node" and line["record"]["path"] == "docs/guide.md":
            line["record"] = {**line["record"], "content_hash": "0" * 64}  # NodeID now wrong
    data = archive(bad)
    assert "node_id" in codes(verify(data))
    src = verify(data, path="src")
    assert src.ok, src.problems
    assert src.checked["scope"] == "path"
    assert src.checked["prefix"] == "src"
    assert src.checked["nodes"] == 4  # src, src/a.py, src/lib, src/lib/b.py
    assert src.checked["frames"] == 2
    assert src.checked["contents"] == 2
    assert "node_id" in codes(verify(data, path="docs/"))


def test_a_path_check_still_proves_the_chain_to_the_root() -> None:
    snapshot = sample()
    root = next(line for line in snapshot.lines if line["kind"] == "node")
    root["record"] = {**root["record"], "node_id": "0" * 64}
    report = verify(archive(snapshot), path="src")
    assert "unreachable" in codes(report) or "node_id" in codes(report)


def test_a_duration_limit_reports_an_incomplete_check() -> None:
    report = verify(archive(), max_duration=0)
    assert report.ok
    assert report.checked["complete"] is False
    assert report.checked["nodes"] == 0


def test_the_manifest_comes_first() -> None:
    items = entries(sample())
    report = verify(pack(items[1:]))
    assert ("missing", MANIFEST) in {(p.code, p.where) for p in report.problems} or (
        "order" in codes(report)
    )


def test_progress_reports_bytes_read_against_the_total() -> None:
    data = archive()
    seen: list[tuple[str, int, int | None]] = []
    verify(data, progress=lambda *call: seen.append(call), total_bytes=len(data))
    assert seen
    assert {phase for phase, _, _ in seen} == {"verify_bytes"}
    assert seen[-1] == ("verify_bytes", len(data), len(data))
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


def test_progress_without_a_total_ends_with_the_bytes_read_as_total() -> None:
    data = archive()
    tracker = ProgressTracker()
    verify(data, progress=tracker, phase="import_bytes")
    (last,) = tracker.phases()
    assert (last.phase, last.done, last.total) == ("import_bytes", len(data), len(data))


class RecordingSink:
    """An ArchiveSink that keeps what it is given, in order."""

    def __init__(self, *, read: bool = True) -> None:
        self.items: list[tuple[str, Any]] = []
        self.read = read

    def agent(self, record: dict[str, Any]) -> None:
        self.items.append(("agent", record["agent_id"]))

    def node(self, record: NodeRecord, *, ancestor: bool) -> None:
        self.items.append(("ancestor" if ancestor else "node", record.path))

    def frame(self, frame: Frame) -> None:
        self.items.append(("frame", (frame.frame_id, frame.put_seq)))

    def frame_set(self, node_id: NodeId, root: str, count: int) -> None:
        self.items.append(("frame_set", count))

    def head(self, node_id: NodeId, frame_type: str, frame_id: FrameId) -> None:
        self.items.append(("head", frame_type))

    def content(self, digest: ContentHash, size: int, chunks: Any) -> None:
        data = b"".join(chunks) if self.read else b""
        self.items.append(("content", (digest, size, len(data))))


def _expected_items(snapshot: Snapshot) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for line in snapshot.lines:
        kind = line["kind"]
        if kind == "agent":
            out.append(("agent", line["record"]["agent_id"]))
        elif kind in ("ancestor", "node"):
            out.append((kind, line["record"]["path"]))
        elif kind == "frame":
            out.append(("frame", (line["record"]["frame_id"], line["put_seq"])))
        elif kind == "frame_set":
            out.append(("frame_set", line["count"]))
        else:
            out.append(("head", line["frame_type"]))
    for digest in sorted(snapshot.contents):
        size = len(snapshot.contents[digest])
        out.append(("content", (digest, size, size)))
    return out


@pytest.mark.parametrize("subtree", ["", "src"])
def test_a_sink_gets_every_item_once_in_archive_order(subtree: str) -> None:
    snapshot = sample(subtree=subtree)
    sink = RecordingSink()
    report = verify_archive(io.BytesIO(archive(snapshot)), sink=sink)
    assert report.ok
    assert sink.items == _expected_items(snapshot)


def test_a_sink_that_leaves_content_unread_still_gets_it_checked() -> None:
    items = entries(sample())
    name, data = items[-1]
    items[-1] = (name, bytes([data[0] ^ 1]) + data[1:])
    sink = RecordingSink(read=False)
    report = verify_archive(io.BytesIO(pack(items)), sink=sink)
    assert codes(report) == ["content_hash"]


def test_a_sink_is_refused_with_a_partial_check() -> None:
    with pytest.raises(ValueError, match="whole archive"):
        verify_archive(io.BytesIO(archive()), sink=RecordingSink(), path="src")


def test_the_report_as_json() -> None:
    report = verify(HOSTILE["wrong_count"]())
    payload = report.to_dict()
    assert payload["ok"] is False
    assert payload["problems"] == [
        {"code": "count", "detail": "counts.nodes is 11, found 10", "where": MANIFEST}
    ]
    assert payload["signature"] == {"signer": None, "state": "unsigned"}
    assert payload["manifest"]["format"] == "treeframe-snapshot"
    assert payload["checked"]["scope"] == "all"


def test_problems_past_the_cap_are_counted_not_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    import treeframe.snapshot.verify as module

    data = HOSTILE["missing_content"]()
    everything = verify(data).problems
    assert len(everything) == 3
    monkeypatch.setattr(module, "MAX_PROBLEMS", 1)
    capped = verify(data).problems
    assert capped[0] == everything[0]
    assert [(p.code, p.detail) for p in capped[1:]] == [
        ("limit", "2 more problems were found and not listed")
    ]


def test_the_ratio_cap_stops_a_gzip_stream() -> None:
    # deflate cannot pass ~1032:1, so the default cap meets a gzip bomb at its absolute
    # limit (hostile.gzip_bomb_absolute); a tighter ratio shows the ratio cap works on it too.
    from tests.snapshot.hostile import gzip_ratio_source

    report = verify(gzip_ratio_source(), max_ratio=100)
    assert codes(report)[-1] == "structure"
    assert "expands more than 100:1" in report.problems[-1].detail
