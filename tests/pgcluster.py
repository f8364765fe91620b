"""A private PostgreSQL cluster per test, which the test may stop and start under a running server.

The machine's PostgreSQL (tests/services.py) must stay up for everyone else,
so an outage is staged on a cluster of our own: ``initdb`` into a fresh
directory, ``pg_ctl start`` on a free loopback port with its socket in that
directory, ``stop``/``start`` at will, and always stopped and removed at
teardown. ``initdb`` and ``pg_ctl`` refuse to run as root; as root they run
in a user namespace mapped to ``nobody`` (the files stay root's on disk, so
cleanup needs no privileges). Without the binaries the test is skipped with
``service unavailable:``, which fails the run on CI (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import free_port, service_unavailable

__all__ = ["PgCluster", "pg_cluster"]

_START_ATTEMPTS = 3


def _as_unprivileged() -> list[str]:
    """A prefix that runs the PostgreSQL tools as a non-root user when we are root."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        service_unavailable("running as root and 'unshare' is missing: initdb refuses root")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        service_unavailable("running as root and there is no 'nobody' user to map to")
    assert unshare is not None
    return [
        unshare,
        "--user",
        f"--map-user={nobody.pw_uid}",
        f"--map-group={nobody.pw_gid}",
    ]


class PgCluster:
    """One private cluster: its port, data and socket directories, and start/stop."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "sock"
        self.log = root / "postgres.log"
        self.port = 0
        self._prefix = _as_unprivileged()
        self._initdb = shutil.which("initdb")
        self._pg_ctl = shutil.which("pg_ctl")

    def url(self, database: str = "postgres", **options: str) -> str:
        """The store URL of ``database`` on this cluster (user postgres, trust auth)."""
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._prefix, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def init(self) -> None:
        """``initdb`` (trust auth, user postgres) into a fresh data directory."""
        if self._initdb is None or self._pg_ctl is None:
            service_unavailable("initdb/pg_ctl are not on PATH: no private PostgreSQL cluster")
        assert self._initdb is not None
        self.socket_dir.mkdir()
        done = self._run(
            self._initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync"
        )
        if done.returncode != 0:
            raise AssertionError(f"initdb failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections (first start: a free port)."""
        assert self._pg_ctl is not None
        attempts = _START_ATTEMPTS if self.port == 0 else 1
        for attempt in range(attempts):
            port = self.port or free_port()
            options = (
                f"-p {port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            done = self._run(
                self._pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options,
                "-w", "-t", "60", "start",
            )  # fmt: skip
            if done.returncode == 0:
                self.port = port
                return
            if attempt + 1 == attempts:
                raise AssertionError(
                    f"pg_ctl start failed: {done.stdout}{done.stderr}\n{self.log_text()[-2000:]}"
                )

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m mode``: with ``fast`` every client connection is cut at once."""
        assert self._pg_ctl is not None
        done = self._run(self._pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        if done.returncode != 0:
            raise AssertionError(f"pg_ctl stop failed: {done.stdout}{done.stderr}")

    def _pids(self) -> list[int]:
        """The postmaster and its children (the backends serving connections)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    # /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces.
                    fields = (entry / "stat").read_text().rpartition(")")[2].split()
                    if int(fields[1]) == postmaster:
                        children.append(int(entry.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """SIGSTOP the whole server: connections stay open and nothing answers (a hung database)."""
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT what :meth:`freeze` stopped."""
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    @property
    def running(self) -> bool:
        """Whether the postmaster of this data directory is up."""
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        """Create ``name`` on the cluster; its store URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_text(self) -> str:
        """The server's log (for assertion messages)."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def destroy(self) -> None:
        """Stop the server however it can be stopped, then remove every file of the cluster."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            self.thaw()  # a frozen server cannot act on pg_ctl's signal
        if self.running and self._pg_ctl is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._run(self._pg_ctl, "-D", str(self.data), "-m", "immediate", "stop", timeout=30)
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():  # pg_ctl could not stop it: end the postmaster by its pid
            with contextlib.suppress(ValueError, IndexError, ProcessLookupError):
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
                time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A started private cluster on a free port; stopped and removed afterwards, whatever happened."""
    # A short path of our own: the socket path must fit in 107 bytes.
    cluster = PgCluster(Path(tempfile.mkdtemp(prefix="tfpg-")))
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
