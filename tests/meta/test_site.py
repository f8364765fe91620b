"""The documentation site builds with --strict, lists every page, and the README links each one."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.meta.api_reference import OPENAPI, PAGE, render

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PAGES = sorted(path.name for path in DOCS.glob("*.md"))


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _nav_pages(entries: list) -> list[str]:
    pages: list[str] = []
    for entry in entries:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_site_builds_strict_without_a_warning(tmp_path):
    result = _build(REPO / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    assert (tmp_path / "site" / "QUICKSTART" / "index.html").is_file()


def test_strict_build_fails_on_a_broken_link_or_anchor(tmp_path):
    # Proves the build above would catch what it claims to: a copy with one bad link fails.
    shutil.copytree(DOCS, tmp_path / "docs", symlinks=False)
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    for broken in ("[gone](NO_SUCH_PAGE.md)", "[gone](CLI.md#no-such-section)"):
        page = tmp_path / "docs" / "index.md"
        page.write_text((DOCS / "index.md").read_text(encoding="utf-8") + f"\n{broken}\n")
        result = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
        assert result.returncode != 0, broken


def test_every_page_is_in_the_nav_once():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_pages(config["nav"])
    assert sorted(nav) == PAGES
    assert len(nav) == len(set(nav))


def test_readme_and_the_site_home_link_every_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    home = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in PAGES:
        if page == "index.md":
            continue
        target = "CHANGELOG.md" if page == "CHANGELOG.md" else f"docs/{page}"
        assert f"]({target})" in readme, f"README does not link {target}"
        assert f"]({page})" in home, f"docs/index.md does not link {page}"


def test_the_changelog_page_is_the_root_changelog():
    assert (DOCS / "CHANGELOG.md").resolve() == (REPO / "CHANGELOG.md").resolve()


def test_api_reference_renders_the_committed_openapi():
    expected = render(json.loads(OPENAPI.read_text(encoding="utf-8")))
    assert PAGE.read_text(encoding="utf-8") == expected, (
        "docs/API_REFERENCE.md is stale: python -m tests.meta.api_reference"
    )


def test_api_reference_has_every_route_and_schema():
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    text = PAGE.read_text(encoding="utf-8")
    for path, item in document["paths"].items():
        for method in item:
            assert f"### `{method.upper()} {path}`" in text
    for name in document["components"]["schemas"]:
        assert re.search(rf"^### {re.escape(name)}$", text, re.M), name
