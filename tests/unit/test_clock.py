"""One created_at precision everywhere: ISO-8601 UTC, microseconds, ``Z`` (docs/SCHEMAS.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from treeframe.clock import utc_now
from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.types import FrameInput
from treeframe.hashing.ids import workspace_id
from treeframe.storage.memory import MemoryStore
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree

CREATED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
WS = workspace_id("clock")


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def test_utc_now_has_microseconds_and_z():
    before = datetime.now(UTC)
    stamp = utc_now()
    after = datetime.now(UTC)
    assert CREATED_AT.fullmatch(stamp), stamp
    assert before - timedelta(microseconds=1) <= _parse(stamp) <= after


def test_scan_and_frames_record_the_same_precision(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("print('a')\n", encoding="utf-8")
    store = MemoryStore()
    store.create_workspace(workspace_info(WS, "clock"))
    api = ContextAPI(store, WS, root=tmp_path)
    api.agents.register(AgentRecord("writer", "writer"))
    api.agents.register(AgentRecord("synth", "synthesis"))

    entry = scan_tree(tmp_path, store, WS, workers=1).entry
    put = store.get_frame(WS, api.put_frame("src/a.py", FrameInput("summary", b"A."), "writer"))
    assert put is not None
    (synthesized,) = api.synthesize_branch("src", "summary", "synth").frames

    stamps = {
        "root history": entry.created_at,
        "put frame": put.created_at,
        "synthesized frame": synthesized.created_at,
    }
    for what, stamp in stamps.items():
        assert CREATED_AT.fullmatch(stamp), f"{what}: {stamp}"
