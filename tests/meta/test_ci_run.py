""".ci/run: a fresh venv per run, removed afterwards; non-zero on any failure or no tests.

The tools are stand-ins on PATH (a fake ``python3`` whose venv holds fake
``python``, ``ruff`` and ``mypy``), so the script's own logic runs for real
in a second, without installing anything.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FAKE_PYTHON3 = """#!/usr/bin/env bash
# python3 -m venv DIR: lay down a venv whose tools log their calls.
set -eu
[[ "$1 $2" == "-m venv" ]] || exit 99
venv="$3"
mkdir -p "$venv/bin"
echo "venv $venv" >> "$CI_LOG"
cat > "$venv/bin/activate" <<ACT
export PATH="$venv/bin:\\$PATH"
ACT
for tool in python ruff mypy; do
    cat > "$venv/bin/$tool" <<'TOOL'
#!/usr/bin/env bash
name="$(basename "$0")"
echo "$name $*" >> "$CI_LOG"
case "$name $*" in
    "python -m pip"*) exit 0 ;;
    "python -m pytest"*) exit "${FAKE_PYTEST_RC:-0}" ;;
    "ruff "*) exit "${FAKE_RUFF_RC:-0}" ;;
    "mypy"*) exit 0 ;;
esac
exit 98
TOOL
    chmod +x "$venv/bin/$tool"
done
"""


FAKE_APT_GET = """#!/usr/bin/env bash
echo "apt-get $*" >> "$CI_LOG"
"""


def _run(
    tmp_path: Path, *, chromium: bool = True, apt: bool = False, **rcs: str
) -> tuple[int, list[str], Path]:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "python3").write_text(FAKE_PYTHON3)
    (tools / "python3").chmod(0o755)
    if apt:
        (tools / "apt-get").write_text(FAKE_APT_GET)
        (tools / "apt-get").chmod(0o755)
    # Any executable stands in for an installed Chromium; a missing path is no Chromium.
    browser = tools / ("python3" if chromium else "no-chromium")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    log = tmp_path / "log"
    env = {
        "PATH": f"{tools}:{os.environ['PATH']}",
        "TMPDIR": str(scratch),
        "CI_LOG": str(log),
        "HOME": str(tmp_path),
        "TREEFRAME_TEST_CHROMIUM": str(browser),
        **rcs,
    }
    proc = subprocess.run(
        ["bash", str(REPO / ".ci" / "run"), "-x"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, log.read_text().splitlines(), scratch


def test_green_run_uses_a_fresh_venv_and_removes_it(tmp_path: Path):
    code, calls, scratch = _run(tmp_path)
    assert code == 0
    venv = calls[0].removeprefix("venv ")
    assert Path(venv).parent.parent == tmp_path / "tmp"
    steps = [c.split()[0] + " " + c.split()[-1] for c in calls[1:]]
    assert steps[-3:] == ["ruff benchmarks", "mypy mypy", "python -x"]
    assert any(c.startswith("python -m pip install") and "-e" in c for c in calls)
    pytest_call = calls[-1].split()
    # In parallel (xdist), the slowest tests listed, the caller's arguments last.
    assert pytest_call[pytest_call.index("-n") + 1] == "auto"
    assert "--durations=25" in pytest_call
    assert pytest_call[-1] == "-x"
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    "rcs",
    [{"FAKE_PYTEST_RC": "1"}, {"FAKE_PYTEST_RC": "5"}, {"FAKE_RUFF_RC": "1"}],
    ids=["tests-fail", "no-tests", "lint-fails"],
)
def test_failing_run_is_non_zero_and_still_cleans_up(tmp_path: Path, rcs: dict[str, str]):
    code, _, scratch = _run(tmp_path, **rcs)
    assert code != 0
    assert list(scratch.iterdir()) == []


def test_a_missing_chromium_is_installed_with_apt_get(tmp_path: Path):
    code, calls, _ = _run(tmp_path, chromium=False, apt=True)
    assert code == 0
    installs = [c for c in calls if c.startswith("apt-get")]
    assert installs == ["apt-get update -qq", "apt-get install -y -qq chromium"]
    assert calls.index(installs[-1]) < calls.index(next(c for c in calls if c.startswith("venv")))


def test_an_installed_chromium_is_left_alone(tmp_path: Path):
    code, calls, _ = _run(tmp_path, apt=True)
    assert code == 0
    assert not [c for c in calls if c.startswith("apt-get")]
