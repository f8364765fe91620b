"""A real ``treeframe serve`` of the flaky app, shared by the retry tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Server, make_store, start_server, stop_server

FLAKY_APP = "tests.client.flaky:flaky_app"


@pytest.fixture(scope="module")
def flaky_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("flaky")
    running = start_server(tmp, make_store(tmp / "store.db"), app=FLAKY_APP)
    try:
        yield running
    finally:
        stop_server(running)
