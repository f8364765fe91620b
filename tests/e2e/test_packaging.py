"""The wheel and sdist build, install into a clean venv, and give the CLI and library.

`pip install treeframe` must be enough for the embedded default (the demo,
scan, generate with the offline provider); everything else is an extra.
The build runs once per session (it is the slowest part); each check then
reads the built files or the venv they were installed into.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from treeframe.release import VERSION, version_line

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = {"server", "postgres", "lmdb", "s3", "redis", "otel", "all"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel (and its required dependencies) installed."""
    env = tmp_path_factory.mktemp("venv") / "v"
    venv.EnvBuilder(with_pip=True).create(env)
    (wheel,) = dist.glob("*.whl")
    subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return env


def test_the_wheel_and_sdist_are_named_by_the_one_version(dist: Path):
    names = sorted(p.name for p in dist.iterdir())
    assert names == [f"treeframe-{VERSION}-py3-none-any.whl", f"treeframe-{VERSION}.tar.gz"]


def test_the_wheel_ships_every_data_file_of_the_package(dist: Path):
    (wheel,) = dist.glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "src"
    wanted = {
        path.relative_to(package).as_posix()
        for path in (package / "treeframe").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert wanted - shipped == set()


def test_the_wheel_declares_the_extras(dist: Path):
    (wheel,) = dist.glob("*.whl")
    archive = zipfile.ZipFile(wheel)
    (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    text = archive.read(metadata).decode()
    declared = {
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Provides-Extra:")
    }
    assert declared >= EXTRAS
    assert f"Version: {VERSION}" in text


def test_the_sdist_builds_the_same_package(dist: Path):
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    prefix = f"treeframe-{VERSION}/"
    assert prefix + "pyproject.toml" in names
    assert prefix + "src/treeframe/release.py" in names
    assert prefix + "README.md" in names


def test_the_clean_install_runs_the_cli_and_the_embedded_default(installed: Path, tmp_path: Path):
    tf = installed / "bin" / "treeframe"
    version = subprocess.run([str(tf), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout == version_line() + "\n"
    demo = subprocess.run(
        [str(tf), "demo", str(tmp_path / "demo")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "a.py").write_text("def f():\n    return 1\n")
    for args in (
        ["init"],
        ["scan"],
        ["agent", "add", "describer", "--role", "writer", "--capability", "synthesize"],
        ["generate", ".", "--agent", "describer", "-r"],
        ["verify"],
    ):
        done = subprocess.run(
            [str(tf), *args], cwd=tmp_path / "proj", capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (args, done.stderr)
    library = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import treeframe; print(treeframe.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert library.stdout.strip() == VERSION


def test_the_core_install_has_no_server_or_driver_dependencies(installed: Path):
    listed = subprocess.run(
        [str(installed / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    for heavy in ("fastapi", "uvicorn", "psycopg", "boto3", "httpx", "mcp", "lmdb"):
        assert f"{heavy}==" not in listed, heavy
