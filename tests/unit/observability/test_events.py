from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

import pytest

from treeframe.observability import events


@pytest.fixture(autouse=True)
def _alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """No listener of other tests' apps (they are process-wide): an empty bus per test."""
    monkeypatch.setattr(events, "_refs", [])
    monkeypatch.setattr(events, "_listeners", ())


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def hear(self, event: str, fields: Mapping[str, Any]) -> None:
        self.seen.append((event, dict(fields)))


def test_emit_without_listeners_is_a_no_op():
    assert not events.listening()
    events.emit("frame.put", frame="x")  # nothing to call, nothing raised


def test_listener_hears_events_once_however_often_subscribed():
    recorder = Recorder()
    events.subscribe(recorder.hear)
    events.subscribe(recorder.hear)
    events.emit("push", root="r1")
    assert recorder.seen == [("push", {"root": "r1"})]
    events.unsubscribe(recorder.hear)
    events.emit("push", root="r2")
    assert len(recorder.seen) == 1
    assert not events.listening()


def test_a_bound_method_listener_goes_away_with_its_object():
    recorder = Recorder()
    events.subscribe(recorder.hear)
    assert events.listening()
    del recorder
    gc.collect()
    events.emit("scan", root="r")  # the dead listener is pruned, not called
    assert not events.listening()


def test_a_failing_listener_never_fails_the_emitter(caplog: pytest.LogCaptureFixture):
    recorder = Recorder()

    def broken(_event: str, _fields: Mapping[str, Any]) -> None:
        raise RuntimeError("listener bug")

    events.subscribe(broken)
    events.subscribe(recorder.hear)
    events.emit("synthesis", frames=3)
    assert recorder.seen == [("synthesis", {"frames": 3})]
    assert "listener bug" in caplog.text
