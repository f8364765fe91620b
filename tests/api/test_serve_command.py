"""``treeframe serve``'s refusals and ``--print-openapi``, in process (no server is started)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from treeframe.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def test_print_openapi_is_the_committed_document(capsys: pytest.CaptureFixture[str]):
    assert main(["serve", "--print-openapi"]) == 0
    printed = capsys.readouterr().out
    assert printed == (REPO / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert json.loads(printed)["paths"]


def test_without_the_server_extra_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    assert main(["serve", "--store", "memory://"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'treeframe[server]'" in err
    assert "[backend_unavailable]" in err


@pytest.mark.parametrize(
    "spec", ["no-colon", "treeframe.api:nothing_here", "treeframe.nope:create_app", ":x"]
)
def test_a_bad_app_factory_is_a_config_error(spec: str, capsys: pytest.CaptureFixture[str]):
    assert main(["serve", "--store", "memory://", "--app", spec]) == 1
    assert "[config_error]" in capsys.readouterr().err


@pytest.mark.parametrize("cache", ["bogus", "http://127.0.0.1:6379", ""])
def test_a_bad_cache_url_is_one_config_error_line(cache: str, capsys: pytest.CaptureFixture[str]):
    assert main(["serve", "--store", "memory://", "--cache", cache]) == 1
    err = capsys.readouterr().err
    assert "[config_error]" in err
    assert "--cache" in err or "cache.url" in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_a_memory_store_cannot_be_shared_by_workers(capsys: pytest.CaptureFixture[str]):
    assert main(["serve", "--store", "memory://", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "needs a shared store" in err
    assert "[config_error]" in err


def test_serve_sweeps_the_metrics_and_jobs_directories_of_dead_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server killed with SIGKILL cannot clean up; the next ``serve`` removes what it left."""
    import os
    import subprocess
    import tempfile

    from treeframe.cli.commands import serve

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead, alive = gone.pid, os.getpid()
    made = {
        name: tmp_path / name
        for name in (
            f"treeframe-metrics-{dead}-abc",
            f"treeframe-jobs-{dead}-abc",
            f"treeframe-metrics-{alive}-abc",
            f"treeframe-jobs-{alive}-abc",
            "treeframe-jobs-legacyname",  # no pid: not ours to judge
        )
    }
    for path in made.values():
        path.mkdir()
    serve._sweep_dead_servers_dirs()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        name for name in made if str(dead) not in name
    )
