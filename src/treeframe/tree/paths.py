"""Workspace-relative path rules: UTF-8 names, NFC normalization, ``/`` separators.

A name on disk is taken as its raw bytes (``os.fsencode``); it must decode as
strict UTF-8 and is then NFC-normalized with the running Python's Unicode
database (:data:`UNICODE_VERSION`). Names that are not valid UTF-8 are never
guessed at, because any lossy mapping would let two different files share one
path: :func:`normalize_name` refuses them, and a scan skips them. A name with a
code point that database does not assign (:func:`has_unassigned`) is skipped
by a scan too: NFC is only stable for assigned code points.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from treeframe.errors import InvalidPath

__all__ = [
    "UNICODE_VERSION",
    "child_path",
    "display_name",
    "escape_bytes",
    "has_unassigned",
    "normalize_name",
    "normalize_path",
    "parent_path",
    "relative_path",
]

UNICODE_VERSION = unicodedata.unidata_version
"""The Unicode database NFC uses here (Python 3.11: 14.0.0)."""


def escape_bytes(data: bytes) -> str:
    r"""A printable, reversible form of a raw path: UTF-8 text with some bytes escaped.

    ``\xNN`` (two lowercase hex digits) always stands for the single byte
    ``NN``: it is used for bytes that are not part of valid UTF-8 and for every
    byte of a control character (C0, DEL, C1), so a name holding a newline
    still prints on one line. A backslash is written ``\\``. Everything else is
    the UTF-8 text itself, so distinct byte strings give distinct escapes.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text
    out: list[str] = []
    for char in text:
        point = ord(char)
        if 0xDC80 <= point <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it
            out.append(f"\\x{point - 0xDC00:02x}")
        elif char == "\\":
            out.append("\\\\")
        elif unicodedata.category(char) == "Cc":
            out.extend(f"\\x{byte:02x}" for byte in char.encode("utf-8"))
        else:
            out.append(char)
    return "".join(out)


def display_name(raw: str | bytes) -> str:
    """Printable form of an on-disk name (:func:`escape_bytes` of its raw bytes)."""
    return escape_bytes(os.fsencode(raw))


def has_unassigned(name: str) -> bool:
    """Whether ``name`` holds a code point unassigned in :data:`UNICODE_VERSION` (category Cn).

    A later Unicode version may assign it a decomposition, and NFC would then
    change the name: such names are kept out of trees.
    """
    return any(unicodedata.category(char) == "Cn" for char in name)


def normalize_name(raw: str | bytes, *, where: str = "") -> str:
    """Return the canonical (NFC, UTF-8-valid) form of one path component."""
    data = os.fsencode(raw)
    try:
        name = data.decode("utf-8")
    except UnicodeDecodeError:
        shown = child_path(where, display_name(data))
        raise InvalidPath(
            f"name is not valid UTF-8: '{shown}' (rename it or list it in .treeframeignore)"
        ) from None
    if name in ("", ".", "..") or "/" in name or "\x00" in name:
        raise InvalidPath(f"invalid path component {name!r}")
    return unicodedata.normalize("NFC", name)


def normalize_path(path: str) -> str:
    """A workspace-relative path as a caller types it, canonical: ``""`` or ``"."`` is the root.

    Each name is normalized (:func:`normalize_name`); an empty, ``.`` or
    ``..`` component (so also a leading or trailing ``/``) raises InvalidPath.
    """
    if path in ("", "."):
        return ""
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidPath(f"not a workspace-relative path: {path!r}")
    return "/".join(normalize_name(part) for part in parts)


def child_path(parent: str, name: str) -> str:
    """Join a workspace-relative directory path and a child name (root is ``""``)."""
    return f"{parent}/{name}" if parent else name


def parent_path(path: str) -> str:
    """Workspace-relative parent of ``path``; the root's parent is the root."""
    head, _, _ = path.rpartition("/")
    return head


def relative_path(root: Path, target: str | os.PathLike[str], *, cwd: Path | None = None) -> str:
    """Canonical workspace-relative path of ``target`` (relative to ``cwd``) under ``root``.

    Symlinks in the target are not resolved: a path names the link itself.
    Raises InvalidPath for anything that lies outside the workspace.
    """
    base = cwd if cwd is not None else Path.cwd()
    absolute = Path(os.path.normpath(base / Path(target)))
    root_abs = Path(os.path.normpath(root))
    try:
        rel = absolute.relative_to(root_abs)
    except ValueError:
        raise InvalidPath(f"path {os.fspath(target)!r} is outside the workspace") from None
    parts = [normalize_name(part) for part in rel.parts]
    return "/".join(parts)
