"""LMDB key encodings: ordered text sorts like the string and decodes back; long texts stay keys."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from treeframe.storage.lmdb.keys import MAX_TEXT, decode_text, is_hashed, text, u64, unpack_u64

TEXTS = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


@given(a=TEXTS, b=TEXTS)
def test_ordered_text_sorts_like_the_string(a: str, b: str) -> None:
    assert (text(a) < text(b)) == (a < b)
    assert (text(a) == text(b)) == (a == b)


@given(value=TEXTS, after=st.binary(max_size=12))
def test_ordered_text_decodes_back_and_ends_where_it_ends(value: str, after: bytes) -> None:
    encoded = text(value)
    assert decode_text(b"pfx" + encoded + after, 3) == (value, 3 + len(encoded))


def test_a_long_text_is_cut_hashed_and_still_unique() -> None:
    a, b = "x" * 1000 + "a", "x" * 1000 + "b"
    assert is_hashed(text(a))
    assert not is_hashed(text("x" * MAX_TEXT))
    assert text(a) != text(b)
    assert len(text(a)) < 480  # room for a prefix and a seq inside LMDB's 511-byte keys
    assert decode_text(text(a) + u64(7)) == (None, len(text(a)))


@given(st.integers(min_value=0, max_value=2**64 - 1), st.integers(min_value=0, max_value=2**64 - 1))
def test_integers_sort_by_value(a: int, b: int) -> None:
    assert (u64(a) < u64(b)) == (a < b)
    assert unpack_u64(u64(a)) == a
