"""demo: build a sample tree, scan it, attach frames and print a view."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from treeframe.cli.common import JsonOpt
from treeframe.cli.output import console, print_json
from treeframe.engine.agents import AgentRecord
from treeframe.engine.principal import Principal
from treeframe.engine.types import FrameInput
from treeframe.errors import InvalidPath, InvalidRequest, WorkspaceNotFound
from treeframe.frames.views import ViewPolicy
from treeframe.workspace import Workspace
from treeframe.workspace.layout import find_root

__all__ = ["register"]

NOTES = {
    "README.md": "Project overview for the demo.",
    "src/app.py": "Entry point: prints hello.",
    "src/util.py": "add(a, b) helper.",
    "docs/guide.md": "How to run the app.",
}

SAMPLE = {
    "README.md": "# sample\nA tiny project for the treeframe demo.\n",
    "src/app.py": "def main():\n    print('hello')\n",
    "src/util.py": "def add(a, b):\n    return a + b\n",
    "docs/guide.md": "# Guide\nRun app.py.\n",
}


def _fresh_directory(directory: Path) -> Path:
    """``directory`` created or empty, and in no workspace; anything else is refused."""
    base = directory.absolute()
    if base.exists() and not base.is_dir():
        raise InvalidPath(f"demo: {base} exists and is not a directory")
    if base.is_dir() and any(base.iterdir()):
        raise InvalidRequest(
            f"demo: {base} is not empty; give a new or empty directory "
            "(or none for a temporary one)"
        )
    try:
        inside: Path | None = find_root(base)
    except WorkspaceNotFound:
        inside = None
    if inside is not None:
        raise InvalidRequest(f"demo: {base} is inside the workspace at {inside}")
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidPath(f"demo: cannot create {base}: {exc.strerror}") from exc
    return base


def demo(
    directory: Annotated[
        Path | None, typer.Argument(help="Where to build the sample (default: a temp dir).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Walk the whole workflow on a sample tree (embedded SQLite, no server).

    Scan, frames by two agents, a recursive summary synthesis, an edit and
    rescan, the stale report, regeneration, a view and verify. A DIRECTORY
    must be new or empty and outside any workspace: the demo never touches
    the user's files or workspaces.
    """
    if directory is None:
        base = Path(tempfile.mkdtemp(prefix="treeframe-demo-"))
    else:
        base = _fresh_directory(directory)
    # Files modified within the racy window are re-hashed on every scan (like
    # git); the sample is dated an hour back so the rescan shows the stat cache.
    past = time.time_ns() - 3600 * 10**9
    for rel, text in SAMPLE.items():
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        os.utime(target, ns=(past, past))
    with Workspace.init(base) as ws:
        api = ws.api
        owner = Principal.owner(ws.ws)
        api.agents.register(AgentRecord("demo-agent", "writer"))
        api.agents.register(AgentRecord("demo-reviewer", "writer"))
        api.agents.register(AgentRecord("demo-summarizer", "synthesis"))
        first = ws.scan(workers=1)
        writer = api.agent_principal("demo-agent")
        for rel, note in NOTES.items():
            api.put_frame(rel, FrameInput("summary", note.encode()), principal=writer)
        api.put_frame(
            "src/app.py",
            FrameInput("review", b"Add a docstring."),
            principal=api.agent_principal("demo-reviewer"),
        )
        synthesized = api.synthesize_branch(
            ".",
            "summary",
            "summary",
            principal=api.agent_principal("demo-summarizer"),
            recursive=True,
        )
        (base / "src/util.py").write_text("def add(a, b):\n    return b + a\n", encoding="utf-8")
        second = ws.scan(workers=1)
        stale = api.stale(".", recursive=True, principal=owner)
        regenerated = api.regenerate(".", recursive=True, principal=owner)
        app = api.get_node("src/app.py", ViewPolicy(max_frames=10), principal=owner)
        root = api.get_node(".", ViewPolicy(max_frames=1, types=("summary",)), principal=owner)
        report = ws.verify()
    result = {
        "directory": str(base),
        "first_root": first.root,
        "second_root": second.root,
        "files_rehashed_on_rescan": second.files_hashed,
        "synthesized": len(synthesized.frames),
        "stale": [f.to_dict() for f in stale.frames],
        "regenerated": regenerated.regenerated_count,
        "needs_agent": [f.path for f in regenerated.stale_unrecomputable],
        "view": app.to_dict(),
        "root_summary": root.frames[0].content.decode() if root.frames else "",
        "verify_ok": report.ok,
    }
    if json_out:
        print_json(result)
        return
    console.print(f"sample tree    {base}")
    console.print(f"scan           root {first.root} ({first.files} files)")
    console.print(
        f"frames         {len(NOTES) + 1} by agents, {len(synthesized.frames)} synthesized"
    )
    console.print(
        f"edit + rescan  root {second.root} ({second.files_hashed} file re-hashed)", markup=False
    )
    console.print(f"stale          {len(stale.frames)} frame(s):", markup=False)
    for item in stale.frames:
        kind = "regenerable" if item.recomputable else "needs its agent"
        console.print(
            f"                 {item.path or '.'} {item.frame_type} ({kind})", markup=False
        )
    console.print(f"regenerate     {regenerated.regenerated_count} frame(s) rebuilt")
    console.print("root summary:", markup=False)
    console.print(result["root_summary"], markup=False)
    console.print(f"verify         {'ok' if report.ok else 'PROBLEMS FOUND'}")
    console.print(f"next: cd {base} && treeframe ls src && treeframe get src --include-previous")


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(demo)
