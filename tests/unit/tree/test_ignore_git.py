"""Tree membership against real git: the scan keeps exactly what git keeps.

Each case builds the same tree twice, once to scan and once as a fresh
``git init`` repository (no network, no global or system configuration,
``core.excludesFile`` unset) in which every ``.treeframeignore`` is appended to
the ``.gitignore`` beside it (SCHEMAS.md section 5.3: it is the later part of
that directory's layer). Then:

* files and symlinks: the scan's members equal
  ``git ls-files --others --exclude-standard``;
* directories (git lists none): the scan keeps a directory exactly when
  ``git check-ignore`` does not report it (it reports a path whose own
  patterns or any parent directory's exclude it).

Trees and ignore files are random (hypothesis, bounded: about 60 trees,
a few seconds); fixed cases cover each rule of the brief and every
``ignore_rules`` vector's recorded ``git_files``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treeframe.hashing import ids as h
from treeframe.storage.memory import MemoryStore
from treeframe.testing.factories import workspace_info
from treeframe.tree.paths import escape_bytes
from treeframe.tree.scan import scan_tree

ROOT = Path(__file__).resolve().parents[3]
VECTORS: dict[str, Any] = json.loads((ROOT / "docs" / "test-vectors.json").read_text("utf-8"))
WS = h.workspace_id("ignore-vs-git")
GIT = shutil.which("git")
assert GIT is not None, "these tests compare with real git, which must be installed"

# A tree: raw path -> ("file", content) | ("dir", b"") | ("symlink", target), parents first.
Tree = dict[bytes, tuple[str, bytes]]


def _git_env(home: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LC_ALL": "C",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_SYSTEM": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def _materialize(root: Path, tree: Tree, *, for_git: bool) -> None:
    base = os.fsencode(root)
    os.makedirs(base)
    for raw, (kind, data) in tree.items():
        where = os.path.join(base, raw)
        if kind == "dir":
            os.mkdir(where)
        elif kind == "symlink":
            os.symlink(data, where)
        else:
            if for_git and raw.rpartition(b"/")[2] == b".gitignore":
                sibling = raw[: -len(b".gitignore")] + b".treeframeignore"
                extra = tree.get(sibling, ("", b""))[1]
                if extra and data and not data.endswith(b"\n"):
                    data += b"\n"
                data += extra
            with open(where, "wb") as handle:
                handle.write(data)
    if for_git:
        # A .treeframeignore without a .gitignore beside it: git reads it as .gitignore.
        for raw, (_, data) in tree.items():
            parent, _, name = raw.rpartition(b"/")
            gitignore = parent + b"/.gitignore" if parent else b".gitignore"
            if name == b".treeframeignore" and gitignore not in tree:
                with open(os.path.join(base, gitignore), "wb") as handle:
                    handle.write(data)


def _git(cwd: Path, home: str, *args: str, stdin: bytes = b"", ok: tuple[int, ...] = (0,)) -> bytes:
    assert GIT is not None
    done = subprocess.run(
        [GIT, "-c", "core.excludesFile=" + os.devnull, "-c", "core.ignoreCase=false", *args],
        cwd=cwd,
        env=_git_env(home),
        input=stdin,
        capture_output=True,
        check=False,
    )
    assert done.returncode in ok, done.stderr.decode(errors="replace")
    return done.stdout


def git_kept(tree: Tree) -> tuple[set[bytes], set[bytes]]:
    """(files and symlinks git keeps, directories git keeps) for ``tree``."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        _materialize(repo, tree, for_git=True)
        _git(repo, tmp, "init", "-q", ".")
        listed = _git(repo, tmp, "ls-files", "--others", "--exclude-standard", "-z")
        # Leave out the .gitignore files that exist only in git's copy of the tree.
        files = {path for path in listed.split(b"\0") if path in tree}
        dirs = [raw for raw, (kind, _) in tree.items() if kind == "dir"]
        ignored: set[bytes] = set()
        if dirs:
            out = _git(
                repo,
                tmp,
                "check-ignore",
                "--stdin",
                "-z",
                stdin=b"\0".join(dirs) + b"\0",
                ok=(0, 1),
            )
            ignored = {path for path in out.split(b"\0") if path}
        return files, {raw for raw in dirs if raw not in ignored}


