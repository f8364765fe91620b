"""A real ``treeframe serve`` subprocess on a free loopback port, always stopped afterwards."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

import httpx
import pytest

from treeframe.storage.registry import open_store, sqlite_url

REPO = Path(__file__).resolve().parents[2]
PROBE_APP = "tests.api.probe:probe_app"
_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
START_TIMEOUT = 30.0


@dataclass
class Server:
    """A running server: its base URL, process, store file and log."""

    url: str
    process: subprocess.Popen[bytes]
    store_path: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def make_store(path: Path) -> Path:
    """A real SQLite store with the default workspace, as ``init`` would leave it."""
    from treeframe.hashing.ids import workspace_id
    from treeframe.testing.factories import workspace_info

    with open_store(sqlite_url(path), create=True) as store:
        store.create_workspace(workspace_info(workspace_id("default"), "default"))
    return path


def start_server(
    tmp: Path,
    store_path: Path,
    *,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    app: str | None = PROBE_APP,
    port: int = 0,
    store_url: str | None = None,
    new_session: bool = False,
) -> Server:
    """Start ``treeframe serve`` and wait until ``/v1/health/live`` answers.

    ``port=0`` lets the OS pick a free port and reads it from the log (no race);
    with several workers uvicorn logs the configured port, so pass ``free_port()``.
    ``store_url`` serves another store than the SQLite file at ``store_path``;
    ``new_session`` starts it in its own process group (``os.killpg`` then reaches
    its workers too).
    """
    log_path = tmp / f"serve-{time.monotonic_ns()}.log"
    command = [sys.executable, "-m", "treeframe", "serve", "--port", str(port)]
    command += ["--store", store_url or sqlite_url(store_path), *args]
    if app is not None:
        command += ["--app", app]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env or {})
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=new_session,
        )
    server = Server("", process, store_path, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}:\n{server.log()}")
            match = _RUNNING.search(server.log())
            if match:
                server.url = f"http://127.0.0.1:{match.group(1)}"
                if _live(server.url):
                    break
            time.sleep(0.05)
        else:
            raise AssertionError(f"serve did not start:\n{server.log()}")
    except BaseException:
        stop_server(server)
        raise
    return server


def _live(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/health/live", timeout=5).status_code == 200
    except httpx.TransportError:
        return False  # workers not accepting yet


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_server(server: Server, sig: int = signal.SIGTERM) -> int:
    """Stop the server (gracefully, then by force) and return its exit status."""
    if server.process.poll() is None:
        server.process.send_signal(sig)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


ALL_PERMS = "read,write,synthesize,admin"


def issue_token(
    store_path: Path,
    ws_name: str | None,
    agent: str,
    perms: str | Iterable[str] = ALL_PERMS,
    *,
    scope: Literal["workspace", "all"] = "workspace",
    expires_in: timedelta | None = None,
) -> str:
    """A real token in the SQLite store at ``store_path``, as ``treeframe token create`` makes it.

    ``ws_name`` is created (owned by ``agent``) when absent, as the CLI does;
    ``scope="all"`` makes the token reach every workspace its agent holds
    rights in (``ws_name`` may then be None). Returns the token string.
    """
    from treeframe.engine.access import LOCAL_OWNER, AccessService, parse_permissions
    from treeframe.engine.workspaces import WorkspaceService

    with open_store(sqlite_url(store_path), create=False) as store:
        access = AccessService(WorkspaceService(store))
        ws = None
        if ws_name is not None:
            info, _ = access.create_workspace(ws_name, actor=LOCAL_OWNER, owner=agent)
            ws = info.workspace_id
        issued = access.create_token(
            actor=LOCAL_OWNER,
            agent_id=agent,
            permissions=parse_permissions(perms),
            scope=ws if scope == "workspace" else None,
            expires_in=expires_in,
        )
    return issued.token


@pytest.fixture
def make_token() -> Callable[..., str]:
    """:func:`issue_token`: ``make_token(store_path, ws_name, agent, perms, scope=...)`` -> token."""
    return issue_token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One probe server per module, with a small body limit (64 KiB)."""
    tmp = tmp_path_factory.mktemp("serve")
    running = start_server(
        tmp,
        make_store(tmp / "store.db"),
        env={"TREEFRAME_SERVER__MAX_BODY_BYTES": str(64 * 1024)},
    )
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http
