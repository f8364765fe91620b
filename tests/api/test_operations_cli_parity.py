"""The API answers what the CLI's ``--json`` prints for the same store, so a client can match it.

One workspace made by the real CLI (``init``, ``scan``); frames are put over
the API; then each read command runs as a subprocess and its JSON is compared
with the route's body, minus what the API adds (``api_version``,
``schema_version``, the record, ``content_b64``) and what differs by nature
(timings).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.routes_env import AGENT, AppClient, install_override
from tests.cli.helpers import SAMPLE, make_tree, run_cli
from treeframe.api import create_app
from treeframe.config.settings import Settings
from treeframe.hashing.ids import workspace_id
from treeframe.storage.registry import open_store, sqlite_url

VERSIONS = ("api_version", "schema_version")


def strip(body: dict[str, Any], *extra: str) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k not in (*VERSIONS, *extra)}
    for key in ("frames", "entries"):
        if isinstance(out.get(key), list):
            out[key] = [{k: v for k, v in item.items() if k != "content_b64"} for item in out[key]]
    return out


def drop_nulls(value: Any) -> Any:
    """The library's ``to_dict`` leaves out what the wire model sends as null."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


class Parity:
    def __init__(self, root: Path, http: AppClient, ws: str) -> None:
        self.root, self.http, self.base = root, http, f"/v1/workspaces/{ws}"

    def cli(self, *args: str) -> Any:
        result = run_cli(self.root, *args, "--json")
        assert result.code == 0, result.stderr
        return result.json()

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.base}{path}", **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()


@pytest.fixture
def parity(tmp_path: Path) -> Iterator[Parity]:
    root = tmp_path / "ws"
    make_tree(root, SAMPLE)
    assert run_cli(root, "init").code == 0
    assert run_cli(root, "scan").code == 0
    store = open_store(sqlite_url(root / ".treeframe" / "store.db"))
    try:
        app = install_override(create_app(Settings(), store))
        yield Parity(root, AppClient(app), workspace_id("default"))
    finally:
        store.close()


def put(p: Parity, path: str, text: str) -> str:
    body = {"node_id": path, "frame": {"frame_type": "note", "content": text}}
    frame_id: str = p.api("POST", "/frames", json=body)["frame_id"]
    return frame_id


def test_reads_match_the_cli_json(parity: Parity):
    p = parity
    fid = put(p, "src/app.py", "about the app")
    put(p, "src/app.py", "a second note")
    put(p, "src", "about src")

    cli_get = p.cli("get", "src/app.py")
    api_get = p.api("GET", "/nodes/by-path", params={"path": "src/app.py"})
    assert drop_nulls(strip(api_get, "node_record")) == drop_nulls(cli_get)

    cli_heads = p.cli("heads", "src/app.py")
    api_heads = p.api("GET", f"/nodes/{api_get['node_id']}/heads")
    assert {k: api_heads[k] for k in cli_heads} == cli_heads

    cli_node = p.cli("node", "src/app.py")
    record = p.api("GET", f"/nodes/{api_get['node_id']}/record")
    rebuilt = drop_nulls(strip(record))
    rebuilt.update(
        frame_count=api_heads["frame_count"],
        frame_set_root=api_heads["frame_set_root"],
        heads=api_heads["heads"],
        current=api_heads["current"],
    )
    assert rebuilt == drop_nulls(cli_node)

    cli_frame = p.cli("frame", fid)
    api_frame = p.api("GET", f"/frames/{fid}", params={"fresh": True})
    assert drop_nulls(strip(api_frame, "content_b64")) == drop_nulls(cli_frame)

    cli_proof = p.cli("proof", "src/app.py", fid)
    assert strip(p.api("GET", f"/nodes/{api_get['node_id']}/proof/{fid}")) == cli_proof

    cli_ls = p.cli("ls", "src")
    api_ls = p.api("GET", f"/nodes/{cli_ls['node_id']}/children")
    assert strip(api_ls, "kind", "next_after") == cli_ls


def test_operations_match_the_cli_json(parity: Parity):
    p = parity
    put(p, "src/app.py", "about the app")
    put(p, "src/lib/util.py", "about util")
    (p.root / "src" / "app.py").write_text("print('changed')\n", encoding="utf-8")
    assert run_cli(p.root, "scan").code == 0

    assert strip(p.api("GET", "/stale", params={"recursive": True})) == p.cli("stale", "-r")
    assert strip(p.api("GET", "/stale", params={"node": "src"})) == p.cli("stale", "src")

    cli_regen = p.cli("regenerate", ".", "-r", "--dry-run")
    api_regen = p.api("POST", "/regenerate", json={"node": "", "recursive": True, "dry_run": True})
    assert strip(api_regen, "duration_ms") == {
        k: v for k, v in cli_regen.items() if k != "duration_ms"
    }

    cli_compose = p.cli("compose", "src/lib/util.py", "--source", "node", "--source", "parent")
    api_compose = p.api(
        "POST", "/compose", json={"node": "src/lib/util.py", "sources": ["node", "parent"]}
    )
    assert drop_nulls(strip(api_compose)) == drop_nulls(cli_compose)
    assert api_compose["frames"][0]["agent_id"] == AGENT
