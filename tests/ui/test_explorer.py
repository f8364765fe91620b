"""The web explorer end to end: headless Chromium against a real ``treeframe serve``.

Each test logs in through the page as a user would, then checks what the
views show against the workspace the fixture made (see conftest.py). With
TREEFRAME_UPDATE_SCREENSHOTS=1 the tests also rewrite docs/images/explorer-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.client.test_cli_remote import checked, in_process
from tests.ui.conftest import EDITED, HOSTILE, WS, World, screenshots_wanted

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def shoot(page: Any, name: str) -> None:
    if screenshots_wanted():
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"explorer-{name}.png"), full_page=True)


def log_in(page: Any, world: World, token: str | None = None) -> None:
    page.goto(f"{world.server.url}/ui")
    page.fill("#token", token or world.admin_token)
    page.click("button[type=submit]")


def open_workspace(page: Any, world: World) -> None:
    log_in(page, world)
    page.click("text=default")
    expect(page.locator("main h1")).to_have_text(re.compile(r"^/"))


def test_tree_shows_frame_counts_and_stale_markers(page: Any, world: World) -> None:
    open_workspace(page, world)
    rows = page.locator("tr[data-path]")
    expect(rows).to_have_count(3)  # README.md, docs, src
    src = page.locator('tr[data-path="src"]')
    expect(src).to_have_class("stale")
    expect(src).to_contain_text("3 stale")  # src, src/db and the edited file
    readme = page.locator('tr[data-path="README.md"]')
    expect(readme.locator("td.frames")).to_have_text("1")
    expect(readme).not_to_have_class("stale")
    src.locator("a").click()
    expect(page.locator("main h1")).to_contain_text("src")
    expect(page.locator('tr[data-path="src/db"]')).to_contain_text("2 stale")
    expect(page.locator('tr[data-path="src/app.py"] td.frames')).to_have_text("1")
    shoot(page, "tree")


def test_node_page_shows_frames_heads_content_basis_and_proof(page: Any, world: World) -> None:
    open_workspace(page, world)
    page.click('tr[data-path="src"] a')
    page.click('tr[data-path="src/db"] a')
    page.click('tr[data-path="src/db/models.py"] a')
    expect(page.locator("article.frame")).to_have_count(2)  # summary and review, both heads
    frame = page.locator('article.frame:has(h3:has-text("summary"))')
    expect(frame.locator(".badge.head")).to_have_text("head")
    expect(frame.locator("pre.content")).to_have_text("The User model.")
    frame.locator("summary").click()
    expect(frame.locator("details dl")).to_contain_text("node")
    frame.locator("button.show-proof").click()
    expect(frame.locator(".proof h4")).to_contain_text("valid")
    expect(frame.locator(".proof li")).to_have_count(1)  # two frames: one sibling digest
    shoot(page, "node")


def test_edited_file_shows_its_previous_frame_as_stale(page: Any, world: World) -> None:
    open_workspace(page, world)
    page.click('tr[data-path="src"] a')
    page.click('tr[data-path="src/db"] a')
    expect(page.locator(f'tr[data-path="{EDITED}"]')).to_contain_text("1 stale")
    page.click(f'tr[data-path="{EDITED}"] a')
    frame = page.locator("article.frame")
    expect(frame).to_have_class(re.compile(r"\bstale\b"))
    expect(frame.locator(".badge.stale")).to_have_text("stale")
    expect(frame).to_contain_text("previous version")


def test_root_history_diffs_two_roots(page: Any, world: World) -> None:
    open_workspace(page, world)
    page.click("nav >> text=Root history")
    expect(page.locator("tr[data-seq]")).to_have_count(2)
    shoot(page, "roots")
    page.click("text=Diff the two roots")
    expect(page.locator("main h1")).to_contain_text("Diff")
    changed = page.locator("tr[data-path]")
    expect(changed).to_have_count(1)
    expect(changed).to_have_attribute("data-path", EDITED)
    expect(changed).to_contain_text("changed")
    expect(page.locator("dl.facts")).to_contain_text("files changed")
    shoot(page, "diff")


def test_stale_view_lists_the_subtree_stale_frames(page: Any, world: World) -> None:
    open_workspace(page, world)
    page.click("nav >> text=Stale")
    expect(page.locator("#stale-within tr[data-path]")).to_have_count(4)  # /, src, src/db, the file
    expect(page.locator(f'tr[data-path="{EDITED}"]')).to_contain_text("node changed")
    shoot(page, "stale")
    page.goto(page.url + "/docs")
    expect(page.locator("main h1")).to_have_text("Stale frames under docs")
    expect(page.locator("#stale-within .notice")).to_contain_text("Nothing stale here")
    expect(page.locator('#stale-above tr[data-path=""]')).to_have_count(1)  # the root's synthesis
    page.click('.crumbs a:has-text("/")')
    expect(page.locator("#stale-within tr[data-path]")).to_have_count(4)


def test_audit_log_lists_the_writes(page: Any, world: World) -> None:
    open_workspace(page, world)
    page.click("nav >> text=Audit log")
    rows = page.locator("tr[data-seq]")
    expect(rows.first).to_contain_text("workspace.create")
    expect(page.locator('tr[data-seq]:has-text("frame.put")')).to_have_count(6)
    expect(page.locator('tr[data-seq]:has-text("frame.put")').first).to_contain_text("alice")
    shoot(page, "audit")


def test_audit_log_tells_a_reader_it_needs_admin(page: Any, world: World) -> None:
    log_in(page, world, world.reader_token)
    page.click("text=default")
    page.click("nav >> text=Audit log")
    expect(page.locator("#audit-denied")).to_contain_text("admin")
    expect(page.locator("#error")).to_be_hidden()


def test_a_bad_token_shows_the_unauthorized_error(page: Any, world: World) -> None:
    log_in(page, world, "tft_0123456789abcdef_" + "x" * 43)
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("data-code", "unauthorized")
    expect(error).to_contain_text("unauthorized: invalid bearer token")
    expect(page.locator("#token")).to_be_visible()  # still at the login form
    assert page.evaluate("sessionStorage.length") == 0
    shoot(page, "login")


def test_a_token_revoked_mid_session_returns_to_the_login(page: Any, world: World) -> None:
    made = ("token", "create", "--workspace", "default", "--agent", "rita", "--perm", "read")
    issued = checked(in_process(world.root, *made, "--json")).json()
    log_in(page, world, issued["token"])
    page.click("text=default")
    expect(page.locator('tr[data-path="src"]')).to_be_visible()
    checked(in_process(world.root, "token", "revoke", issued["token_id"]))
    page.click("nav >> text=Stale")
    expect(page.locator("#error")).to_have_attribute("data-code", "unauthorized")
    expect(page.locator("#token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_hostile_frame_content_is_shown_as_text(page: Any, world: World) -> None:
    open_workspace(page, world)
    page.click('tr[data-path="src"] a')
    page.click('tr[data-path="src/app.py"] a')
    content = page.locator("article.frame pre.content")
    expect(content).to_have_text(HOSTILE)
    assert content.locator("img, script").count() == 0
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__pwned === undefined")


@pytest.mark.parametrize("fragment", [f"w/{WS}/node/..", "w/../tree", f"w/{WS}/node/{'A' * 64}"])
def test_an_id_in_the_url_must_be_hex_before_it_reaches_a_route(
    page: Any, world: World, fragment: str
) -> None:
    log_in(page, world)
    expect(page.locator("tr[data-ws]")).to_have_count(1)
    page.goto(f"{world.server.url}/ui#/{fragment}")
    expect(page.locator("#error")).to_have_attribute("data-code", "invalid_id")
