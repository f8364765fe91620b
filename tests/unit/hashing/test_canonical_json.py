"""Canonical JSON: sorted keys, no whitespace, UTF-8, integers only."""

from __future__ import annotations

import json
import math

import pytest

from treeframe.hashing.canonical_json import canonical_json, loads


def test_keys_are_sorted_at_every_level():
    value = {"b": 1, "a": {"z": 0, "y": [{"d": 1, "c": 2}]}}
    assert canonical_json(value) == b'{"a":{"y":[{"c":2,"d":1}],"z":0},"b":1}'


def test_keys_sort_by_code_point_not_utf16():
    value = {"\U0001f600": 1, "\uff21": 2, "a": 3, "B": 4}
    expected = '{"B":4,"a":3,"\uff21":2,"\U0001f600":1}'.encode()
    assert canonical_json(value) == expected


def test_no_insignificant_whitespace():
    encoded = canonical_json({"a": [1, 2, {"b": None}], "c": "x y"})
    assert encoded == b'{"a":[1,2,{"b":null}],"c":"x y"}'


def test_non_ascii_is_kept_as_utf8():
    assert canonical_json({"k": "caf\u00e9 \u2603"}) == '{"k":"caf\u00e9 \u2603"}'.encode()
    assert b"\\u" not in canonical_json("\u00e9\U0001f600")


def test_control_characters_are_escaped():
    assert canonical_json('\n\t\x01"\\') == b'"\\n\\t\\u0001\\"\\\\"'


def test_tuples_encode_as_arrays():
    assert canonical_json({"a": (1, 2)}) == b'{"a":[1,2]}'


@pytest.mark.parametrize(
    "value",
    [1.5, 1.0, {"a": 0.1}, [1, 2.0], {"a": {"b": [math.nan]}}, math.inf],
    ids=["float", "integral-float", "nested", "in-list", "nan", "inf"],
)
def test_floats_are_rejected(value):
    with pytest.raises(ValueError, match="float"):
        canonical_json(value)


@pytest.mark.parametrize("key", [1, None, True, (1, 2)], ids=["int", "none", "bool", "tuple"])
def test_non_string_keys_are_rejected(key):
    with pytest.raises(ValueError, match="keys"):
        canonical_json({key: 1})


def test_booleans_and_big_integers_are_allowed():
    assert (
        canonical_json([True, False, None, 2**64, -3])
        == b"[true,false,null,18446744073709551616,-3]"
    )


def test_lone_surrogate_is_rejected():
    with pytest.raises(UnicodeEncodeError):
        canonical_json("\udc80")


def test_loads_round_trips_and_accepts_non_canonical_input():
    value = {"b": [1, "\u00e9"], "a": None}
    assert loads(canonical_json(value)) == value
    assert loads(b'{ "a" : 1 }') == {"a": 1}
    assert loads('{"a":1}') == {"a": 1}


def test_loads_rejects_garbage():
    with pytest.raises(json.JSONDecodeError):
        loads(b"{not json")
