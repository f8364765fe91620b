"""The byte-encoding primitives every hashed structure is built from."""

from __future__ import annotations

import struct

import pytest

from treeframe.hashing.encoding import blob, count, tagged, text, u8, u32, u64


@pytest.mark.parametrize(("n", "expected"), [(0, b"\x00"), (1, b"\x01"), (255, b"\xff")])
def test_u8_is_one_byte(n, expected):
    assert u8(n) == expected


@pytest.mark.parametrize("n", [-1, 256])
def test_u8_out_of_range_raises(n):
    with pytest.raises(ValueError, match="range"):
        u8(n)


def test_u32_is_big_endian():
    assert u32(0) == b"\x00\x00\x00\x00"
    assert u32(1) == b"\x00\x00\x00\x01"
    assert u32(0x01020304) == b"\x01\x02\x03\x04"
    assert u32(2**32 - 1) == b"\xff\xff\xff\xff"


@pytest.mark.parametrize("n", [-1, 2**32])
def test_u32_out_of_range_raises(n):
    with pytest.raises(struct.error):
        u32(n)


def test_u64_is_big_endian():
    assert u64(1) == b"\x00" * 7 + b"\x01"
    assert u64(0x0102030405060708) == bytes(range(1, 9))
    with pytest.raises(struct.error):
        u64(2**64)


def test_blob_prefixes_the_length():
    assert blob(b"") == b"\x00\x00\x00\x00"
    assert blob(b"abc") == b"\x00\x00\x00\x03abc"
    assert blob(b"\x00" * 300) == b"\x00\x00\x01\x2c" + b"\x00" * 300


def test_text_is_blob_of_utf8():
    assert text("") == blob(b"")
    assert text("caf\u00e9") == b"\x00\x00\x00\x05caf\xc3\xa9"


def test_text_does_not_normalize():
    assert text("cafe\u0301") != text("caf\u00e9")


def test_text_rejects_lone_surrogates():
    with pytest.raises(UnicodeEncodeError):
        text("\udcff")


def test_count_prefixes_number_of_items():
    assert count([]) == b"\x00\x00\x00\x00"
    assert count([text("a"), text("bc")]) == b"\x00\x00\x00\x02" + text("a") + text("bc")


def test_count_accepts_a_generator():
    assert count(blob(bytes([i])) for i in range(3)) == u32(3) + blob(b"\x00") + blob(
        b"\x01"
    ) + blob(b"\x02")


def test_tagged_puts_the_tag_first_as_a_blob():
    assert tagged(b"t:v1") == b"\x00\x00\x00\x04t:v1"
    assert tagged(b"t", u8(1), text("x")) == blob(b"t") + b"\x01" + text("x")


def test_length_prefixes_keep_field_boundaries():
    # Without prefixes ("ab", "c") and ("a", "bc") would encode the same.
    assert text("ab") + text("c") != text("a") + text("bc")
    assert count([text("a")]) + text("b") != count([text("a"), text("b")])
