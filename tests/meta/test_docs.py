"""Docs stay true: every error code, CLI command and setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main  # noqa: TID251 (the app's own command tree)

import treeframe.errors as errors
from treeframe.cli.main import app
from treeframe.config import setting_docs

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _error_classes():
    return [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.TreeframeError)
    ]


def _documented_errors() -> dict[str, str]:
    """``code -> class name`` from the table rows of ERRORS.md (``| `code` | `Class` | ...``)."""
    text = (DOCS / "ERRORS.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)` \| `([A-Za-z]+)` \|", text, flags=re.MULTILINE)
    documented = dict(rows)
    assert len(documented) == len(rows), "a code is documented twice"
    return documented


def test_errors_md_lists_exactly_the_error_classes():
    in_code = {cls.code: cls.__name__ for cls in _error_classes()}
    documented = _documented_errors()
    assert {c: n for c, n in in_code.items() if documented.get(c) != n} == {}, "undocumented"
    assert {c: n for c, n in documented.items() if in_code.get(c) != n} == {}, "not in errors.py"


def test_errors_md_gives_each_code_its_http_status():
    text = (DOCS / "ERRORS.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)` \| `[A-Za-z]+` \| ([^|]*) \|", text, flags=re.MULTILINE)
    documented = {code: status.strip() for code, status in rows}
    in_code = {cls.code: str(cls.http_status) for cls in _error_classes()}
    assert documented == in_code


def test_error_classes_are_exported_and_drawn_in_the_module_tree():
    doc = errors.__doc__ or ""
    for cls in _error_classes():
        assert cls.__name__ in errors.__all__
        tree_row = rf"\b{cls.__name__}\s+{cls.code}\s+{cls.http_status}\b"
        assert re.search(tree_row, doc), cls.__name__


def test_error_codes_are_unique():
    codes = [cls.code for cls in _error_classes()]
    assert len(codes) == len(set(codes))


def _command_names(group, prefix=""):
    # The click tree: the root's commands are loaded lazily, reading them loads every module.
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names.extend(_command_names(command, f"{prefix}{name} "))
        else:
            names.append(prefix + name)
    return names


def test_every_cli_command_is_documented():
    text = (DOCS / "CLI.md").read_text(encoding="utf-8")
    names = _command_names(typer.main.get_command(app))
    assert "config show" in names
    missing = [name for name in names if f"## `treeframe {name}" not in text]
    assert missing == []


def test_every_setting_is_documented():
    text = (DOCS / "CONFIG.md").read_text(encoding="utf-8")
    keys = [doc.key for doc in setting_docs()]
    assert "view.hard_max_frames" in keys
    missing = [key for key in keys if f"`{key}`" not in text]
    assert missing == []


def test_troubleshooting_has_a_section_for_exactly_the_error_codes():
    text = (DOCS / "TROUBLESHOOTING.md").read_text(encoding="utf-8")
    listed = re.findall(r"^### `([a-z_]+)`$", text, flags=re.MULTILINE)
    assert len(listed) == len(set(listed)), "a code has two sections"
    in_code = {cls.code for cls in _error_classes()}
    assert sorted(in_code - set(listed)) == [], "codes without a troubleshooting section"
    assert sorted(set(listed) - in_code) == [], "sections for codes errors.py does not have"
