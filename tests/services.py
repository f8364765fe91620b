"""Real services for tests: fresh PostgreSQL databases and a local S3 server (moto).

PostgreSQL is the machine's (127.0.0.1:5432, user ``postgres``, trust auth,
or ``TREEFRAME_TEST_PG`` = an admin DSN); each test that asks gets its own
database, created from nothing and dropped after. The S3 server is a
``moto_server`` subprocess on a free loopback port, one per test session.
Where a service is absent the test is skipped with ``service unavailable:``,
which ``tests/conftest.py`` turns into a failure on CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SERVICE_SKIP_PREFIX

__all__ = [
    "PG_ADMIN_DSN",
    "S3Server",
    "free_port",
    "pg_database",
    "postgres_url",
    "redis_prefix",
    "s3_server",
    "service_unavailable",
]

PG_ADMIN_DSN = os.environ.get("TREEFRAME_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def service_unavailable(reason: str) -> None:
    """Skip the running test because a service it needs is absent (a failure on CI)."""
    pytest.skip(f"{SERVICE_SKIP_PREFIX} {reason}")


REDIS_URL = "redis://127.0.0.1:6379/0"


def require_redis(url: str = REDIS_URL) -> str:
    """``url`` once its Redis answers a PING; the test is skipped (a failure on CI) otherwise."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.exceptions.RedisError as exc:
        service_unavailable(f"Redis at {url} is not reachable ({exc})")
    return url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test only; every key under it is deleted afterwards."""
    import redis

    require_redis()
    prefix = f"treeframe-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin() -> object:
    try:
        import psycopg
    except ImportError as exc:  # the postgres extra is part of the test extra
        service_unavailable(f"psycopg is not installed ({exc})")
        raise
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        service_unavailable(f"PostgreSQL at {PG_ADMIN_DSN} is not reachable ({exc})")
        raise


def postgres_url(database: str) -> str:
    """The store URL of ``database`` on the test server."""
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; its store URL. Dropped afterwards."""
    name = f"tf_test_{uuid.uuid4().hex[:16]}"
    admin = _admin()
    try:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
        yield postgres_url(name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


class S3Server:
    """A running ``moto_server``: its endpoint and a helper for fresh buckets."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self) -> object:
        """A boto3 S3 client for this server (dummy credentials, loopback only)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def bucket(self) -> str:
        """A new, empty bucket's name."""
        name = f"tf-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def url(self, bucket: str, prefix: str = "blobs") -> str:
        """The blob-store URL of ``bucket``/``prefix`` on this server."""
        return f"s3://{bucket}/{prefix}?endpoint_url={self.endpoint}&region=us-east-1"


def _moto_command() -> list[str] | None:
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script)]
    found = shutil.which("moto_server")
    return [found] if found else None


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One ``moto_server`` on a free loopback port for the whole session, stopped after."""
    command = _moto_command()
    if command is None:
        service_unavailable("moto_server (moto[server]) is not installed")
    assert command is not None
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                service_unavailable(f"moto_server exited: {log.read_text(errors='replace')[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    service_unavailable("moto_server did not start within 30 s")
                time.sleep(0.1)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
