"""Issue 10's migration round trip: SQLite -> PostgreSQL -> LMDB -> SQLite, dump equal at every hop.

Every hop is the real ``treeframe migrate`` between store URLs, and the
canonical dump of each target must equal the first store's. PostgreSQL is a
fresh database of the machine's server (``pg_database``); LMDB a directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import run_cli
from tests.unit.storage.realistic import build
from treeframe.errors import ConfigError
from treeframe.storage.dump import dump_lines
from treeframe.storage.registry import open_store
from treeframe.storage.urls import sqlite_url


def _dump(url: str) -> list[str]:
    with open_store(url, create=False) as store:
        return list(dump_lines(store))


def _require_backend(url: str) -> None:
    """Skip while a backend of the round trip is not part of this build yet."""
    try:
        open_store(url).close()
    except ConfigError as exc:
        if "unknown store scheme" not in exc.message:
            raise
        pytest.skip(f"backend of {url.partition(':')[0]!r} not in this build: {exc.message}")


def test_sqlite_postgresql_lmdb_sqlite_keeps_the_canonical_dump(
    tmp_path: Path, pg_database: str
) -> None:
    first = sqlite_url(str(tmp_path / "first.db"))
    with open_store(first) as store:
        build(store, tmp_path, extra_files=40)
    lmdb = f"lmdb://{tmp_path / 'lmdb'}"
    last = sqlite_url(str(tmp_path / "last.db"))
    for url in (pg_database, lmdb):
        _require_backend(url)
    expected = _dump(first)
    assert len(expected) > 300
    hops = [(first, pg_database), (pg_database, lmdb), (lmdb, last)]
    for source, target in hops:
        result = run_cli(
            tmp_path, "migrate", "--from", source, "--to", target, "--batch", "16", "--json"
        )
        assert result.code == 0, result.stderr
        assert result.json()["verified"] is True
        assert _dump(target) == expected, f"{source} -> {target}"
    again = run_cli(tmp_path, "migrate", "--from", lmdb, "--to", last, "--json")
    assert again.code == 0, again.stderr
    assert again.json()["written"]["frame"] == 0
    assert _dump(last) == expected
