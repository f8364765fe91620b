"""The core never pulls in the CLI stack, and only the edges read the environment."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "treeframe"


def test_core_import_does_not_load_cli_libraries():
    code = (
        "import sys, treeframe.workspace, treeframe.storage, treeframe.frames.views,"
        " treeframe.config;"
        "bad = [m for m in ('typer', 'rich') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_only_edges_read_the_environment():
    allowed_packages = {"cli"}
    # The one core module that turns files and TREEFRAME_* variables into settings.
    allowed_files = {Path("config/loading.py")}
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in allowed_packages or rel in allowed_files:
            continue
        if re.search(r"os\.environ|os\.getenv", path.read_text(encoding="utf-8")):
            offenders.append(str(rel))
    assert offenders == []


def test_settings_model_does_no_io():
    text = (SRC / "config" / "settings.py").read_text(encoding="utf-8")
    assert re.search(r"\bimport os\b|tomllib|open\(|read_text|read_bytes", text) is None


def test_no_test_skips_on_an_in_repo_module():
    """``importorskip`` of treeframe (or tests) would turn a broken import into a skip."""
    tests = SRC.parents[1] / "tests"
    offenders = [
        f"{path.relative_to(tests)}:{number}"
        for path in tests.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"importorskip\(\s*[\"'](treeframe|tests)\b", line)
    ]
    assert offenders == []


ARCHITECTURE = SRC.parents[1] / "docs" / "ARCHITECTURE.md"
_ENTRY = re.compile(r"(?<![\w/.-])((?:[a-z_]+/)*(?:[a-z_]+\.py|[a-z_]+/))(?=[,\s]|$)")


def _layers() -> dict[str, int]:
    """Entries of the ```layers block of ARCHITECTURE.md: module file or package dir -> layer."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block is not None, "ARCHITECTURE.md has no ```layers block"
    layers: dict[str, int] = {}
    current = -1
    for line in block.group(1).splitlines():
        head = re.match(r"L(\d+)\s", line)
        if head:
            current = int(head.group(1))
        for entry in _ENTRY.findall(line):
            assert entry not in layers, f"{entry} is placed twice"
            layers[entry] = current
    return layers


def _layer_of(rel: str, layers: dict[str, int]) -> int | None:
    """The layer of a module (path relative to src/treeframe): its own entry or its package's."""
    if rel in layers:
        return layers[rel]
    parts = rel.split("/")
    for depth in range(len(parts) - 1, 0, -1):
        package = "/".join(parts[:depth]) + "/"
        if package in layers:
            return layers[package]
    return None


def _module_file(dotted: str) -> str | None:
    """``treeframe.a.b`` -> ``a/b.py`` or ``a/b/__init__.py`` (relative to src/treeframe)."""
    parts = dotted.split(".")[1:]
    if not parts:
        return "__init__.py"
    base = "/".join(parts)
    if (SRC / f"{base}.py").is_file():
        return f"{base}.py"
    if (SRC / base / "__init__.py").is_file():
        return f"{base}/__init__.py"
    return None


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every treeframe module a file imports, with the line: ``from a import b`` counts b if it is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("treeframe")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("treeframe"):
                continue
            found.append((node.lineno, node.module))
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if _module_file(sub) is not None and not sub.endswith("__init__"):
                    found.append((node.lineno, sub))
    return found


def test_every_module_has_a_layer_in_architecture_md():
    layers = _layers()
    unplaced = [
        str(p.relative_to(SRC))
        for p in sorted(SRC.rglob("*.py"))
        if _layer_of(str(p.relative_to(SRC)), layers) is None
    ]
    assert unplaced == [], "give these modules a layer in ARCHITECTURE.md's ```layers block"


def test_imports_follow_the_layer_order_of_architecture_md():
    layers = _layers()
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        rel = str(path.relative_to(SRC))
        own = _layer_of(rel, layers)
        assert own is not None, rel
        for line, dotted in _imports(path):
            target = _module_file(dotted)
            assert target is not None, f"{rel}:{line} imports unknown module {dotted}"
            theirs = _layer_of(target, layers)
            assert theirs is not None, target
            if theirs > own:
                upward.append(f"{rel}:{line} (L{own}) imports {dotted} (L{theirs})")
    assert upward == []


def test_layering_check_catches_an_upward_import(tmp_path):
    # The checker itself must be able to fail: a core module importing the CLI is caught.
    layers = _layers()
    assert _layer_of("engine/context_api.py", layers) < _layer_of("cli/main.py", layers)
    assert _layer_of("frames/frame.py", layers) == 0
    assert _layer_of("storage/sqlite.py", layers) == 1
    probe = tmp_path / "probe.py"
    probe.write_text("from treeframe.cli.main import main\nimport treeframe.storage.sqlite\n")
    assert [d for _, d in _imports(probe)] == [
        "treeframe.cli.main",
        "treeframe.storage.sqlite",
    ]


def test_the_rest_api_stays_at_the_edge():
    """The core never loads the server stack, the CLI loads it only for ``serve``, api/ never imports cli/."""
    code = (
        "import sys, treeframe.workspace, treeframe.engine, treeframe.storage, treeframe.config;"
        "import treeframe.cli.main;"
        "bad = [m for m in ('fastapi', 'starlette', 'uvicorn', 'treeframe.api') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    offenders = [
        f"{path.relative_to(SRC)}:{line}"
        for path in sorted((SRC / "api").rglob("*.py"))
        for line, dotted in _imports(path)
        if dotted.startswith("treeframe.cli")
    ]
    assert offenders == []


def test_providers_load_httpx_only_for_a_remote_provider():
    code = (
        "import sys;"
        "from treeframe.config import Settings;"
        "from treeframe.providers import provider_for;"
        "provider_for('offline', Settings());"
        "print('httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
