"""Shared fixtures and the CI rule that service-backed tests may not be skipped."""

from __future__ import annotations

import os

import pytest

SERVICE_SKIP_PREFIX = "service unavailable:"

pytest_plugins = ["tests.services", "tests.pgcluster", "tests.fakes.model_server"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On CI (CI=true), a test skipped because its service is absent fails the run."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = reporter.stats.get("skipped", [])
    missing = [r for r in skipped if SERVICE_SKIP_PREFIX in str(getattr(r, "longrepr", ""))]
    if missing:
        reporter.write_line(
            f"CI=true but {len(missing)} test(s) skipped for a missing service", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