def scan_kept(tree: Tree) -> tuple[set[bytes], set[bytes], tuple[str, ...]]:
    """(files and symlinks, directories, warnings) the scan keeps for ``tree``.

    A name that is not UTF-8 cannot be a member; one the rules do not exclude
    is skipped (``non_utf8_name``) and counts as kept here, as git keeps it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        _materialize(root, tree, for_git=False)
        store = MemoryStore()
        store.create_workspace(workspace_info(WS, "ignore-vs-git"))
        result = scan_tree(root, store, WS, workers=1)
        files: set[bytes] = set()
        dirs: set[bytes] = set()
        for path, node_id in store.iter_all_paths(WS):
            if not path:
                continue
            record = store.get_node(WS, node_id)
            assert record is not None
            (dirs if record.kind == "dir" else files).add(path.encode())
        skipped = {s.path: s.reason for s in result.skipped}
        assert set(skipped.values()) <= {"non_utf8_name"}, skipped
        for raw, (kind, _) in tree.items():
            if escape_bytes(raw) in skipped:
                assert kind != "dir"
                files.add(raw)
        return files, dirs, result.warnings


def assert_same_as_git(tree: Tree) -> None:
    git_files, git_dirs = git_kept(tree)
    files, dirs, _ = scan_kept(tree)
    assert sorted(files) == sorted(git_files)
    assert sorted(dirs) == sorted(git_dirs)


def _tree(*entries: tuple[str | bytes, str, str | bytes]) -> Tree:
    out: Tree = {}
    for path, kind, data in entries:
        raw = path.encode() if isinstance(path, str) else path
        out[raw] = (kind, data.encode() if isinstance(data, str) else data)
    return out


def _f(path: str | bytes, data: str | bytes = b"") -> tuple[str | bytes, str, str | bytes]:
    return (path, "file", data)


def _d(path: str | bytes) -> tuple[str | bytes, str, str | bytes]:
    return (path, "dir", b"")


# -- each rule of git's that the scan follows, checked against git itself ------


RULE_CASES: list[tuple[str, Tree, set[str]]] = [
    (
        "a pattern is matched only against the entry, never through a parent",
        _tree(
            _f(".gitignore", "node_modules\n!vendor\n"),
            _d("node_modules"),
            _f("node_modules/n.js"),
            _d("vendor"),
            _d("vendor/node_modules"),
            _f("vendor/node_modules/m.js"),
            _f("vendor/v.js"),
        ),
        {".gitignore", "vendor/v.js"},
    ),
    (
        "`*`, `!*/`, `!*.txt` keeps .txt files at every depth",
        _tree(
            _f(".gitignore", "*\n!*/\n!*.txt\n"),
            _f("a.txt"),
            _f("a.py"),
            _d("d"),
            _f("d/b.txt"),
            _f("d/c.py"),
            _d("d/e"),
            _f("d/e/f.txt"),
        ),
        {"a.txt", "d/b.txt", "d/e/f.txt"},
    ),
    (
        "`*` then `!src/` re-includes src (and `!*.py` its .py files)",
        _tree(
            _f(".gitignore", "*\n!*.py\n!src/\n"),
            _f("a.py"),
            _d("src"),
            _f("src/b.py"),
            _f("src/c.txt"),
        ),
        {"a.py", "src/b.py"},
    ),
    (
        "after `!*`, a later `build/` excludes build",
        _tree(_f(".gitignore", "!*\nbuild/\n"), _f("a"), _d("build"), _f("build/x")),
        {".gitignore", "a"},
    ),
    (
        "`dir/**` leaves dir itself in, so `!dir/keep` works",
        _tree(
            _f(".gitignore", "logs/**\n!logs/keep\n"),
            _d("logs"),
            _f("logs/a"),
            _f("logs/keep"),
            _d("logs/sub"),
            _f("logs/sub/keep"),
        ),
        {".gitignore", "logs/keep"},
    ),
    (
        "`dir/**/` matches directories below dir, not dir",
        _tree(
            _f(".gitignore", "d/**/\n"),
            _d("d"),
            _f("d/f"),
            _d("d/e"),
            _f("d/e/g"),
            _d("x"),
            _d("x/d"),
            _d("x/d/e"),
            _f("x/d/e/g"),
        ),
        {".gitignore", "d/f", "x/d/e/g"},
    ),
    (
        "lines end at LF only: a form feed or U+2028 is part of the pattern",
        _tree(
            _f(".gitignore", "a.txt\fb.txt\nc.txt\u2028d.txt\ne.txt\r\n"),
            _f("a.txt"),
            _f("b.txt"),
            _f("c.txt"),
            _f("d.txt"),
            _f("a.txt\fb.txt"),
            _f("e.txt"),
        ),
        {".gitignore", "a.txt", "b.txt", "c.txt", "d.txt"},
    ),
    (
        "only unescaped trailing spaces are stripped; tabs stay",
        _tree(
            _f(".gitignore", "a  \nb\\ \\ \nc\t\nd\\\\  \n"),
            _f("a"),
            _f("a  "),
            _f("b  "),
            _f("b"),
            _f("c"),
            _f("c\t"),
            _f("d\\"),
        ),
        {".gitignore", "a  ", "b", "c"},
    ),
    (
        "POSIX classes",
        _tree(
            _f(".gitignore", "[[:digit:]]*\n[[:upper:]][[:alpha:]]\nx[[:space:]]y\n"),
            _f("1a"),
            _f("a1"),
            _f("Ab"),
            _f("AB"),
            _f("A1"),
            _f("x y"),
            _f("x\ty"),
            _f("x\fy"),
        ),
        {".gitignore", "a1", "A1", "x\fy"},
    ),
    (
        "a deeper file decides before a shallower one; .treeframeignore after .gitignore",
        _tree(
            _f(".gitignore", "*.tmp\n"),
            _f("a.tmp"),
            _d("d"),
            _f("d/.gitignore", "!*.tmp\n"),
            _f("d/.treeframeignore", "b.tmp\n"),
            _f("d/a.tmp"),
            _f("d/b.tmp"),
            _d("d/e"),
            _f("d/e/b.tmp"),
        ),
        {".gitignore", "d/.gitignore", "d/.treeframeignore", "d/a.tmp"},
    ),
    (
        "a literal part before `**` makes the `**` leading: `foo**/bar`",
        _tree(
            _f(".gitignore", "foo**/bar\n"),
            _f("foobar"),
            _d("foo"),
            _f("foo/bar"),
            _d("foo/x"),
            _f("foo/x/bar"),
            _d("fooy"),
            _f("fooy/bar"),
            _f("fooy/baz"),
        ),
        {".gitignore", "fooy/baz"},
    ),
    (
        "bracket expressions: `]` first, ranges, negation, `[z-a]` is `z`",
        _tree(
            _f(".gitignore", "[]x]1\n[!a-c]2\n[z-a]3\n[^]]4\n"),
            _f("]1"),
            _f("x1"),
            _f("y1"),
            _f("a2"),
            _f("d2"),
            _f("z3"),
            _f("a3"),
            _f("]4"),
            _f("a4"),
        ),
        {".gitignore", "y1", "a2", "a3", "]4"},
    ),
    (
        "malformed lines match nothing: a trailing backslash, `[`, `[:nope:]`, `!`",
        _tree(
            _f(".gitignore", "a\\\n[b\n[[:nope:]]\n!\n*.x\n"),
            _f("a"),
            _f("a\\"),
            _f("[b"),
            _f("n"),
            _f("!"),
            _f("k.x"),
        ),
        {".gitignore", "a", "a\\", "[b", "n", "!"},
    ),
]


@pytest.mark.parametrize(
    ("tree", "kept"), [pytest.param(tree, kept, id=name) for name, tree, kept in RULE_CASES]
)
def test_rule_matches_git(tree, kept):
    """The files kept are the ones written down here, and git keeps the same."""
    files, _, _ = scan_kept(tree)
    assert {p.decode() for p in files} == kept
    assert_same_as_git(tree)


@pytest.mark.parametrize("cls", ["alnum", "alpha", "blank", "cntrl", "digit", "graph"])
def test_posix_classes_byte_by_byte(cls):
    """Every byte but NUL and '/' as a one-byte name suffix, matched by ``c[[:cls:]]``."""
    tree = _tree(_f(".gitignore", f"c[[:{cls}:]]\n"))
    for byte in range(1, 256):
        if byte != 0x2F:
            tree[b"c" + bytes([byte])] = ("file", b"")
    assert_same_as_git(tree)


@pytest.mark.parametrize("cls", ["lower", "print", "punct", "space", "upper", "xdigit"])
def test_posix_classes_byte_by_byte_negated(cls):
    tree = _tree(_f(".gitignore", f"c[![:{cls}:]]\n"))
    for byte in range(1, 256):
        if byte != 0x2F:
            tree[b"c" + bytes([byte])] = ("file", b"")
    assert_same_as_git(tree)


@pytest.mark.parametrize(
    "vector", VECTORS["ignore_rules"], ids=[v["name"] for v in VECTORS["ignore_rules"]]
)
def test_vector_git_files_are_what_git_keeps(vector):
    """Each ``ignore_rules`` vector's ``git_files`` is what git 2.x really keeps."""
    tree: Tree = {}
    for entry in vector["entries"]:
        raw = bytes.fromhex(entry["path_hex"])
        if entry["kind"] == "file":
            tree[raw] = ("file", bytes.fromhex(entry["content_hex"]))
        elif entry["kind"] == "symlink":
            tree[raw] = ("symlink", os.fsencode(entry["target"]))
        else:
            tree[raw] = ("dir", b"")
    git_files, _ = git_kept(tree)
    assert sorted(git_files) == sorted(p.encode() for p in vector["git_files"])


