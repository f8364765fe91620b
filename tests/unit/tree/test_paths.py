"""Workspace-relative path rules: strict UTF-8, NFC, ``/`` separators, root is ``""``."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from treeframe.errors import InvalidPath
from treeframe.tree.paths import (
    child_path,
    display_name,
    escape_bytes,
    has_unassigned,
    normalize_name,
    parent_path,
    relative_path,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a.txt", "a.txt"),
        (b"a.txt", "a.txt"),
        ("cafe\u0301", "caf\u00e9"),
        ("cafe\u0301".encode(), "caf\u00e9"),
        ("\u212b", "\u00c5"),
        ("\u1112\u1161\u11ab", "\ud55c"),
        ("caf\u00e9", "caf\u00e9"),
        ("README", "README"),
        ("...", "..."),
        (".hidden", ".hidden"),
        ("back\\slash", "back\\slash"),
        ("\U0001f600", "\U0001f600"),
    ],
    ids=[
        "ascii",
        "ascii-bytes",
        "nfd",
        "nfd-bytes",
        "angstrom-singleton",
        "hangul-jamo",
        "already-nfc",
        "case-kept",
        "three-dots",
        "dotfile",
        "backslash",
        "emoji",
    ],
)
def test_normalize_name(raw, expected):
    name = normalize_name(raw)
    assert name == expected
    assert unicodedata.is_normalized("NFC", name)


def test_normalize_is_not_nfkc():
    assert normalize_name("\uff21") == "\uff21"
    assert normalize_name("\ufb01") == "\ufb01"  # the "fi" ligature stays


@pytest.mark.parametrize(
    "raw",
    [b"\xff", b"caf\xe9", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", "bad\udcff"],
    ids=["ff", "latin1", "truncated", "encoded-surrogate", "overlong-slash", "surrogateescape-str"],
)
def test_non_utf8_name_raises_invalid_path(raw):
    with pytest.raises(InvalidPath, match="not valid UTF-8"):
        normalize_name(raw, where="dir")


def test_non_utf8_error_shows_escaped_bytes_and_location():
    with pytest.raises(InvalidPath) as info:
        normalize_name(b"caf\xe9", where="docs")
    assert "docs/caf\\xe9" in str(info.value)
    assert info.value.code == "invalid_path"


@pytest.mark.parametrize("raw", ["", ".", "..", "a/b", "/", "nul\x00", b"..", b"a/b"])
def test_forbidden_components_raise_invalid_path(raw):
    with pytest.raises(InvalidPath):
        normalize_name(raw)


def test_display_name_escapes_undecodable_bytes():
    assert display_name(b"caf\xe9") == "caf\\xe9"
    assert display_name("caf\u00e9") == "caf\u00e9"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"plain/a.txt", "plain/a.txt"),
        ("caf\u00e9".encode(), "caf\u00e9"),
        (b"caf\xe9", "caf\\xe9"),
        (b"\xed\xa0\x80", "\\xed\\xa0\\x80"),  # an encoded surrogate is not UTF-8
        (b"new\nline\ttab\x7f", "new\\x0aline\\x09tab\\x7f"),
        ("c1\u0085".encode(), "c1\\xc2\\x85"),  # a C1 control: its UTF-8 bytes
        (b"back\\slash", "back\\\\slash"),
        (b"looks\\xffescaped", "looks\\\\xffescaped"),
    ],
    ids=["ascii", "utf8", "latin1", "surrogate", "c0-controls", "c1-control", "backslash", "fake"],
)
def test_escape_bytes(raw, shown):
    assert escape_bytes(raw) == shown
    assert "\n" not in shown


def _unescape(text: str) -> bytes:
    out, i = bytearray(), 0
    while i < len(text):
        if text.startswith("\\\\", i):
            out += b"\\"
            i += 2
        elif text.startswith("\\x", i):
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            out += text[i].encode("utf-8")
            i += 1
    return bytes(out)


@pytest.mark.parametrize(
    "raw",
    [b"a\\xff", b"a\xff", b"\\\\", b"\\", b"\x00\x80\n", "\u00e9\u0301/\u65e5".encode(), b"\xc3"],
)
def test_escape_bytes_is_reversible(raw):
    assert _unescape(escape_bytes(raw)) == raw


def test_has_unassigned():
    assert not has_unassigned("caf\u00e9 \U0001f600")
    assert has_unassigned("x\u0378")  # unassigned in every Unicode version so far


@pytest.mark.parametrize(
    ("parent", "name", "expected"),
    [("", "a", "a"), ("a", "b", "a/b"), ("a/b", "c", "a/b/c")],
)
def test_child_path(parent, name, expected):
    assert child_path(parent, name) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("", ""), ("a", ""), ("a/b", "a"), ("a/b/c", "a/b")],
)
def test_parent_path(path, expected):
    assert parent_path(path) == expected


def test_relative_path_inside_workspace(tmp_path: Path):
    root = tmp_path / "ws"
    assert relative_path(root, root) == ""
    assert relative_path(root, root / "a" / "b.txt") == "a/b.txt"
    assert relative_path(root, "b.txt", cwd=root / "a") == "a/b.txt"
    assert relative_path(root, "../c", cwd=root / "a") == "c"
    assert relative_path(root, "./x/./y/", cwd=root) == "x/y"
    assert relative_path(root, ".", cwd=root / "a") == "a"


def test_relative_path_normalizes_to_nfc(tmp_path: Path):
    root = tmp_path / "ws"
    assert relative_path(root, "cafe\u0301/x", cwd=root) == "caf\u00e9/x"


@pytest.mark.parametrize("target", ["..", "../other", "/elsewhere", "a/../../b"])
def test_relative_path_outside_workspace_raises_invalid_path(tmp_path: Path, target):
    root = tmp_path / "ws"
    with pytest.raises(InvalidPath, match="outside the workspace"):
        relative_path(root, target, cwd=root)


def test_relative_path_sibling_with_common_prefix_is_outside(tmp_path: Path):
    root = tmp_path / "ws"
    with pytest.raises(InvalidPath):
        relative_path(root, tmp_path / "ws2" / "a")


def test_relative_path_does_not_resolve_symlinks(tmp_path: Path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "real").mkdir()
    (root / "link").symlink_to(root / "real")
    assert relative_path(root, root / "link" / "f") == "link/f"
