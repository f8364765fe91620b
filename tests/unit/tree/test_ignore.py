"""IgnoreRules and parse_ignore_file, rule by rule (SCHEMAS.md sections 5.3-5.5).

Each git rule has a case here; tests/unit/tree/test_ignore_git.py checks the
same rules (and random ones) against real git on disk.
"""

from __future__ import annotations

import ast
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from treeframe.tree import ignore
from treeframe.tree.ignore import IgnoreRules, parse_ignore_file


def _rules(*layers: tuple[str, list[str]]) -> IgnoreRules:
    rules = IgnoreRules()
    for base, lines in layers:
        rules = rules.with_directory(base, lines)
    return rules


def _ignored(lines: list[str], path: str, *, is_dir: bool = False) -> bool:
    return _rules(("", lines)).is_ignored(path, is_dir=is_dir)


def test_no_pattern_files_means_no_pattern_work():
    rules = IgnoreRules().with_directory("", ["# only a comment", "", "   ", "/"])
    assert not rules.has_patterns
    assert not rules.is_ignored("a/b.txt", is_dir=False)


@pytest.mark.parametrize("name", [".git", ".treeframe"])
def test_builtin_directories_are_ignored_at_any_depth(name):
    rules = IgnoreRules()
    assert rules.is_ignored(name, is_dir=True)
    assert rules.is_ignored(f"deep/er/{name}", is_dir=True)
    assert not rules.is_ignored(name, is_dir=False)


def test_builtins_cannot_be_re_included():
    rules = _rules(("", ["!.git/", "!.git"]))
    assert rules.is_ignored(".git", is_dir=True)


def test_negation_re_includes_within_one_file():
    rules = _rules(("", ["*.log", "!keep.log"]))
    assert rules.is_ignored("x.log", is_dir=False)
    assert rules.is_ignored("sub/x.log", is_dir=False)
    assert not rules.is_ignored("keep.log", is_dir=False)
    assert not rules.is_ignored("sub/keep.log", is_dir=False)


def test_last_matching_line_wins():
    lines = ["*.log", "!k*.log", "kill.log"]
    assert _ignored(lines, "a.log")
    assert not _ignored(lines, "keep.log")
    assert _ignored(lines, "kill.log")


def test_deeper_file_overrides_shallower_one():
    rules = _rules(("", ["*.log"]), ("sub", ["!important.log"]))
    assert not rules.is_ignored("sub/important.log", is_dir=False)
    assert not rules.is_ignored("sub/deeper/important.log", is_dir=False)
    assert rules.is_ignored("sub/other.log", is_dir=False)
    assert rules.is_ignored("important.log", is_dir=False)


def test_a_deeper_layer_without_a_match_leaves_the_decision_to_shallower_ones():
    rules = _rules(("", ["*.log"]), ("sub", ["*.tmp"]))
    assert rules.is_ignored("sub/x.log", is_dir=False)


def test_dir_only_pattern_does_not_match_files():
    rules = _rules(("", ["build/"]))
    assert rules.is_ignored("build", is_dir=True)
    assert rules.is_ignored("src/build", is_dir=True)
    assert not rules.is_ignored("build", is_dir=False)


def test_anchored_pattern_matches_only_at_its_directory():
    rules = _rules(("", ["/top.txt"]))
    assert rules.is_ignored("top.txt", is_dir=False)
    assert not rules.is_ignored("sub/top.txt", is_dir=False)


def test_nested_patterns_are_relative_to_their_directory():
    rules = _rules(("sub", ["/only-here", "gen/*.c"]))
    assert rules.is_ignored("sub/only-here", is_dir=False)
    assert not rules.is_ignored("only-here", is_dir=False)
    assert not rules.is_ignored("sub/deeper/only-here", is_dir=False)
    assert rules.is_ignored("sub/gen/x.c", is_dir=False)
    assert not rules.is_ignored("sub/gen/deeper/x.c", is_dir=False)
    assert not rules.is_ignored("gen/x.c", is_dir=False)


def test_a_layer_never_applies_to_its_own_directory():
    rules = _rules(("sub", ["sub", "*"]))
    assert not rules.is_ignored("sub", is_dir=True)


def test_pattern_with_inner_slash_is_anchored():
    rules = _rules(("", ["doc/frotz"]))
    assert rules.is_ignored("doc/frotz", is_dir=True)
    assert not rules.is_ignored("a/doc/frotz", is_dir=True)


# -- a pattern matches the entry itself, never through a parent ---------------


def test_a_negated_parent_does_not_re_include_what_is_below_it():
    lines = ["node_modules", "!vendor"]
    assert _ignored(lines, "vendor/node_modules", is_dir=True)
    assert _ignored(lines, "node_modules", is_dir=True)
    assert not _ignored(lines, "vendor", is_dir=True)
    assert not _ignored(lines, "vendor/v.js")


def test_a_pattern_naming_a_parent_is_no_match_for_its_entries():
    # The walk never reaches build/x (build is excluded); asked directly, the
    # rules judge build/x on its own path, which `build/` does not match.
    assert not _ignored(["build/"], "build/x")
    assert not _ignored(["/a"], "a/b")


