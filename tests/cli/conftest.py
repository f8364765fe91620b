"""Fixtures for CLI tests: a scanned sample workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import SAMPLE, make_tree, run_cli


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    make_tree(root, SAMPLE)
    assert run_cli(root, "init", "--json").code == 0
    for agent, role in (
        ("a", "synthesis"),
        ("a1", "writer"),
        ("a2", "writer"),
        ("reader", "reader"),
    ):
        assert run_cli(root, "agent", "add", agent, "--role", role).code == 0
    scanned = run_cli(root, "scan", "--json")
    assert scanned.code == 0, scanned.stderr
    return root
