"""Docs stay true: every error code and every CLI command is documented."""

from __future__ import annotations

from pathlib import Path

import treeframe.errors as errors
from treeframe.cli.main import app

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _error_classes():
    return [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.TreeframeError)
    ]


def test_every_error_code_is_documented():
    text = (DOCS / "ERRORS.md").read_text(encoding="utf-8")
    missing = [cls.code for cls in _error_classes() if f"`{cls.code}`" not in text]
    assert missing == []


def test_error_codes_are_unique():
    codes = [cls.code for cls in _error_classes()]
    assert len(codes) == len(set(codes))


def test_every_cli_command_is_documented():
    text = (DOCS / "CLI.md").read_text(encoding="utf-8")
    names = [cmd.name or cmd.callback.__name__ for cmd in app.registered_commands]
    missing = [name for name in names if f"## `treeframe {name}" not in text]
    assert missing == []
