"""Hostile archives: every way the issue lists (and more) to attack an archive reader.

``HOSTILE`` maps a name to a function building the archive's bytes (cached:
some are large); ``EXPECTED`` holds the problem code the verifier reports for
each. The importer's tests reuse both to prove nothing is ever written.
Each archive is otherwise valid where it can be (its checksums and manifest
recomputed around the damage), so the attack itself is what is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import cache
from typing import Any

import blake3
import zstandard

from tests.snapshot.archives import (
    Snapshot,
    archive,
    entries,
    pack,
    raw_header,
    sample,
)
from treeframe.hashing.canonical_json import canonical_json
from treeframe.snapshot.format import MANIFEST, MAX_LINE, MAX_MANIFEST, MAX_SIGNATURE, SIGNATURE
from treeframe.snapshot.tar import END, entry_header, padding

__all__ = ["EXPECTED", "HOSTILE", "gzip_ratio_source"]

HOSTILE: dict[str, Callable[[], bytes]] = {}
EXPECTED: dict[str, str] = {}


def hostile(code: str) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    """Register an archive builder under its function name, expecting problem ``code``."""

    def register(build: Callable[[], bytes]) -> Callable[[], bytes]:
        cached = cache(build)
        HOSTILE[build.__name__] = cached
        EXPECTED[build.__name__] = code
        return cached

    return register


def _items() -> list[tuple[str, bytes]]:
    return entries(sample())


def _with_entry(header: bytes, data: bytes, at: int = 3) -> bytes:
    """The sample archive with a raw entry inserted at position ``at``."""
    items: list[Any] = list(_items())
    items.insert(at, (header, data))
    return pack(items)


def _edited(edit: Callable[[Snapshot], None]) -> bytes:
    """The sample archive with ``edit`` applied to its lines or contents (checksums recomputed)."""
    snapshot = sample()
    edit(snapshot)
    return archive(snapshot)


def _line(snapshot: Snapshot, kind: str, index: int = 0) -> dict[str, Any]:
    return [line for line in snapshot.lines if line["kind"] == kind][index]


# -- names and entry types (§15.1) ----------------------------------------


@hostile("structure")
def traversal_dotdot() -> bytes:
    return _with_entry(raw_header(b"../x", 3), b"bad")


@hostile("structure")
def traversal_records() -> bytes:
    return _with_entry(raw_header(b"records/../../x", 3), b"bad")


@hostile("structure")
def absolute_name() -> bytes:
    return _with_entry(raw_header(b"/etc/passwd", 3), b"bad")


@hostile("structure")
def symlink_entry() -> bytes:
    return _with_entry(
        raw_header(b"contents/" + b"0" * 64, 0, typeflag=b"2", linkname=b"/etc/passwd"), b""
    )


@hostile("structure")
def hardlink_entry() -> bytes:
    return _with_entry(
        raw_header(b"contents/" + b"0" * 64, 0, typeflag=b"1", linkname=b"manifest.json"), b""
    )


@hostile("structure")
def char_device_entry() -> bytes:
    return _with_entry(raw_header(b"contents/" + b"0" * 64, 0, typeflag=b"3"), b"")


@hostile("structure")
def block_device_entry() -> bytes:
    return _with_entry(raw_header(b"contents/" + b"0" * 64, 0, typeflag=b"4"), b"")


@hostile("structure")
def directory_entry() -> bytes:
    return _with_entry(raw_header(b"records/", 0, typeflag=b"5"), b"")


@hostile("structure")
def fifo_entry() -> bytes:
    return _with_entry(raw_header(b"contents/" + b"0" * 64, 0, typeflag=b"6"), b"")


@hostile("structure")
def pax_header() -> bytes:
    data = b"30 path=../../../../etc/passwd\n"
    return _with_entry(raw_header(b"PaxHeader/x", len(data), typeflag=b"x"), data)


@hostile("structure")
def gnu_longname() -> bytes:
    data = b"../" * 60 + b"\x00"
    return _with_entry(raw_header(b"././@LongLink", len(data), typeflag=b"L"), data)


@hostile("structure")
def executable_mode() -> bytes:
    return _with_entry(raw_header(b"contents/" + b"0" * 64, 0, mode=b"0004755\x00"), b"")


@hostile("structure")
def old_gnu_magic() -> bytes:
    return _with_entry(raw_header(b"contents/" + b"0" * 64, 0, magic=b"ustar "), b"")


# -- duplicates, extras, order (§15.2) ---------------------------------


@hostile("order")
def duplicate_manifest() -> bytes:
    items = _items()
    return pack([items[0], *items])


@hostile("order")
def duplicate_content() -> bytes:
    items = _items()
    return pack([*items, items[-1]])


@hostile("order")
def duplicate_records() -> bytes:
    items = _items()
    return pack([*items[:3], items[2], *items[3:]])


@hostile("checksum")
def records_not_in_checksums() -> bytes:
    items = _items()
    extra = ("records/00000002.jsonl", items[2][1])
    return pack([*items[:3], extra, *items[3:]])


@hostile("unreachable")
def content_not_in_manifest() -> bytes:
    return _edited(lambda s: s.contents.update({"f" * 64: b"smuggled"}))


@hostile("order")
def reordered_contents() -> bytes:
    items = _items()
    return pack([*items[:-2], items[-1], items[-2]])


@hostile("order")
def checksums_before_manifest() -> bytes:
    items = _items()
    return pack([items[1], items[0], *items[2:]])


@hostile("missing")
def missing_content() -> bytes:
    return pack(_items()[:-1])


@hostile("content_hash")
def wrong_content_bytes() -> bytes:
    items = _items()
    name, data = items[-1]
    return pack([*items[:-1], (name, bytes([data[0] ^ 1]) + data[1:])])


@hostile("unreachable")
def extra_node() -> bytes:
    def edit(snapshot: Snapshot) -> None:
        snapshot.lines.append(dict(_line(snapshot, "node", 1)))

    return _edited(edit)


@hostile("missing")
def missing_node() -> bytes:
    def edit(snapshot: Snapshot) -> None:
        last = [i for i, line in enumerate(snapshot.lines) if line["kind"] == "node"][-1]
        del snapshot.lines[last:]

    return _edited(edit)


# -- decompression bombs and streams (§15.1) ---------------------------


def _bomb(compression: str, declared: int, size: int) -> bytes:
    """A valid prefix, then a content entry of ``size`` zero bytes; the manifest declares ``declared``."""
    snapshot = sample()

    def declare(manifest: dict[str, Any]) -> None:
        manifest["counts"]["content_bytes"] = declared

    items = entries(snapshot, compression=compression, edit_manifest=declare)
    head = pack(items[:3], end=b"") + entry_header("contents/" + "f" * 64, size)
    chunk = bytes(1 << 20)
    if compression == "zstd":
        writer = zstandard.ZstdCompressor(level=3, write_checksum=False, write_content_size=False)
        obj = writer.compressobj()
        parts = [obj.compress(head)]
        for _ in range(size >> 20):
            parts.append(obj.compress(chunk))
        parts.append(obj.compress(bytes(padding(size)) + END))
        parts.append(obj.flush())
        return b"".join(parts)
    deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [deflate.compress(head)]
    for _ in range(size >> 20):
        parts.append(deflate.compress(chunk))
    parts.append(deflate.compress(bytes(padding(size)) + END))
    parts.append(deflate.flush())
    return b"".join(parts)


@hostile("structure")
def zstd_bomb_ratio() -> bytes:
    # 200 MiB of zeros in a few kB: past the 64 MiB grace, far over 1000:1.
    return _bomb("zstd", 1 << 39, 200 << 20)


@hostile("structure")
def zstd_bomb_absolute() -> bytes:
    # Within the ratio grace, but far past what the manifest declares.
    return _bomb("zstd", 10, 32 << 20)


@hostile("structure")
def gzip_bomb_absolute() -> bytes:
    return _bomb("gzip", 10, 32 << 20)


@cache
def gzip_ratio_source() -> bytes:
    """Not in HOSTILE: 100 MiB of zeros the manifest declares, for a tightened ratio cap."""
    return _bomb("gzip", 1 << 39, 100 << 20)


@hostile("structure")
def truncated_tar() -> bytes:
    data = archive()
    return data[: len(data) // 2]


@hostile("structure")
def truncated_end_marker() -> bytes:
    return archive()[:-512]


@hostile("structure")
def truncated_zstd() -> bytes:
    data = archive(compression="zstd")
    return data[: len(data) - 10]


@hostile("structure")
def truncated_gzip() -> bytes:
    data = archive(compression="gzip")
    return data[: len(data) - 10]


@hostile("structure")
def trailing_after_tar() -> bytes:
    return archive() + b"garbage"


@hostile("structure")
def record_padding_after_tar() -> bytes:
    # GNU tar pads to 10,240-byte records; a canonical archive never does.
    data = archive()
    return data + bytes(-len(data) % 10240 or 10240)


@hostile("structure")
def trailing_after_zstd() -> bytes:
    return archive(compression="zstd") + b"\x00"


@hostile("structure")
def trailing_after_gzip() -> bytes:
    return archive(compression="gzip") + archive(compression="gzip")


@hostile("structure")
def nonzero_padding() -> bytes:
    items = _items()
    data = items[-1][1]
    tar = pack(items)
    at = len(tar) - 1024 - padding(len(data))
    return tar[:at] + b"\x01" + tar[at + 1 :]


# -- limits --------------------------------------------------------------


@hostile("limit")
def oversized_manifest() -> bytes:
    items = _items()
    return pack([(MANIFEST, b" " * (MAX_MANIFEST + 1)), *items[1:]])


@hostile("limit")
def oversized_signature() -> bytes:
    items = _items()
    return pack([items[0], (SIGNATURE, b"{" * (MAX_SIGNATURE + 1)), *items[1:]])


@hostile("limit")
def oversized_record_line() -> bytes:
    def edit(snapshot: Snapshot) -> None:
        record = _line(snapshot, "frame")["record"]
        record["metadata"] = {"pad": "x" * MAX_LINE}

    return _edited(edit)


# -- manifest (§15.3) -----------------------------------------------------


def _manifest_edited(edit: Callable[[dict[str, Any]], None]) -> bytes:
    return pack(entries(sample(), edit_manifest=edit))


@hostile("manifest")
def wrong_format() -> bytes:
    return _manifest_edited(lambda m: m.update(format="tar"))


@hostile("manifest")
def wrong_format_version() -> bytes:
    return _manifest_edited(lambda m: m.update(format_version=2))


@hostile("manifest")
def unknown_manifest_field() -> bytes:
    return _manifest_edited(lambda m: m.update(extra=1))


@hostile("manifest")
def non_canonical_manifest() -> bytes:
    items = _items()
    manifest = items[0][1].replace(b'","', b'", "', 1)
    return pack([(MANIFEST, manifest), *items[1:]])


@hostile("manifest")
def wrong_compression_declared() -> bytes:
    return _manifest_edited(lambda m: m.update(compression="zstd"))


@hostile("count")
def wrong_count() -> bytes:
    return _manifest_edited(lambda m: m["counts"].update(nodes=m["counts"]["nodes"] + 1))


@hostile("checksum")
def wrong_checksums_digest() -> bytes:
    return _manifest_edited(lambda m: m["checksums"].update(blake3="0" * 64))


@hostile("checksum")
def tampered_records_entry() -> bytes:
    items = _items()
    name, data = items[2]
    return pack([*items[:2], (name, data.replace(b"agent-1", b"agent-9", 1)), *items[3:]])


# -- records (§15.4) -------------------------------------------------------


def _records_rewritten(transform: Callable[[bytes], bytes]) -> bytes:
    """The sample archive with its records entry's bytes transformed, the checksum chain recomputed."""
    items = _items()
    name, data = items[2]
    records = transform(data)
    checksums = b"%s  %s\n" % (blake3.blake3(records).hexdigest().encode(), name.encode())

    def fix(manifest: dict[str, Any]) -> None:
        digest = blake3.blake3(checksums).hexdigest()
        manifest["checksums"].update(blake3=digest, size=len(checksums))
        manifest["counts"]["record_bytes"] = len(records)

    manifest = entries(sample(), edit_manifest=fix)[0]
    return pack([manifest, (items[1][0], checksums), (name, records), *items[3:]])


