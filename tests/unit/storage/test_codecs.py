"""Every compression codec: round trips, streams, and damaged input as a StorageError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treeframe.errors import BackendUnavailable, ConfigError, StorageError, StoreCorrupt
from treeframe.storage import codecs as codecs_module
from treeframe.storage.codecs import CODEC_NAMES, codec

PACKING = [name for name in CODEC_NAMES if name != "none"]
TEXT = b"".join(b"line %d of some source text, repeated a little\n" % (i % 97) for i in range(4000))


@pytest.mark.parametrize("name", CODEC_NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=4096), cut=st.integers(min_value=1, max_value=512))
def test_round_trip_whole_and_streamed(name: str, data: bytes, cut: int) -> None:
    packer = codec(name)
    assert packer.decompress(packer.compress(data)) == data
    chunks = [data[i : i + cut] for i in range(0, len(data), cut)]
    streamed = b"".join(packer.compress_stream(chunks))
    assert packer.decompress(streamed) == data
    pieces = [streamed[i : i + cut] for i in range(0, len(streamed), cut)]
    assert b"".join(packer.decompress_stream(pieces)) == data


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_empty_input(name: str) -> None:
    packer = codec(name)
    assert packer.decompress(packer.compress(b"")) == b""
    assert b"".join(packer.decompress_stream(packer.compress_stream([]))) == b""


@pytest.mark.parametrize("name", PACKING)
def test_packs_text_smaller_and_records_its_name(name: str) -> None:
    packer = codec(name)
    assert packer.name == name
    assert len(packer.compress(TEXT)) < len(TEXT) // 2


@pytest.mark.parametrize("name", ["zstd", "gzip", "lz4"])
def test_a_flipped_byte_is_store_corrupt(name: str) -> None:
    packed = bytearray(codec(name).compress(TEXT))
    packed[len(packed) // 2] ^= 0xFF
    with pytest.raises(StoreCorrupt, match=name):
        codec(name).decompress(bytes(packed))


@pytest.mark.parametrize("name", PACKING)
@pytest.mark.parametrize("garbage", [b"not compressed at all" * 10, b"\x00" * 64, b"\xff" * 3])
def test_garbage_is_store_corrupt(name: str, garbage: bytes) -> None:
    with pytest.raises(StoreCorrupt, match=name):
        codec(name).decompress(garbage)
    with pytest.raises(StorageError):
        b"".join(codec(name).decompress_stream([garbage[:2], garbage[2:]]))


@pytest.mark.parametrize("name", PACKING)
@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_truncated_input_is_store_corrupt(name: str, keep: float) -> None:
    packed = codec(name).compress(TEXT)
    cut = packed[: int(len(packed) * keep)]
    assert len(cut) < len(packed)
    with pytest.raises(StoreCorrupt, match="corrupt or truncated"):
        codec(name).decompress(cut)
    with pytest.raises(StoreCorrupt):
        b"".join(codec(name).decompress_stream([cut]))


@pytest.mark.parametrize("name", PACKING)
def test_trailing_bytes_are_store_corrupt(name: str) -> None:
    packed = codec(name).compress(TEXT)
    with pytest.raises(StoreCorrupt):
        codec(name).decompress(packed + packed)


def test_unknown_name_is_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown compression 'xz'"):
        codec("xz")


def test_a_missing_library_fails_that_codec_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    codec.cache_clear()
    monkeypatch.setitem(sys.modules, "treeframe.storage.codecs.brotli", None)
    try:
        with pytest.raises(BackendUnavailable, match="'brotli' package"):
            codecs_module.codec("brotli")
        assert codec("zstd").name == "zstd"
    finally:
        codec.cache_clear()
