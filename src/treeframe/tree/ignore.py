"""Ignore rules for scans: nested ``.gitignore`` / ``.treeframeignore`` files and built-ins.

Membership follows git (``gitignore(5)``, ``dir.c`` and ``wildmatch.c``),
rule for rule; docs/SCHEMAS.md section 5 states the rules exactly:

* a pattern file applies to the directory that holds it and everything below;
  its patterns are matched against paths relative to that directory;
* the deepest file with a matching pattern decides, and within it the last
  matching line; ``.treeframeignore`` is read after the ``.gitignore`` of the
  same directory, so it has the last word there;
* a pattern is matched against the entry's own path only, never "through" a
  parent: without a slash (other than a trailing one) against the entry's
  name, otherwise against its whole path below the file's directory;
* an ignored directory is not descended, so nothing below it can be
  re-included; ``.git/`` and ``.treeframe/`` directories are ignored at every
  level and cannot be re-included.

Matching is on bytes, like git's: each pattern is translated once into a
Python ``re`` pattern over the UTF-8 bytes of the (NFC) path, and the
patterns of one directory are joined into two alternations, last line first
(name patterns, matched on the reversed name, and path patterns), so at most
two ``re.fullmatch`` calls per applicable directory find the deciding line.
The translation is ours rather than a library's so the root hash cannot
depend on what else is installed (see docs/ARCHITECTURE.md).

A name that is not valid UTF-8 is matched in its raw bytes (it reaches us as
its ``os.fsdecode`` surrogate-escape form, which encodes back to them).

Rules are an immutable chain: a directory's rules are its parent's plus at
most one new layer, so sibling directories share everything above them and a
deep walk costs one small object per directory that has ignore files.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["BUILTIN_IGNORED_DIRS", "IGNORE_FILE_NAMES", "IgnoreRules", "parse_ignore_file"]

BUILTIN_IGNORED_DIRS = frozenset({".git", ".treeframe"})
"""Directory names ignored at any depth, whatever the pattern files say."""

IGNORE_FILE_NAMES = (".gitignore", ".treeframeignore")
"""Pattern files read in each directory, in this order (later ones win)."""

_BOM = b"\xef\xbb\xbf"
_SLASH = 0x2F
_BACKSLASH = 0x5C
_STAR = 0x2A
_GLOB_SPECIAL = frozenset(b"*?[\\")

# git's character classes (ctype.c, wildmatch.c): ASCII only; note that
# ``space`` is tab, LF, CR and space (not VT or FF).
_CLASSES: dict[bytes, frozenset[int]] = {
    b"alnum": frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
    b"alpha": frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
    b"blank": frozenset(b" \t"),
    b"cntrl": frozenset([*range(0x20), 0x7F]),
    b"digit": frozenset(b"0123456789"),
    b"graph": frozenset(range(0x21, 0x7F)),
    b"lower": frozenset(b"abcdefghijklmnopqrstuvwxyz"),
    b"print": frozenset(range(0x20, 0x7F)),
    b"punct": frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    b"space": frozenset(b"\t\n\r "),
    b"upper": frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    b"xdigit": frozenset(b"0123456789ABCDEFabcdef"),
}
_ANY_BYTE = frozenset(range(1, 256)) - {_SLASH}


def parse_ignore_file(data: bytes) -> list[str]:
    """Split the raw bytes of an ignore file into NFC-normalized lines, as git splits them.

    One leading UTF-8 byte-order mark is dropped, lines end at LF only and
    lose one CR before it. Bytes that are not UTF-8 are kept as surrogate
    escapes (like ``os.fsdecode``) so a pattern can name an undecodable file
    exactly.
    """
    data = data.removeprefix(_BOM)
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    return [
        unicodedata.normalize("NFC", piece.removesuffix(b"\r").decode("utf-8", "surrogateescape"))
        for piece in pieces
    ]


class _NeverMatches(Exception):
    """A line git accepts but that can match nothing; the message says why."""


def _trim_trailing_spaces(line: bytes) -> bytes:
    """Drop trailing spaces that are not escaped by a backslash (git's trim_trailing_spaces)."""
    last_space = -1
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch == 0x20:
            if last_space < 0:
                last_space = i
        elif ch == _BACKSLASH:
            i += 1
            if i == n:
                return line
            last_space = -1
        else:
            last_space = -1
        i += 1
    return line[:last_space] if last_space >= 0 else line


def _byte_set(members: Iterable[int]) -> bytes:
    """A regex matching one byte of ``members`` (never ``/``); ``(?!)`` when there is none."""
    values = sorted(set(members) - {_SLASH, 0})
    if not values:
        return b"(?!)"
    parts: list[bytes] = []
    start = prev = values[0]
    for value in [*values[1:], -1]:
        if value == prev + 1:
            prev = value
            continue
        parts.append(b"\\x%02x" % start if start == prev else b"\\x%02x-\\x%02x" % (start, prev))
        start = prev = value
    return b"[" + b"".join(parts) + b"]"


def _bracket(pat: bytes, i: int) -> tuple[bytes, int]:
    r"""Translate the bracket expression at ``pat[i] == '['``: (regex, index after its ``]``).

    Mirrors wildmatch.c: ``!`` or ``^`` first negates, a ``]`` first (after
    the negation) is a member, ``\x`` is ``x``, ``a-z`` adds a byte range (a
    reversed one adds nothing), ``[:name:]`` is a class, and ``/`` never
    matches.
    """
    n = len(pat)
    p = i + 1
    negated = p < n and pat[p] in b"!^"
    if negated:
        p += 1
    members: set[int] = set()
    prev = 0  # the member before, for ranges; 0 right after a range or a class
    first = True
    while True:
        if p >= n:
            raise _NeverMatches("an unclosed '['")
        ch = pat[p]
        if ch == 0x5D and not first:
            break
        first = False
        if ch == _BACKSLASH:
            p += 1
            if p >= n:
                raise _NeverMatches("an unclosed '['")
            ch = pat[p]
            members.add(ch)
        elif ch == 0x2D and prev and p + 1 < n and pat[p + 1] != 0x5D:
            p += 1
            high = pat[p]
            if high == _BACKSLASH:
                p += 1
                if p >= n:
                    raise _NeverMatches("an unclosed '['")
                high = pat[p]
            members.update(range(prev, high + 1))
            ch = 0
        elif ch == 0x5B and p + 1 < n and pat[p + 1] == 0x3A:
            close = pat.find(b"]", p + 2)
            if close < 0:
                raise _NeverMatches("an unclosed '['")
            if close - (p + 2) >= 1 and pat[close - 1] == 0x3A:
                name = pat[p + 2 : close - 1]
                if name not in _CLASSES:
                    raise _NeverMatches(f"an unknown class [:{name.decode(errors='replace')}:]")
                members |= _CLASSES[name]
                p = close
                ch = 0
            else:
                members.add(ch)  # no ":]": the '[' is an ordinary member
        else:
            members.add(ch)
        prev = ch
        p += 1
    return _byte_set(_ANY_BYTE - members if negated else members), p + 1


_FIXED, _STAR_RUN, _CROSS = 0, 1, 2
"""Atom kinds: one byte; ``*`` (any bytes but ``/``); a ``**`` form that crosses ``/``."""

_STAR_ANY = b".*"
_STAR_DIRS = b"(?:.*/)?"


def _wildmatch_atoms(pat: bytes, *, pathname: bool) -> list[tuple[int, bytes]]:
    r"""Regex atoms, as (kind, regex), that together match what wildmatch.c matches.

    With ``pathname`` (WM_PATHNAME) ``*``, ``?`` and ``[...]`` never match
    ``/``, and a run of two or more ``*`` at the start of ``pat`` or after a
    ``/``, that ends ``pat`` or is followed by ``/`` or ``\/``, matches across
    ``/``: ``**/`` matches zero or more leading directories, a final ``**``
    anything. Otherwise (a basename, which holds no ``/``) every ``*`` run is
    one ``*``; each atom then matches one byte or is a ``*`` run, so the atoms
    in reverse order match the reversed name.
    """
    out: list[tuple[int, bytes]] = []
    i, n = 0, len(pat)
    while i < n:
        ch = pat[i]
        if ch == _BACKSLASH:
            if i + 1 == n:
                raise _NeverMatches("a trailing unescaped backslash")
            out.append((_FIXED, re.escape(pat[i + 1 : i + 2])))
            i += 2
        elif ch == 0x3F:  # ?
            out.append((_FIXED, b"[^/]"))
            i += 1
        elif ch == 0x5B:  # [
            regex, i = _bracket(pat, i)
            out.append((_FIXED, regex))
        elif ch == _STAR:
            j = i
            while j < n and pat[j] == _STAR:
                j += 1
            if pathname and j - i >= 2 and (i == 0 or pat[i - 1] == _SLASH):
                if j == n:
                    out.append((_CROSS, _STAR_ANY))
                    i = j
                    continue
                if pat[j] == _SLASH:
                    out.append((_CROSS, _STAR_DIRS))
                    i = j + 1
                    continue
                if pat[j : j + 2] == b"\\/":
                    out.append((_CROSS, _STAR_ANY))
                    i = j
                    continue
            out.append((_STAR_RUN, b"[^/]*"))
            i = j
        else:
            out.append((_FIXED, re.escape(pat[i : i + 1])))
            i += 1
    return out


def _join(atoms: list[tuple[int, bytes]]) -> bytes:
    """The atoms as one regex, written so that ``re`` cannot backtrack exponentially.

    A ``*`` followed by bytes and then by another ``*`` becomes
    ``(?>[^/]*?bytes)``: the leftmost place for those bytes is always a right
    one (a later place only leaves less room, and the bytes never hold a
    ``/`` that the ``*`` could have had to skip: a ``/`` among them can only
    be the first ``/`` after the ``*``), so the choice is never revisited, as
    git's wildmatch never revisits it either. The same holds for bytes
    between two ``/``-crossing forms (``**/x/**/``): they end in ``/``, so an
    earlier place leaves a gap that still ends in ``/``. Adjacent crossing
    forms are merged (``**/**/`` is ``**/``). What is left to backtrack is a
    ``**/`` followed by a ``*`` in the same name (``**/a*/``), one
    polynomial factor per such pair.
    """
    out: list[bytes] = []
    k, n = 0, len(atoms)
    while k < n:
        kind, regex = atoms[k]
        if kind == _CROSS:
            while k + 1 < n and atoms[k + 1][0] == _CROSS:
                k += 1
                if atoms[k][1] == _STAR_ANY:
                    regex = _STAR_ANY
            end = k + 1
            while end < n and atoms[end][0] == _FIXED:
                end += 1
            fixed = b"".join(atom for _, atom in atoms[k + 1 : end])
            if end < n and atoms[end][0] == _CROSS and fixed:
                lazy = b".*?" if regex == _STAR_ANY else b"(?:.*?/)??"
                out.append(b"(?>" + lazy + fixed + b")")
            else:
                out.append(regex + fixed)
            k = end
        elif kind == _STAR_RUN:
            end = k + 1
            while end < n and atoms[end][0] == _FIXED:
                end += 1
            fixed = b"".join(atom for _, atom in atoms[k + 1 : end])
            if end < n and fixed:
                out.append(b"(?>[^/]*?" + fixed + b")")
            else:
                out.append(regex + fixed)
            k = end
        else:
            out.append(regex)
            k += 1
    return b"".join(out)


@dataclass(frozen=True, slots=True)
class _Pattern:
    """One compiled line: whether it re-includes, matches directories only, and its regex.

    A name pattern's ``regex`` fully matches the entry's name *reversed*
    (most name patterns end in a literal, such as ``*.log``, which then fails
    on its first byte instead of after the ``*`` has tried every split); a
    path pattern's fully matches the entry's path below the layer's directory.
    """

    negated: bool
    dir_only: bool
    name: bool
    regex: bytes


def _compile_line(line: str) -> _Pattern | None:
    """One line as git's add_pattern reads it; None for a comment or a line that is a no-op.

    Raises _NeverMatches for a line that is syntactically broken (it would
    match nothing), so the caller can warn.
    """
    raw = line.encode("utf-8", "surrogateescape")
    if not raw or raw[0] == 0x23:  # '#'
        return None
    raw = _trim_trailing_spaces(raw.partition(b"\0")[0])
    negated = raw[:1] == b"!"
    body = raw[1:] if negated else raw
    dir_only = body.endswith(b"/")
    if dir_only:
        body = body[:-1]
    if not body:
        if negated:
            raise _NeverMatches("nothing after '!'")
        return None
    if _SLASH not in body:
        # Matched against the entry's name alone (git's match_basename).
        atoms = _wildmatch_atoms(body, pathname=False)
        return _Pattern(negated, dir_only, True, _join(atoms[::-1]))
    # Matched against the path below the ignore file's directory, anchored
    # there (git's match_pathname): the part before the first wildcard is
    # compared as it is, the rest is wildmatched with WM_PATHNAME on its own,
    # so a '**' right after that literal part counts as leading.
    body = body.removeprefix(b"/")
    literal = 0
    while literal < len(body) and body[literal] not in _GLOB_SPECIAL:
        literal += 1
    atoms = _wildmatch_atoms(body[literal:], pathname=True)
    return _Pattern(negated, dir_only, False, re.escape(body[:literal]) + _join(atoms))


@dataclass(frozen=True, slots=True)
class _Alternation:
    """Patterns of one kind (name or path) joined into one regex, last line first.

    ``re`` takes the first alternative that matches, which is the last such
    line; alternative ``k`` (group ``k + 1``) is line ``lines[k]``, a
    negation when ``negated[k]``.
    """

    regex: re.Pattern[bytes]
    lines: tuple[int, ...]
    negated: tuple[bool, ...]


def _alternation(numbered: list[tuple[int, _Pattern]]) -> _Alternation | None:
    if not numbered:
        return None
    ordered = numbered[::-1]
    source = b"|".join(b"(" + pattern.regex + b")" for _, pattern in ordered)
    return _Alternation(
        re.compile(source, re.DOTALL),
        tuple(index for index, _ in ordered),
        tuple(pattern.negated for _, pattern in ordered),
    )


@dataclass(frozen=True, slots=True)
class _Choice:
    """The patterns of one layer that can match one kind of entry (file or directory)."""

    names: _Alternation | None
    paths: _Alternation | None

    def decide(self, reversed_name: bytes, rel: bytes) -> bool | None:
        """Excluded (True), re-included (False), or None when no line matches."""
        line = -1
        negated = False
        names = self.names
        if names is not None:
            match = names.regex.fullmatch(reversed_name)
            if match is not None:
                k = (match.lastindex or 0) - 1
                line, negated = names.lines[k], names.negated[k]
        paths = self.paths
        if paths is not None:
            match = paths.regex.fullmatch(rel)
            if match is not None:
                k = (match.lastindex or 0) - 1
                if paths.lines[k] > line:
                    line, negated = paths.lines[k], paths.negated[k]
        return None if line < 0 else not negated


def _choice(numbered: list[tuple[int, _Pattern]]) -> _Choice | None:
    if not numbered:
        return None
    return _Choice(
        _alternation([(i, p) for i, p in numbered if p.name]),
        _alternation([(i, p) for i, p in numbered if not p.name]),
    )


@dataclass(frozen=True, slots=True)
class _Layer:
    """The compiled patterns of one directory's ignore files.

    ``base`` is the directory's path as UTF-8 with a trailing ``/`` (empty
    for the root); ``files`` holds the patterns that can match a file or a
    symlink, ``dirs`` all of them.
    """

    base: bytes
    files: _Choice | None
    dirs: _Choice | None


_FINGERPRINT_TAG = b"treeframe:ignore-rules:v1\0"
"""Changes whenever this module would decide any path differently for the same lines."""


class IgnoreRules:
    """The ignore rules in force for one directory during a walk (immutable)."""

    __slots__ = ("_layers", "fingerprint")

    def __init__(self, layers: tuple[_Layer, ...] = (), fingerprint: bytes = bytes(32)) -> None:
        self._layers = layers
        self.fingerprint = fingerprint
        """32 bytes naming these rules: equal fingerprints decide every path the same way.

        Built from each layer's directory and pattern lines, so it is stable
        across scans and processes; all zeros when no pattern applies. The
        scanner keeps it in a directory's stat-cache blob, and while it is
        unchanged, names the blob lists need no second ignore check.
        """

    @property
    def has_patterns(self) -> bool:
        """True when any pattern file applies; callers skip matching entirely otherwise."""
        return bool(self._layers)

    def with_directory(
        self, dir_path: str, lines: Iterable[str], warnings: list[str] | None = None
    ) -> IgnoreRules:
        """Rules for ``dir_path``'s contents given its ignore-file lines.

        Returns ``self`` when the lines hold no patterns, so directories
        without ignore files cost nothing. A line that can never match
        because it is malformed (git silently ignores it too) is described in
        ``warnings`` (if given).
        """
        patterns: list[_Pattern] = []
        kept: list[str] = []
        for line in lines:
            try:
                pattern = _compile_line(line)
            except _NeverMatches as why:
                if warnings is not None:
                    warnings.append(
                        f"invalid ignore pattern in {dir_path or '.'}: {line!r} "
                        f"({why}; it never matches)"
                    )
                continue
            if pattern is not None:
                patterns.append(pattern)
                kept.append(line)
        if not patterns:
            return self
        base = dir_path.encode("utf-8", "surrogateescape") + b"/" if dir_path else b""
        numbered = list(enumerate(patterns))
        layer = _Layer(
            base, _choice([(i, p) for i, p in numbered if not p.dir_only]), _choice(numbered)
        )
        hasher = hashlib.blake2b(_FINGERPRINT_TAG + self.fingerprint, digest_size=32)
        for part in (base, *(line.encode("utf-8", "surrogateescape") for line in kept)):
            hasher.update(len(part).to_bytes(4, "big") + part)
        digest = hasher.digest()
        return IgnoreRules((*self._layers, layer), digest)

    def is_ignored(self, path: str, *, is_dir: bool) -> bool:
        """Whether the workspace-relative ``path`` is excluded from the scan.

        Only ``path`` itself is judged: the walk never reaches a path whose
        parent directory is ignored.
        """
        if is_dir and path.rpartition("/")[2] in BUILTIN_IGNORED_DIRS:
            return True
        if not self._layers:
            return False
        raw = path.encode("utf-8", "surrogateescape")
        reversed_name = raw.rpartition(b"/")[2][::-1]
        for layer in reversed(self._layers):
            choice = layer.dirs if is_dir else layer.files
            if choice is None:
                continue
            base = layer.base
            if base:
                if not raw.startswith(base):
                    continue
                decision = choice.decide(reversed_name, raw[len(base) :])
            else:
                decision = choice.decide(reversed_name, raw)
            if decision is not None:
                return decision
        return False
