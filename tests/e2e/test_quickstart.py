"""docs/QUICKSTART.md runs verbatim: a fresh venv, the real install, a real server, a stale frame.

Every block after a ``<!-- quickstart -->`` marker runs, in page order, in one
``bash -e`` process (``<!-- quickstart: NAME -->`` blocks are saved as the file
NAME instead, as the page tells the reader to). The checkout is copied first
(its tracked and unignored files), so `pip install '.[server]'` builds the
wheel as a newcomer's clone would, without writing into this tree. The only
substitutions are the ones the page names: ``HOME`` is a temporary directory
and ``PORT`` a free loopback port. pip keeps its own cache and configuration,
so only the first run downloads anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "QUICKSTART.md"
BLOCK = re.compile(
    r"<!-- quickstart(?:: (?P<file>[\w.-]+))? -->\n```(?P<lang>\w+)\n(?P<body>.*?)```", re.S
)
#: The page promises 30 minutes to a newcomer reading it; the commands take a fraction.
BUDGET_SECONDS = 30 * 60
#: The bound of this test (the install is most of it; about a minute with a warm pip cache).
TIMEOUT_SECONDS = 300


def _script() -> str:
    """The page's marked blocks as one shell script, in order."""
    parts = []
    for match in BLOCK.finditer(PAGE.read_text(encoding="utf-8")):
        body = match["body"]
        if match["file"]:
            assert "QUICKSTART_EOF" not in body
            parts.append(f"cat > {match['file']} <<'QUICKSTART_EOF'\n{body}QUICKSTART_EOF\n")
        else:
            assert match["lang"] == "sh", match["lang"]
            parts.append(body)
    assert len(parts) >= 8, "QUICKSTART.md lost its quickstart markers"
    return "".join(parts)


def _checkout_copy(target: Path) -> Path:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing to install the quickstart from")
    for name in filter(None, listed.decode().split("\0")):
        source, dest = REPO / name, target / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            dest.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, dest)
    return target


def _environment(home: Path) -> dict[str, str]:
    real_home = Path.home()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TREEFRAME_", "PYTEST_")) and k not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PORT=str(free_port()))
    # pip keeps the machine's cache and index configuration: the page's install is the
    # real one, but it need not download again what an earlier run fetched.
    env.setdefault("PIP_CACHE_DIR", str(real_home / ".cache" / "pip"))
    xdg = Path(os.environ.get("XDG_CONFIG_HOME", real_home / ".config"))
    for config in (xdg / "pip" / "pip.conf", real_home / ".pip" / "pip.conf"):
        if config.is_file():
            env.setdefault("PIP_CONFIG_FILE", str(config))
            break
    return env


@pytest.mark.slow
def test_quickstart_runs_verbatim_and_sees_the_stale_frame(tmp_path: Path) -> None:
    checkout = _checkout_copy(tmp_path / "checkout")
    home = tmp_path / "home"
    home.mkdir()
    script = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + _script()
    started = time.monotonic()
    # A session of its own, so a timeout also ends the server the page started.
    with subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=checkout,
        env=_environment(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    elapsed = time.monotonic() - started
    print(f"QUICKSTART.md ran in {elapsed:.1f} s (fresh venv and install included)")
    log = home / "tf-demo" / "serve.log"
    server_log = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else ""
    assert process.returncode == 0, f"{stderr[-4000:]}\n--- serve.log ---\n{server_log}"
    assert elapsed < BUDGET_SECONDS
    out = stdout

    # Track A (curl): the put answered a frame, the stale report lists it, not recomputable.
    reports = [json.loads(line) for line in out.splitlines() if line.startswith('{"api_version"')]
    put = next(r for r in reports if r.get("created") is True)
    stale = next(r for r in reports if "frames" in r and "node_id" in r and "policy" not in r)
    assert [(f["path"], f["frame_id"], f["recomputable"]) for f in stale["frames"]] == [
        ("app.py", put["frame_id"], False)
    ]

    # Track B (Python): fetched, appended, then the same frame reported stale.
    appended = re.search(r"^appended ([0-9a-f]{64})$", out, re.M)
    assert appended is not None
    assert re.search(r"^fetched app\.py [0-9a-f]{64}$", out, re.M)
    assert re.search(r"^stale: app\.py summary alice ", out, re.M)

    # Track C (CLI): the old summary served marked stale, and the report counts it.
    assert "[stale] [previous version]" in out
    assert "Prints hi." in out
    assert re.search(r"^1 stale frame: 0 recomputable, 1 needs its agent$", out, re.M), out[-2000:]