@hostile("record")
def non_canonical_record() -> bytes:
    return _records_rewritten(lambda data: data.replace(b'":', b'": ', 1))


@hostile("head")
def missing_head() -> bytes:
    def edit(snapshot: Snapshot) -> None:
        snapshot.lines.remove(next(line for line in snapshot.lines if line["kind"] == "head"))

    return _edited(edit)


@hostile("record")
def float_in_record() -> bytes:
    return _records_rewritten(lambda data: data.replace(b'"size":6', b'"size":6.0', 1))


@hostile("record")
def unknown_line_kind() -> bytes:
    return _records_rewritten(lambda data: data + b'{"kind":"shell","record":"rm -rf /"}\n')


@hostile("node_id")
def tampered_node_id() -> bytes:
    def edit(snapshot: Snapshot) -> None:
        record = _line(snapshot, "node", 1)["record"]  # README.md, a file
        record["executable"] = not record["executable"]

    return _edited(edit)


@hostile("frame_id")
def tampered_frame_id() -> bytes:
    def edit(snapshot: Snapshot) -> None:
        _line(snapshot, "frame")["record"]["agent_id"] = "agent-2"

    return _edited(edit)


@hostile("unreachable")
def tampered_child_id() -> bytes:
    def edit(snapshot: Snapshot) -> None:
        line = _line(snapshot, "node", 1)
        line["record"] = {**line["record"], "node_id": "0" * 64}

    return _edited(edit)


