"""docs/OPERATIONS.md "Profiling a request": the example app prints a request's spans, store calls inside."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import REPO, issue_token, make_store, start_server, stop_server
from treeframe.hashing.ids import workspace_id


def test_console_spans_example_prints_the_request_and_its_store_calls(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store.db")
    token = issue_token(store, "prof", "alice")
    server = start_server(
        tmp_path,
        store,
        app="console_spans:create_app",
        env={"PYTHONPATH": f"{REPO}:{REPO / 'docs' / 'examples'}"},
    )
    try:
        answer = httpx.get(
            f"{server.url}/v1/workspaces/{workspace_id('prof')}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 200
        deadline = time.monotonic() + 10
        while '"treeframe.request"' not in server.log():
            if time.monotonic() > deadline:
                pytest.fail(f"no request span printed:\n{server.log()}")
            time.sleep(0.05)
    finally:
        stop_server(server)
    spans = [json.loads(block) for block in re.findall(r"^\{\n.*?^\}$", server.log(), re.S | re.M)]
    request = next(
        s
        for s in spans
        if s["name"] == "treeframe.request"
        and s["attributes"].get("http.route") == "/v1/workspaces/{ws}"
    )
    trace_id = request["context"]["trace_id"]
    inner = {s["name"] for s in spans if s["context"]["trace_id"] == trace_id}
    assert {"store.get_token", "store.get_workspace", "store.workspace_counts"} <= inner
