"""One created_at precision everywhere: ISO-8601 UTC, microseconds, ``Z`` (docs/SCHEMAS.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from treeframe.clock import Clock, FixedClock, SystemClock, utc_now
from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.principal import Principal
from treeframe.engine.runtime import Runtime
from treeframe.engine.types import FrameInput
from treeframe.hashing.ids import workspace_id
from treeframe.storage.memory import MemoryStore
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree
from treeframe.workspace.working_tree import WorkingTreeContents

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
    api = ContextAPI(store, WS, files=WorkingTreeContents(tmp_path))
    api.agents.register(AgentRecord("writer", "writer"))
    api.agents.register(AgentRecord("synth", "synthesis"))

    entry = scan_tree(tmp_path, store, WS, workers=1).entry
    put = store.get_frame(
        WS,
        api.put_frame(
            "src/a.py", FrameInput("summary", b"A."), principal=api.agent_principal("writer")
        ),
    )
    assert put is not None
    (synthesized,) = api.synthesize_branch(
        "src", "summary", principal=api.agent_principal("synth")
    ).frames

    stamps = {
        "root history": entry.created_at,
        "put frame": put.created_at,
        "synthesized frame": synthesized.created_at,
    }
    for what, stamp in stamps.items():
        assert CREATED_AT.fullmatch(stamp), f"{what}: {stamp}"


# -- the injectable clock ---------------------------------------------------

T0 = "2030-01-02T03:04:05.678901Z"


def test_system_clock_is_utc_now():
    before = datetime.now(UTC)
    stamp = SystemClock().now()
    assert CREATED_AT.fullmatch(stamp), stamp
    assert before - timedelta(microseconds=1) <= _parse(stamp) <= datetime.now(UTC)
    assert isinstance(SystemClock(), Clock)


def test_fixed_clock_is_fixed_or_steps():
    fixed = FixedClock(T0)
    assert isinstance(fixed, Clock)
    assert [fixed.now() for _ in range(3)] == [T0, T0, T0]
    stepping = FixedClock(_parse(T0), step=timedelta(microseconds=250))
    assert [stepping.now() for _ in range(3)] == [
        T0,
        "2030-01-02T03:04:05.679151Z",
        "2030-01-02T03:04:05.679401Z",
    ]
    with pytest.raises(ValueError, match="timezone"):
        FixedClock(datetime(2030, 1, 1))  # naive on purpose


def test_frames_and_scans_record_exactly_the_injected_time(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("print('a')\n", encoding="utf-8")
    store = MemoryStore()
    store.create_workspace(workspace_info(WS, "clock"))
    clock = FixedClock(_parse(T0), step=timedelta(seconds=1))
    api = ContextAPI(store, WS, files=WorkingTreeContents(tmp_path), runtime=Runtime(clock=clock))
    api.agents.register(AgentRecord("writer", "writer"))
    api.agents.register(AgentRecord("synth", "synthesis"))

    first = scan_tree(tmp_path, store, WS, workers=1, clock=clock).entry
    writer = api.agent_principal("writer")
    put = api.put_frame_record("src/a.py", FrameInput("summary", b"A."), principal=writer)
    synth = api.agent_principal("synth")
    (synthesized,) = api.synthesize_branch("src", "summary", principal=synth).frames
    api.put_frame("src/a.py", FrameInput("summary", b"A, again."), principal=writer)
    report = api.regenerate("src", principal=Principal.owner(WS))
    (rebuilt,) = report.frame_ids
    regenerated = store.get_frame(WS, rebuilt)
    assert regenerated is not None

    # Every write reads the clock twice: its frame, then its audit entry.
    assert [first.created_at, put.frame.created_at, synthesized.created_at] == [
        T0,
        "2030-01-02T03:04:06.678901Z",
        "2030-01-02T03:04:08.678901Z",
    ]
    # The second put took 10 (its entry 11); the regenerated synthesis is the next tick.
    assert regenerated.created_at == "2030-01-02T03:04:12.678901Z"
    assert [e.time for e in store.iter_audit(WS)] == [
        "2030-01-02T03:04:07.678901Z",
        "2030-01-02T03:04:09.678901Z",
        "2030-01-02T03:04:11.678901Z",
        "2030-01-02T03:04:13.678901Z",
    ]
    (tmp_path / "src" / "b.py").write_text("b\n", encoding="utf-8")
    assert scan_tree(tmp_path, store, WS, workers=1, clock=clock).entry.created_at == (
        "2030-01-02T03:04:14.678901Z"
    )
