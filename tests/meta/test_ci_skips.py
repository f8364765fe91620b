"""CI=true fails a run whose service-backed test was skipped, serially and under xdist.

Under xdist the skips happen in worker processes; the controller's
``pytest_sessionfinish`` (tests/conftest.py) must still see them. A real
pytest run over a one-test file whose PostgreSQL is a closed port proves it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]

PROBE = """
def test_needs_postgres(pg_database):
    assert pg_database

def test_plain():
    assert True
"""


def _pytest(tmp_path: Path, workers: str, ci: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TREEFRAME_", "PYTEST_"))}
    env.update(
        CI=ci,
        PYTHONPATH=str(REPO),
        TREEFRAME_TEST_PG=f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
    )
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
    command += ["-p", "tests.conftest", "-n", workers, "test_probe.py"]
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_skip_for_a_missing_service_fails_a_ci_run(tmp_path: Path, workers: str):
    proc = _pytest(tmp_path, workers, "true")
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout + proc.stderr
    assert "1 passed, 1 skipped" in proc.stdout
    assert "CI=true but 1 test(s) skipped for a missing service" in proc.stdout


def test_outside_ci_the_same_skip_passes(tmp_path: Path):
    proc = _pytest(tmp_path, "2", "false")
    assert proc.returncode == pytest.ExitCode.OK, proc.stdout + proc.stderr
    assert "service unavailable:" in proc.stdout
