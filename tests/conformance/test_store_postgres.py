"""The packaged conformance suite over PostgresStore (a real server on 127.0.0.1:5432).

One database per test session, created and dropped here; each test starts
from an empty store by a DELETE of every table's rows, an identity restart
and a DROP of the per-workspace frame sequences: on these near-empty tables
that measured several times cheaper than TRUNCATE, and far cheaper than a
database per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.services import PG_ADMIN_DSN, postgres_url, service_unavailable
from treeframe.storage.base import StorageBackend
from treeframe.storage.postgres import PostgresStore
from treeframe.testing.conformance import StorageBackendConformance, StoreFactory


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """One database for the whole session (its schema is created by the first store)."""
    name = f"tf_conf_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        service_unavailable(f"PostgreSQL at {PG_ADMIN_DSN} is not reachable ({exc})")
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
        try:
            yield postgres_url(name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def reset(url: str) -> None:
    """Empty every treeframe table, restart workspace IDs, drop the frame sequences."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                b"SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                b" AND tablename <> 'schema_migrations'"
            )
        ]
        for table in tables:
            conn.execute(f"DELETE FROM {table}".encode())
        conn.execute(b"ALTER TABLE workspaces ALTER COLUMN id RESTART")
        for (seq,) in conn.execute(
            b"SELECT sequencename FROM pg_sequences WHERE sequencename LIKE 'frame_seq_%'"
        ).fetchall():
            conn.execute(f"DROP SEQUENCE {seq}".encode())


@pytest.fixture
def store_factory(pg_session_url: str) -> StoreFactory:
    def make(_directory: Path) -> StorageBackend:
        store = PostgresStore(pg_session_url, url=pg_session_url)
        reset(pg_session_url)
        return store

    return make


class TestPostgresStore(StorageBackendConformance):
    """Every seam over PostgreSQL."""
