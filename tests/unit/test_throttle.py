"""ThrottledWarning: once a period, whatever the number of failures in between."""

from __future__ import annotations

import logging

import pytest

from treeframe.observability.throttle import ThrottledWarning


def test_one_warning_a_period(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    warn = ThrottledWarning(logging.getLogger("tf.test"), 60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="tf.test"):
        warn("down (%s)", "first")
        now[0] += 59
        warn("down (%s)", "second")
        now[0] += 2
        warn("down (%s)", "third")
    assert [r.getMessage() for r in caplog.records] == ["down (first)", "down (third)"]
