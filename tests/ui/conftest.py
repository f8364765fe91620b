"""A served workspace worth exploring, and the system's Chromium driven by Playwright.

The workspace is made the way a user makes one: the CLI scans a tree and
issues tokens, frames and a synthesis are written over the API (so they are
audited), then a file is edited and rescanned: two roots, stale frames.
Chromium is Debian's (``/usr/bin/chromium``, or ``TREEFRAME_TEST_CHROMIUM``);
Playwright never downloads a browser. Without either, the browser tests skip as a missing service (which
fails CI, see tests/conftest.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server, start_server, stop_server
from tests.api.routes_env import SAMPLE, write_tree
from tests.client.test_cli_remote import checked, in_process
from tests.conftest import SERVICE_SKIP_PREFIX
from treeframe.hashing.ids import workspace_id

WS = workspace_id("default")
# Debian's package; TREEFRAME_TEST_CHROMIUM names another build (.ci/run installs the package).
CHROMIUM = Path(os.environ.get("TREEFRAME_TEST_CHROMIUM", "/usr/bin/chromium"))
HOSTILE = '<img src=x onerror="window.__pwned = true"><script>window.__pwned = true</script>'
EDITED = "src/db/pool.py"
# The browser tests of a module together stay under a minute (they take about 10 s).
BUDGET_SECONDS = 60.0


@dataclass
class Browser:
    """A launched Chromium and when its module's budget runs out (``time.monotonic``)."""

    chromium: Any
    deadline: float


@dataclass
class World:
    root: Path
    server: Server
    admin_token: str
    reader_token: str


def _token(root: Path, agent: str, perms: str) -> str:
    made = ("token", "create", "--workspace", "default", "--agent", agent, "--perm", perms)
    token: str = checked(in_process(root, *made, "--json")).json()["token"]
    return token


def _post(http: httpx.Client, route: str, body: dict[str, Any]) -> None:
    answer = http.post(f"/v1/workspaces/{WS}/{route}", json=body)
    assert answer.status_code in (200, 201), answer.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("explorer")
    root = tmp / "tree"
    root.mkdir()
    write_tree(root, SAMPLE)
    checked(in_process(root, "init"))
    checked(in_process(root, "scan"))
    grant = ("acl", "grant", "--workspace", "default", "--agent", "alice")
    checked(in_process(root, *grant, "--perm", "read,write,synthesize,admin"))
    checked(
        in_process(
            root, "acl", "grant", "--workspace", "default", "--agent", "rita", "--perm", "read"
        )
    )
    admin, reader = (
        _token(root, "alice", "read,write,synthesize,admin"),
        _token(root, "rita", "read"),
    )
    server = start_server(tmp, root / ".treeframe" / "store.db", app=None)
    try:
        headers = {"Authorization": f"Bearer {admin}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            summaries = {
                "README.md": "Project readme: what the project is.",
                "src/app.py": HOSTILE,
                "src/db/models.py": "The User model.",
                EDITED: "The connection pool (none yet).",
                "docs/guide.md": "How to use it.",
            }
            for path, text in summaries.items():
                frame = {"frame_type": "summary", "content": text}
                _post(http, "frames", {"node_id": path, "frame": frame})
            review = {"frame_type": "review", "content": "Needs an email field."}
            _post(http, "frames", {"node_id": "src/db/models.py", "frame": review})
            _post(http, "synthesize", {"node": "", "frame_type": "summary", "recursive": True})
        (root / EDITED).write_text("# Pool\nPOOL = make_pool()\n", encoding="utf-8")
        checked(in_process(root, "scan"))
        yield World(root, server, admin, reader)
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, one per module (each test opens its own context)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{SERVICE_SKIP_PREFIX} no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"{SERVICE_SKIP_PREFIX} playwright is not installed (the test extra)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield Browser(launched, time.monotonic() + BUDGET_SECONDS)
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Any]:
    """A fresh tab (empty sessionStorage) that fails the test on any script error it sees.

    Every wait is bounded by what is left of the module's budget (10 s at most).
    """
    left = browser.deadline - time.monotonic()
    if left <= 0:
        pytest.fail(f"the explorer's browser tests ran past their {BUDGET_SECONDS:.0f} s budget")
    context = browser.chromium.new_context(viewport={"width": 1100, "height": 720})
    context.set_default_timeout(min(10.0, left) * 1000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    try:
        yield tab
    finally:
        context.close()
    assert errors == []


def screenshots_wanted() -> bool:
    """TREEFRAME_UPDATE_SCREENSHOTS=1 rewrites the PNGs of docs/images/ (EXPLORER.md)."""
    return os.environ.get("TREEFRAME_UPDATE_SCREENSHOTS") == "1"
