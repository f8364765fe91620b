"""POST /v1/workspaces/import through a real server: 201, idempotent, 422, 413, refusals."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import Server, issue_token, make_store, start_server, stop_server
from tests.snapshot.workspaces import WS, populate
from treeframe.snapshot.export import export_snapshot
from treeframe.storage.registry import open_store, sqlite_url


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    with open_store(sqlite_url(tmp_path_factory.mktemp("src") / "s.db"), create=True) as store:
        populate(store)
        out = io.BytesIO()
        export_snapshot(store, WS, out, compression="gzip")
    assert len(out.getvalue()) < 64 * 1024  # under the module server's body limit
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A probe server whose import body limit is 64 KiB."""
    tmp = tmp_path_factory.mktemp("serve")
    running = start_server(
        tmp, make_store(tmp / "store.db"), env={"TREEFRAME_SERVER__MAX_IMPORT_BYTES": "65536"}
    )
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(scope="module")
def admin(server: Server) -> str:
    return issue_token(server.store_path, "default", "importer", scope="all")


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def post(http: httpx.Client, token: str, body: bytes, **params: str) -> httpx.Response:
    return http.post(
        "/v1/workspaces/import",
        content=body,
        params=params,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
    )


def test_import_then_again(http: httpx.Client, admin: str, archive: bytes) -> None:
    first = post(http, admin, archive, workspace="imported")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"]
    assert body["root_moved"]
    assert body["written"]["frames"] > 0
    again = post(http, admin, archive, workspace="imported")
    assert again.status_code == 200, again.text  # nothing created: 200 (docs/API.md)
    assert set(again.json()["written"].values()) == {0}


def test_damaged_archive_is_422_with_problems(
    server: Server, http: httpx.Client, admin: str, archive: bytes
) -> None:
    response = post(http, admin, archive[: len(archive) // 2], workspace="damaged")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "snapshot_invalid"
    assert error["problems"]
    with open_store(sqlite_url(server.store_path)) as store:
        from treeframe.hashing.ids import workspace_id

        assert store.get_workspace(workspace_id("damaged")) is None


def test_over_the_cap_is_413(http: httpx.Client, admin: str) -> None:
    response = post(http, admin, b"\0" * (65 * 1024))
    assert response.status_code == 413, response.text


def test_a_scoped_token_is_refused(server: Server, http: httpx.Client, archive: bytes) -> None:
    scoped = issue_token(server.store_path, "scoped-ws", "someone")
    response = post(http, scoped, archive, workspace="elsewhere")
    assert response.status_code == 403, response.text


def test_no_write_on_the_existing_target_is_refused(
    server: Server, http: httpx.Client, archive: bytes
) -> None:
    issue_token(server.store_path, "theirs", "owner-b")
    other = issue_token(server.store_path, None, "intruder", scope="all")
    response = post(http, other, archive, workspace="theirs")
    # As POST /v1/workspaces: a name held by a workspace the caller holds nothing in.
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "conflict"


def test_a_conflict_is_409_and_nothing_written(
    server: Server, http: httpx.Client, admin: str, archive: bytes
) -> None:
    from treeframe.hashing.ids import workspace_id
    from treeframe.storage.dump import dump_lines

    issue_token(server.store_path, "conflicting", "importer")
    ws = workspace_id("conflicting")
    with open_store(sqlite_url(server.store_path)) as store:
        store.put_agent(ws, "writer", b'{"agent_id":"writer","role":"reader"}')
        before = [line for line in dump_lines(store, ws) if '"kind":"audit"' not in line]
    response = post(http, admin, archive, workspace="conflicting")
    assert response.status_code == 409, response.text
    conflicts = response.json()["error"]["conflicts"]
    assert [(c["kind"], c["key"]) for c in conflicts] == [("agent", "writer")]
    with open_store(sqlite_url(server.store_path)) as store:
        # Only the refusal is recorded, in the audit log.
        assert [line for line in dump_lines(store, ws) if '"kind":"audit"' not in line] == before
