"""Workspace-relative path rules: UTF-8 names, NFC normalization, ``/`` separators.

A name on disk is taken as its raw bytes (``os.fsencode``); it must decode as
strict UTF-8 and is then NFC-normalized. Names that are not valid UTF-8 are
refused with :class:`InvalidPath` rather than guessed at, because any
lossy mapping would let two different files share one path.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from treeframe.errors import InvalidPath

__all__ = ["child_path", "display_name", "normalize_name", "parent_path", "relative_path"]


def display_name(raw: str | bytes) -> str:
    r"""Printable form of an on-disk name, with undecodable bytes shown as ``\xNN``."""
    data = os.fsencode(raw)
    return data.decode("utf-8", errors="backslashreplace")


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
