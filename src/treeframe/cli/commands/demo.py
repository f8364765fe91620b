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
from treeframe.frames.views import ViewPolicy
from treeframe.workspace import Workspace

__all__ = ["register"]

SAMPLE = {
    "README.md": "# sample\nA tiny project for the treeframe demo.\n",
    "src/app.py": "def main():\n    print('hello')\n",
    "src/util.py": "def add(a, b):\n    return a + b\n",
    "docs/guide.md": "# Guide\nRun app.py.\n",
}


def demo(
    directory: Annotated[
        Path | None, typer.Argument(help="Where to build the sample (default: a temp dir).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a sample tree, scan it, attach frames and print a view (embedded SQLite)."""
    base = directory if directory is not None else Path(tempfile.mkdtemp(prefix="treeframe-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    # Files modified within the racy window are re-hashed on every scan (like
    # git); the sample is dated an hour back so the rescan shows the stat cache.
    past = time.time_ns() - 3600 * 10**9
    for rel, text in SAMPLE.items():
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        os.utime(target, ns=(past, past))
    with Workspace.init(base) as ws:
        ws.api.agents.register(AgentRecord("demo-agent", "synthesis"))
        ws.api.agents.register(AgentRecord("demo-reviewer", "writer"))
        first = ws.scan(workers=1)
        app = ws.resolve("src/app.py", base)
        ws.put_frame(app, "summary", "demo-agent", b"Entry point: prints hello.")
        ws.put_frame(app, "review", "demo-reviewer", b"Looks fine; add a docstring.")
        ws.put_frame(ws.resolve("src", base), "summary", "demo-agent", b"Application sources.")
        (base / "src/util.py").write_text("def add(a, b):\n    return b + a\n", encoding="utf-8")
        second = ws.scan(workers=1)
        view = ws.view(app, ViewPolicy(max_frames=10))
        frames = view.frames
        report = ws.verify()
    result = {
        "directory": str(base),
        "first_root": first.root,
        "second_root": second.root,
        "files_rehashed_on_rescan": second.files_hashed,
        "view": {
            "path": app.path,
            "node_id": app.node_id,
            "frame_count": view.frame_count,
            "frames": [
                {
                    "frame_id": f.frame.frame_id,
                    "type": f.frame.frame_type,
                    "agent": f.frame.agent_id,
                    "content": f.content.decode(),
                }
                for f in frames
            ],
        },
        "verify_ok": report.ok,
    }
    if json_out:
        print_json(result)
        return
    console.print(f"sample tree   {base}")
    console.print(f"scan 1 root   {first.root} ({first.files} files)")
    console.print(
        f"scan 2 root   {second.root} (edited src/util.py; {second.files_hashed} file re-hashed)"
    )
    console.print(f"view of {app.path} ({view.frame_count} frames):")
    for item in frames:
        f = item.frame
        console.print(f"  #{f.seq} {f.frame_type:8} {f.agent_id:14} {item.content.decode()}")
    console.print(f"verify        {'ok' if report.ok else 'PROBLEMS FOUND'}")
    console.print(f"next: cd {base} && treeframe ls src && treeframe get src/app.py")


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(demo)