def test_star_then_negated_dirs_re_includes_every_directory():
    lines = ["*", "!*/", "!*.txt"]
    assert not _ignored(lines, "d", is_dir=True)
    assert not _ignored(lines, "d/e", is_dir=True)
    assert not _ignored(lines, "d/e/f.txt")
    assert _ignored(lines, "d/e/f.py")
    assert _ignored(lines, "x.py")


def test_a_later_negated_directory_beats_star():
    assert not _ignored(["*", "!src/"], "src", is_dir=True)
    assert _ignored(["*", "!src/"], "src", is_dir=False)


def test_a_later_directory_pattern_beats_negated_star():
    assert _ignored(["!*", "build/"], "build", is_dir=True)
    assert not _ignored(["!*", "build/"], "a")


# -- double asterisks -----------------------------------------------------------


def test_double_star_matches_any_depth():
    rules = _rules(("", ["**/cache", "a/**/z"]))
    assert rules.is_ignored("cache", is_dir=False)
    assert rules.is_ignored("x/y/cache", is_dir=True)
    assert rules.is_ignored("a/z", is_dir=False)
    assert rules.is_ignored("a/b/c/z", is_dir=False)
    assert not rules.is_ignored("b/a/z", is_dir=False)
    assert not rules.is_ignored("a/bz", is_dir=False)


def test_trailing_double_star_matches_inside_but_not_the_directory():
    lines = ["logs/**", "!logs/keep"]
    assert not _ignored(lines, "logs", is_dir=True)
    assert _ignored(lines, "logs/a")
    assert _ignored(lines, "logs/sub", is_dir=True)
    assert not _ignored(lines, "logs/keep")


def test_trailing_double_star_slash_matches_only_directories_below():
    lines = ["d/**/"]
    assert not _ignored(lines, "d", is_dir=True)
    assert _ignored(lines, "d/e", is_dir=True)
    assert not _ignored(lines, "d/f")
    assert not _ignored(lines, "x/d/e", is_dir=True)


def test_double_star_everywhere_patterns():
    for lines in (["**"], ["/**"], ["*"]):
        assert _ignored(lines, "a")
        assert _ignored(lines, "a", is_dir=True)
    assert _ignored(["**/"], "a/b", is_dir=True)
    assert not _ignored(["**/"], "a/b")


def test_double_star_after_a_literal_part_counts_as_leading():
    # git compares the part before the first wildcard on its own, then
    # wildmatches the rest: `**/bar` after `foo` is a leading `**/`.
    lines = ["foo**/bar"]
    for path in ("foobar", "foo/bar", "fooX/bar", "foo/x/y/bar"):
        assert _ignored(lines, path), path
    assert not _ignored(lines, "foo/baz")


def test_double_star_inside_a_name_is_one_star():
    lines = ["a/x**y"]
    assert _ignored(lines, "a/xzzy")
    assert not _ignored(lines, "a/x/y")


def test_star_and_question_mark_never_match_a_slash_in_a_path_pattern():
    assert not _ignored(["a/*"], "a/b/c")
    assert not _ignored(["a?b/c"], "a/b/c")
    assert _ignored(["a?b/c"], "axb/c")


# -- bytes, brackets and classes --------------------------------------------------


def test_question_mark_matches_one_byte_not_one_character():
    assert not _ignored(["?.md"], "\u00e9.md")
    assert _ignored(["??.md"], "\u00e9.md")


def test_bracket_expressions():
    assert _ignored(["[]x]1"], "]1")
    assert _ignored(["[]x]1"], "x1")
    assert not _ignored(["[]x]1"], "y1")
    assert not _ignored(["[!a-c]2"], "b2")
    assert _ignored(["[^a-c]2"], "d2")
    assert _ignored(["[z-a]3"], "z3")  # the first member stays; the reversed range is empty
    assert not _ignored(["[z-a]3"], "a3")
    assert _ignored(["[a-c-e]"], "-")  # no range after a range
    assert not _ignored(["[a-c-e]"], "d")
    assert _ignored(["[\\]]"], "]")
    assert _ignored(["[[:]"], ":")  # no ":]": an ordinary '['
    assert not _ignored(["a[!x]b"], "a/b")


@pytest.mark.parametrize(
    ("cls", "inside", "outside"),
    [
        ("alpha", "aZ", "1_\u00e9"),
        ("digit", "09", "a"),
        ("alnum", "a0", "-"),
        ("space", " \t\r\n", "\f\x0b"),
        ("blank", " \t", "\n"),
        ("upper", "AZ", "a"),
        ("lower", "az", "A"),
        ("punct", "!~[", "a "),
        ("xdigit", "fA9", "g"),
        ("cntrl", "\x01\x7f", " "),
        ("print", " ~", "\x7f"),
        ("graph", "!~", " "),
    ],
)
def test_posix_classes_are_git_s_ascii_sets(cls, inside, outside):
    for char in inside:
        assert _ignored([f"x[[:{cls}:]]"], "x" + char), (cls, char)
    for char in outside:
        assert not _ignored([f"x[[:{cls}:]]"], "x" + char), (cls, char)


