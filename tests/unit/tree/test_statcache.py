from __future__ import annotations

import pytest

from treeframe.tree.statcache import (
    RACY_MARGIN_NS,
    StatEntry,
    decode_stat_dir,
    encode_stat_dir,
    is_racy,
)


def _entry(n: int) -> StatEntry:
    return (n * 10, 1_700_000_000_000_000_000 + n, -5 + n, 1000 + n, 42, 0o100644, bytes([n]) * 32)


def test_roundtrip_keeps_every_field():
    entries = [("b.txt", _entry(2)), ("a.txt", _entry(1)), ("é-名前", _entry(3))]
    blob = encode_stat_dir(123_456, b"\x07" * 32, entries)
    decoded = decode_stat_dir(blob)
    assert decoded is not None
    assert decoded.written_ns == 123_456
    assert decoded.dir_id == b"\x07" * 32
    assert decoded.entries == dict(entries)


def test_roundtrip_of_empty_directory_without_dir_id():
    decoded = decode_stat_dir(encode_stat_dir(5, None, []))
    assert decoded is not None
    assert decoded.entries == {}
    assert decoded.dir_id is None


def test_roundtrip_keeps_subdirectories_and_symlinks():
    dirs = [("src", "ab" * 32), ("docs", "cd" * 32)]
    links = [("link", "ef" * 32)]
    blob = encode_stat_dir(9, b"\x01" * 32, [("a", _entry(1))], dirs, links, b"\x05" * 32)
    decoded = decode_stat_dir(blob)
    assert decoded is not None
    assert decoded.rules == b"\x05" * 32
    assert decoded.entries == {"a": _entry(1)}
    assert decoded.dirs == dict(dirs)
    assert decoded.links == dict(links)


def test_version_1_blob_still_decodes_without_subdirectories():
    # Version 1: the same header and entries, nothing after them.
    v2 = encode_stat_dir(7, b"\x02" * 32, [("a", _entry(1))])
    v1 = v2[:4] + b"\x01" + v2[5:-48]  # drop two empty sections (8 bytes each), the rules
    decoded = decode_stat_dir(v1)
    assert decoded is not None
    assert decoded.entries == {"a": _entry(1)}
    assert decoded.dir_id == b"\x02" * 32
    assert decoded.dirs is None
    assert decoded.links is None
    assert decoded.rules is None


def test_encoding_is_independent_of_entry_order():
    entries = [("x", _entry(1)), ("y", _entry(2))]
    assert encode_stat_dir(1, None, entries) == encode_stat_dir(1, None, entries[::-1])


@pytest.mark.parametrize(
    "blob",
    [
        None,
        b"",
        b"TFSC",
        b"XXXX" + encode_stat_dir(1, None, [("a", _entry(1))])[4:],
        encode_stat_dir(1, None, [("a", _entry(1))])[:-1],
        encode_stat_dir(1, None, [("a", _entry(1))]) + b"\x00",
        encode_stat_dir(1, None, [("a", _entry(1))])[:4]
        + b"\x03"
        + encode_stat_dir(1, None, [("a", _entry(1))])[5:],
        encode_stat_dir(1, None, [("a", _entry(1))], [("d", "ab" * 32)])[:-1],
    ],
    ids=[
        "none",
        "empty",
        "short",
        "bad-magic",
        "truncated",
        "trailing",
        "future-version",
        "truncated-dirs",
    ],
)
def test_malformed_blob_decodes_as_absent(blob):
    assert decode_stat_dir(blob) is None


def test_racy_only_when_mtime_is_near_or_after_write_time():
    written = 10 * RACY_MARGIN_NS
    assert not is_racy(written - RACY_MARGIN_NS - 1, written)
    assert is_racy(written - RACY_MARGIN_NS, written)
    assert is_racy(written, written)
    assert is_racy(written + 1, written)