@hostile("frame_set")
def wrong_frame_set_root() -> bytes:
    return _edited(lambda s: _line(s, "frame_set").update(root="0" * 64))


@hostile("head")
def head_not_newest() -> bytes:
    def edit(snapshot: Snapshot) -> None:
        for line in snapshot.lines:
            if line["kind"] == "node" and line["record"]["path"] == "README.md":
                node_id = line["record"]["node_id"]
        frames = [
            line["record"]
            for line in snapshot.lines
            if line["kind"] == "frame"
            and line["record"]["node_id"] == node_id
            and line["record"]["frame_type"] == "summary"
        ]
        for line in snapshot.lines:
            if (
                line["kind"] == "head"
                and line["node_id"] == node_id
                and line["frame_type"] == "summary"
            ):
                other = next(f for f in frames if f["frame_id"] != line["frame_id"])
                line["frame_id"] = other["frame_id"]

    return _edited(edit)


@hostile("order")
def agents_out_of_order() -> bytes:
    def edit(snapshot: Snapshot) -> None:
        snapshot.lines[0], snapshot.lines[1] = snapshot.lines[1], snapshot.lines[0]

    return _edited(edit)


@hostile("signature")
def garbage_signature() -> bytes:
    items = _items()
    sig = (
        canonical_json({"algorithm": "ed25519", "public_key": "ab" * 32, "signature": "cd" * 64})
        + b"\n"
    )
    return pack([items[0], (SIGNATURE, sig), *items[1:]])
