"""Puts on several nodes in one unit of work cannot deadlock on PostgreSQL (``lock_for_puts``).

Each put holds the workspace's audit lock from its entry to commit, so a
unit that took its node locks one put at a time could wait for a node while
holding the audit lock that a concurrent put on that node waits for: a
deadlock PostgreSQL breaks after ``deadlock_timeout`` by failing one side with
``concurrent_update`` (seen as 409s on unconditional ``POST …/frames/batch``
under load). ``ContextAPI.lock_for_puts`` takes every node lock first, sorted.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tests.api.routes_env import write_tree
from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.principal import Principal
from treeframe.engine.types import FrameInput
from treeframe.hashing.ids import workspace_id
from treeframe.storage.registry import open_store
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree

WS = workspace_id("locks")


def test_two_units_putting_on_the_same_nodes_in_opposite_orders_both_commit(
    pg_database: str, tmp_path: Path
) -> None:
    write_tree(tmp_path / "tree", {"a.txt": "a\n", "b.txt": "b\n"})
    with open_store(pg_database, create=True) as store:
        store.create_workspace(workspace_info(WS, "locks"))
        scan_tree(tmp_path / "tree", store, WS, workers=1)
        api = ContextAPI(store, WS)
        api.agents.register(AgentRecord("w", "writer"))
        writer = api.agent_principal("w")
        first_put, second_started = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def one(order: tuple[str, str], name: str, lead: bool) -> None:
            try:
                if not lead:
                    assert first_put.wait(timeout=30)
                with store.unit_of_work():
                    if not lead:
                        second_started.set()
                    api.lock_for_puts(list(order), principal=writer)
                    api.put_frame(
                        order[0], FrameInput("note", f"{name} 1".encode()), principal=writer
                    )
                    if lead:
                        first_put.set()  # holds a's lock and the audit lock now
                        assert second_started.wait(timeout=30)
                        threading.Event().wait(0.3)  # the other unit reaches its first put
                    api.put_frame(
                        order[1], FrameInput("note", f"{name} 2".encode()), principal=writer
                    )
            except BaseException as exc:  # asserted below
                errors.append(exc)

        threads = [
            threading.Thread(target=one, args=(("a.txt", "b.txt"), "first", True)),
            threading.Thread(target=one, args=(("b.txt", "a.txt"), "second", False)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert sum(1 for _ in store.iter_all_frames(WS)) == 4
        assert api.verify_audit(principal=Principal.owner(WS)).ok