# -- random trees with random ignore files ------------------------------------

_NAMES = ["a", "b", "ab", "ba", "a.t", "b.t", "x y", "c", "*", "]", "a ", "#h", "!b", "[a]", "1"]
_ATOMS = [
    *["a", "b", "ab", "c", "x y", "1", "a ", "#h", "!b"],
    *["*", "**", "***", "?", "a*", "*b", "*.t", "a?", "**a", "a**", "*a*"],
    *["[ab]", "[!a]", "[^b]", "[]a]", "[a-c]", "[[:alpha:]]", "[[:digit:]]*", "[a"],
    *["\\*", "\\a", "\\[a]", "\\!b", "\\#h", "a\\"],
]
_segments = st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=3)
_line = st.builds(
    lambda neg, lead, segs, trail, space: (
        ("!" if neg else "")
        + ("/" if lead else "")
        + "/".join(segs)
        + ("/" if trail else "")
        + space
    ),
    st.booleans(),
    st.booleans(),
    _segments,
    st.booleans(),
    st.sampled_from(["", "", "", "  ", "\\ ", "\t", "\r"]),
) | st.sampled_from(["", "# c", "/", "!", "*", "**", "*/", "**/", "/**", "!*/", "!**/", "/*"])


def _ignore_text(lines: list[str], final_newline: bool) -> bytes:
    text = "\n".join(lines) + ("\n" if final_newline else "")
    return text.encode()


@st.composite
def _random_tree(draw: st.DrawFn) -> Tree:
    tree: Tree = {}

    def directory(prefix: bytes, depth: int) -> None:
        for file_name in (b".gitignore", b".treeframeignore"):
            if draw(st.integers(0, 2)) == 0:
                lines = draw(st.lists(_line, min_size=1, max_size=4))
                tree[prefix + file_name] = ("file", _ignore_text(lines, draw(st.booleans())))
        names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=4, unique=True))
        for name in names:
            raw = prefix + name.encode()
            kind = draw(st.sampled_from(["file", "file", "dir", "dir", "symlink"]))
            if kind == "dir" and depth < 3:
                tree[raw] = ("dir", b"")
                directory(raw + b"/", depth + 1)
            elif kind == "symlink":
                tree[raw] = ("symlink", b"a")
            else:
                tree[raw] = ("file", b"")

    directory(b"", 0)
    return tree


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tree=_random_tree())
def test_random_trees_match_git(tree):
    """Bounded: ~60 trees, each built twice and scanned once; about 3 git runs each."""
    assert_same_as_git(tree)