def test_non_utf8_names_match_their_raw_bytes():
    name = b"\xfe\xfd.bin".decode("utf-8", "surrogateescape")
    pattern = b"\xfe?.bin".decode("utf-8", "surrogateescape")
    assert _ignored([pattern], name)
    assert _ignored(["*.bin"], name)
    assert not _ignored(["\u00fe*"], name)


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("b" + "*a" * 6 + "*", "a" * 80),  # a name pattern: many stars, no match
        ("x/" + "*a" * 6 + "*b", "x/" + "a" * 80),  # a path pattern
        ("/".join(["**"] * 8) + "/x", "a/" * 80 + "y"),  # adjacent **/
        ("/".join(["**", "a"] * 8) + "/x", "a/" * 80 + "y"),  # **/ separated by names
    ],
)
def test_many_stars_do_not_backtrack_exponentially(pattern, path):
    # A plain backtracking translation takes from tens of seconds to hours here.
    rules = _rules(("", [pattern]))
    start = time.process_time()
    assert not rules.is_ignored(path, is_dir=False)
    assert time.process_time() - start < 2.0


def test_leftmost_placement_is_still_exact():
    # The cases where the leftmost place for the bytes after a `*` is not the
    # only one: it must still find matches that need a later place.
    assert _ignored(["*a*b"], "xaxab")
    assert _ignored(["x/*a*ab"], "x/aab")
    assert _ignored(["**/a/**/b"], "a/a/c/b")
    assert _ignored(["**/a*b"], "a/ab")
    assert not _ignored(["**/a*b"], "a/b")


# -- lines --------------------------------------------------------------------------


def test_trailing_spaces_unless_escaped_tabs_stay():
    assert _ignored(["a  "], "a")
    assert not _ignored(["a  "], "a  ")
    assert _ignored(["b\\ \\ "], "b  ")
    assert not _ignored(["b\\ \\ "], "b")
    assert _ignored(["c\t"], "c\t")
    assert not _ignored(["c\t"], "c")
    assert _ignored(["d\\\\  "], "d\\")


def test_comments_and_escapes():
    assert not _ignored(["# c"], "# c")
    assert _ignored(["\\#h"], "#h")
    assert _ignored(["\\!b"], "!b")
    assert _ignored([" #x"], " #x")  # only a '#' in the first column starts a comment


def test_a_nul_byte_ends_a_line():
    assert _ignored(["a\x00b"], "a")


def test_later_lines_win_so_treeframeignore_overrides_gitignore():
    # The scanner appends .treeframeignore lines after .gitignore lines.
    gitignore, treeframeignore = ["*.tmp", "!keep.tmp"], ["keep.tmp"]
    rules = _rules(("", [*gitignore, *treeframeignore]))
    assert rules.is_ignored("keep.tmp", is_dir=False)


def test_malformed_lines_match_nothing_and_warn():
    warnings: list[str] = []
    lines = ["*.o", "!", "!/", "a\\", "[ab", "[[:word:]]", "[z-a]", "/"]
    rules = IgnoreRules().with_directory("sub", lines, warnings)
    assert rules.is_ignored("sub/x.o", is_dir=False)
    for name in ("a", "a\\", "[ab", "w", "a\\b"):
        assert not rules.is_ignored(f"sub/{name}", is_dir=False)
    assert len(warnings) == 5, warnings
    assert all(w.startswith("invalid ignore pattern in sub: ") for w in warnings)
    assert all(w.endswith("it never matches)") for w in warnings)
    assert "an unknown class [:word:]" in warnings[4]


def test_sibling_rules_are_independent():
    base = _rules(("", ["*.a"]))
    left = base.with_directory("left", ["*.b"])
    assert left.is_ignored("left/x.b", is_dir=False)
    assert not base.is_ignored("right/x.b", is_dir=False)
    assert not left.is_ignored("right/x.b", is_dir=False)


def test_parse_ignore_file_normalizes_and_keeps_raw_bytes():
    nfd = unicodedata.normalize("NFD", "café")
    data = "\ufeff".encode() + f"{nfd}\r\n*.log\n".encode() + b"bad\xff\n"
    lines = parse_ignore_file(data)
    assert lines == ["café", "*.log", "bad\udcff"]


def test_parse_ignore_file_splits_at_lf_only():
    data = "a\fb\x0bc\u2028d\u0085e\rf\r\ng\r".encode()
    assert parse_ignore_file(data) == ["a\fb\x0bc\u2028d\u0085e\rf", "g"]
    assert parse_ignore_file(b"") == []
    assert parse_ignore_file(b"\n") == [""]
    assert parse_ignore_file(b"x\n\xef\xbb\xbfy") == ["x", "\ufeffy"]  # only a leading BOM goes


def test_matching_uses_only_the_standard_library():
    """Membership must not depend on what else is installed (docs/ARCHITECTURE.md)."""
    tree = ast.parse(Path(ignore.__file__).read_text(encoding="utf-8"))
    modules = {
        alias.name.partition(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {
        node.module.partition(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}, modules
