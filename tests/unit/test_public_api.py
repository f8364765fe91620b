"""The package's public names: listed once, each resolved from its module on first use."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import treeframe


def test_all_is_sorted_and_every_name_resolves():
    assert treeframe.__all__ == sorted(treeframe.__all__)
    for name in treeframe.__all__:
        value = getattr(treeframe, name)
        home = importlib.import_module(treeframe._HOMES[name])
        assert value is getattr(home, name), name
    assert set(treeframe._HOMES) == set(treeframe.__all__)
    assert set(treeframe.__all__) <= set(dir(treeframe))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = treeframe.nope  # type: ignore[attr-defined]


def test_importing_the_package_imports_no_engine():
    code = (
        "import sys, treeframe;"
        "print(sorted(m for m in sys.modules if m.startswith('treeframe.')));"
        "from treeframe import Workspace;"
        "print('treeframe.workspace' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.splitlines()
    assert first == "['treeframe.release']"
    assert second == "True"
