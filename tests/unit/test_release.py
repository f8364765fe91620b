"""The release version is written once (release.py) and read everywhere else."""

import tomllib
from pathlib import Path

import treeframe
from treeframe.api.versioning import API_VERSION, SCHEMA_VERSION
from treeframe.release import VERSION, version_line


def test_pyproject_reads_the_version_from_release_py() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "treeframe.release.VERSION"
    }
    assert treeframe.__version__ == VERSION


def test_the_version_line_names_the_api_and_schema_versions() -> None:
    line = version_line()
    assert line.startswith(f"treeframe {VERSION} ")
    assert f"API v{API_VERSION}" in line
    assert f"schema {SCHEMA_VERSION}" in line
