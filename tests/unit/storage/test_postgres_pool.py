"""The PostgreSQL pool is sized by the store URL, and a caller over its size fails fast and clearly."""

from __future__ import annotations

import threading
import time

import pytest

from treeframe.errors import BackendUnavailable
from treeframe.storage.registry import open_store
from treeframe.testing.factories import make_file, make_ws, workspace_info

WS = make_ws("pool")


def test_a_call_beyond_pool_max_waits_pool_timeout_then_is_backend_unavailable(
    pg_database: str,
) -> None:
    store = open_store(f"{pg_database}?pool_min=1&pool_max=1&pool_timeout=0.5")
    try:
        store.create_workspace(workspace_info(WS, "pool"))
        record = make_file("a.txt", b"a")
        store.put_nodes(WS, [record])
        holding, release = threading.Event(), threading.Event()

        def hold_the_only_connection() -> None:
            with store.unit_of_work():  # a unit keeps its connection until it ends
                store.get_node(WS, record.node_id)
                holding.set()
                release.wait(10)

        holder = threading.Thread(target=hold_the_only_connection)
        holder.start()
        assert holding.wait(10)
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="pool"):
            store.get_node(WS, record.node_id)
        waited = time.monotonic() - started
        release.set()
        holder.join()
        assert 0.4 <= waited < 5  # pool_timeout, not forever
        assert store.get_node(WS, record.node_id) == record  # the connection is back
    finally:
        store.close()
