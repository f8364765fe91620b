"""``/ui`` over HTTP, no browser: the files, their headers, the off switch, what the script calls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources

import pytest

from tests.api.test_app import AppClient
from treeframe.api import create_app, openapi_document
from treeframe.config.settings import Settings
from treeframe.storage.memory import MemoryStore

SCRIPT = resources.files("treeframe.api.ui").joinpath("app.js").read_text(encoding="utf-8")


def client(settings: Settings) -> AppClient:
    return AppClient(create_app(settings, MemoryStore("memory://")))


@pytest.fixture
def ui() -> Iterator[AppClient]:
    with client(Settings()) as app:
        yield app


@pytest.mark.parametrize("path", ["/ui", "/ui/"])
def test_the_page_is_served_at_ui(ui: AppClient, path: str) -> None:
    answer = ui.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/ui/app.js"></script>' in answer.text


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")],
)
def test_assets_are_served_with_their_types(ui: AppClient, name: str, media_type: str) -> None:
    answer = ui.get(f"/ui/{name}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == media_type
    assert answer.content == resources.files("treeframe.api.ui").joinpath(name).read_bytes()


def test_headers_revalidate_and_allow_only_the_server_itself(ui: AppClient) -> None:
    headers = ui.get("/ui").headers
    assert headers["cache-control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{64}"', headers["etag"])
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy
    assert "unsafe" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_a_current_copy_is_answered_304(ui: AppClient) -> None:
    etag = ui.get("/ui/app.js").headers["etag"]
    again = ui.get("/ui/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert ui.get("/ui/app.js", headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("name", ["nope.js", "__init__.py", "..%2F__init__.py", "index.htm"])
def test_only_the_page_files_are_served(ui: AppClient, name: str) -> None:
    answer = ui.get(f"/ui/{name}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_the_explorer_is_not_part_of_the_api_document() -> None:
    assert not [path for path in openapi_document()["paths"] if path.startswith("/ui")]


def test_server_ui_false_turns_it_off() -> None:
    with client(Settings.model_validate({"server": {"ui": False}})) as off:
        answer = off.get("/ui")
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
        assert off.get("/ui/app.js").status_code == 404


def test_the_script_never_parses_data_as_html() -> None:
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "Function(",
    ):
        assert sink not in SCRIPT


def _template(path: str) -> str:
    """A route with every parameter (``{x}`` or a JS ``${x}``) spelled ``{}``."""
    return re.sub(r"\$?\{[^}]*\}", "{}", path)


def test_the_script_calls_only_public_get_routes() -> None:
    document = openapi_document()["paths"]
    public = {_template(path) for path, methods in document.items() if "get" in methods}
    # every call but wsApi's own definition, which prefixes the workspace to its ${path}
    called = [p for p in re.findall(r"\bapi\(\s*[\"`]([^\"`]+)[\"`]", SCRIPT) if "${path}" not in p]
    called += [
        "/workspaces/{}" + p for p in re.findall(r"\bwsApi\(ws,\s*[\"`]([^\"`]+)[\"`]", SCRIPT)
    ]
    assert len(called) >= 9
    assert {f"/v1{_template(path)}" for path in called} <= public
