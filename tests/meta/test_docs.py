"""Docs stay true: every error code, CLI command and setting is documented."""

from __future__ import annotations

from pathlib import Path

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


def test_every_error_code_is_documented():
    text = (DOCS / "ERRORS.md").read_text(encoding="utf-8")
    missing = [cls.code for cls in _error_classes() if f"`{cls.code}`" not in text]
    assert missing == []


def test_error_codes_are_unique():
    codes = [cls.code for cls in _error_classes()]
    assert len(codes) == len(set(codes))


def _command_names(typer_app, prefix=""):
    names = [prefix + (cmd.name or cmd.callback.__name__) for cmd in typer_app.registered_commands]
    for group in typer_app.registered_groups:
        group_name = group.name or group.typer_instance.info.name
        names.extend(_command_names(group.typer_instance, f"{prefix}{group_name} "))
    return names


def test_every_cli_command_is_documented():
    text = (DOCS / "CLI.md").read_text(encoding="utf-8")
    names = _command_names(app)
    assert "config show" in names
    missing = [name for name in names if f"## `treeframe {name}" not in text]
    assert missing == []


def test_every_setting_is_documented():
    text = (DOCS / "CONFIG.md").read_text(encoding="utf-8")
    keys = [doc.key for doc in setting_docs()]
    assert "view.hard_max_frames" in keys
    missing = [key for key in keys if f"`{key}`" not in text]
    assert missing == []
