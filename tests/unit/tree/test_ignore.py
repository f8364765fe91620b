from __future__ import annotations

import unicodedata

import pytest

from treeframe.tree.ignore import IgnoreRules, parse_ignore_file


def _rules(*layers: tuple[str, list[str]]) -> IgnoreRules:
    rules = IgnoreRules()
    for base, lines in layers:
        rules = rules.with_directory(base, lines)
    return rules


def test_no_pattern_files_means_no_pattern_work():
    rules = IgnoreRules().with_directory("", ["# only a comment", ""])
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


def test_deeper_file_overrides_shallower_one():
    rules = _rules(("", ["*.log"]), ("sub", ["!important.log"]))
    assert not rules.is_ignored("sub/important.log", is_dir=False)
    assert rules.is_ignored("sub/other.log", is_dir=False)


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
    assert not rules.is_ignored("gen/x.c", is_dir=False)


def test_pattern_with_inner_slash_is_anchored():
    rules = _rules(("", ["doc/frotz"]))
    assert rules.is_ignored("doc/frotz", is_dir=True)
    assert not rules.is_ignored("a/doc/frotz", is_dir=True)


def test_double_star_matches_any_depth():
    rules = _rules(("", ["**/cache/**", "a/**/z"]))
    assert rules.is_ignored("x/y/cache/f", is_dir=False)
    assert rules.is_ignored("a/z", is_dir=False)
    assert rules.is_ignored("a/b/c/z", is_dir=False)


def test_later_lines_win_so_treeframeignore_overrides_gitignore():
    # The scanner appends .treeframeignore lines after .gitignore lines.
    gitignore, treeframeignore = ["*.tmp", "!keep.tmp"], ["keep.tmp"]
    rules = _rules(("", [*gitignore, *treeframeignore]))
    assert rules.is_ignored("keep.tmp", is_dir=False)


def test_invalid_pattern_is_skipped_with_a_warning():
    warnings: list[str] = []
    rules = IgnoreRules().with_directory("sub", ["*.o", "!", "[z-a]"], warnings)
    assert rules.is_ignored("sub/x.o", is_dir=False)
    assert len(warnings) == 2
    assert all(w.startswith("invalid ignore pattern in sub") for w in warnings)


def test_sibling_rules_are_independent():
    base = _rules(("", ["*.a"]))
    left = base.with_directory("left", ["*.b"])
    assert left.is_ignored("left/x.b", is_dir=False)
    assert not base.is_ignored("right/x.b", is_dir=False)


def test_parse_ignore_file_normalizes_and_keeps_raw_bytes():
    nfd = unicodedata.normalize("NFD", "café")
    data = "\ufeff".encode() + f"{nfd}\r\n*.log\n".encode() + b"bad\xff\n"
    lines = parse_ignore_file(data)
    assert lines == ["café", "*.log", "bad\udcff"]
