"""The release version has one spelling everywhere it is written."""

import tomllib
from pathlib import Path

import treeframe
from treeframe.release import VERSION


def test_pyproject_package_and_release_agree() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    assert tomllib.loads(pyproject.read_text())["project"]["version"] == VERSION
    assert treeframe.__version__ == VERSION
