"""Ignore rules for scans: nested ``.gitignore`` / ``.treeframeignore`` files and built-ins.

Semantics follow git (``gitignore(5)``), with :class:`pathspec.GitIgnoreSpec`
doing the pattern matching:

* a pattern file applies to the directory that holds it and everything below;
  its patterns are matched against paths relative to that directory;
* a deeper file overrides a shallower one, and within one directory the last
  matching pattern wins (``!pattern`` re-includes); ``.treeframeignore`` is
  read after ``.gitignore`` of the same directory, so it has the last word;
* a pattern ending in ``/`` matches directories only;
* ``.git/`` and ``.treeframe/`` directories are ignored at every level and
  cannot be re-included;
* an ignored directory is not descended, so nothing below it can be
  re-included (git's rule too);
* ignore files themselves are ordinary files and are scanned.

Paths are matched in their normalized (NFC) form. A name that is not valid
UTF-8 is matched in its ``os.fsdecode`` (surrogate-escape) form, so that a
``.treeframeignore`` written with the same raw bytes can exclude it.

Rules are an immutable chain: a directory's rules are its parent's plus at
most one new layer, so sibling directories share everything above them and a
deep walk costs one small object per directory that has ignore files.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pathspec import GitIgnoreSpec

__all__ = ["BUILTIN_IGNORED_DIRS", "IGNORE_FILE_NAMES", "IgnoreRules", "parse_ignore_file"]

BUILTIN_IGNORED_DIRS = frozenset({".git", ".treeframe"})
"""Directory names ignored at any depth, whatever the pattern files say."""

IGNORE_FILE_NAMES = (".gitignore", ".treeframeignore")
"""Pattern files read in each directory, in this order (later ones win)."""


def parse_ignore_file(data: bytes) -> list[str]:
    """Split the raw bytes of an ignore file into NFC-normalized pattern lines.

    Bytes that are not UTF-8 are kept as surrogate escapes (like
    ``os.fsdecode``) so a pattern can name an undecodable file exactly.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    return [unicodedata.normalize("NFC", line) for line in text.splitlines()]


@dataclass(frozen=True, slots=True)
class _Layer:
    """The compiled patterns of one directory's ignore files."""

    base: str
    spec: GitIgnoreSpec


def _compile(lines: Sequence[str]) -> tuple[GitIgnoreSpec | None, list[str]]:
    """Compile pattern lines; bad lines are dropped and returned, like git skips them."""
    try:
        spec = GitIgnoreSpec.from_lines(lines)
        bad: list[str] = []
    except (ValueError, re.error):
        good: list[str] = []
        bad = []
        for line in lines:
            try:
                GitIgnoreSpec.from_lines([line])
            except (ValueError, re.error):
                bad.append(line)
            else:
                good.append(line)
        spec = GitIgnoreSpec.from_lines(good)
    if not any(pattern.include is not None for pattern in spec.patterns):
        return None, bad
    return spec, bad


class IgnoreRules:
    """The ignore rules in force for one directory during a walk (immutable)."""

    __slots__ = ("_layers",)

    def __init__(self, layers: tuple[_Layer, ...] = ()) -> None:
        self._layers = layers

    @property
    def has_patterns(self) -> bool:
        """True when any pattern file applies; callers skip matching entirely otherwise."""
        return bool(self._layers)

    def with_directory(
        self, dir_path: str, lines: Iterable[str], warnings: list[str] | None = None
    ) -> IgnoreRules:
        """Rules for ``dir_path``'s contents given its ignore-file lines.

        Returns ``self`` when the lines hold no patterns, so directories
        without ignore files cost nothing. Invalid patterns are skipped and
        described in ``warnings`` (if given).
        """
        spec, bad = _compile(list(lines))
        if warnings is not None:
            where = dir_path or "."
            warnings.extend(f"invalid ignore pattern in {where}: {line!r}" for line in bad)
        if spec is None:
            return self
        return IgnoreRules((*self._layers, _Layer(dir_path, spec)))

    def is_ignored(self, path: str, *, is_dir: bool) -> bool:
        """Whether the workspace-relative ``path`` is excluded from the scan.

        Only ``path`` itself is judged: the walk never reaches a path whose
        parent directory is ignored.
        """
        if is_dir and path.rpartition("/")[2] in BUILTIN_IGNORED_DIRS:
            return True
        for layer in reversed(self._layers):
            base = layer.base
            if base:
                if not path.startswith(base) or path[len(base) : len(base) + 1] != "/":
                    continue
                rel = path[len(base) + 1 :]
            else:
                rel = path
            result = layer.spec.check_file(rel + "/" if is_dir else rel)
            if result.include is not None:
                return bool(result.include)
        return False
