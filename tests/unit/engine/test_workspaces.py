"""WorkspaceService: workspaces of one store opened by ID, metadata in the store, tombstones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.engine.conftest import SAMPLE, write_tree
from treeframe.config.settings import Settings
from treeframe.engine.agents import AgentRecord
from treeframe.engine.principal import Principal
from treeframe.engine.types import FrameInput
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import (
    AccessDenied,
    InvalidRequest,
    RegenerationFailed,
    StorageError,
    WorkspaceDeleted,
    WorkspaceNotFound,
)
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.registry import open_store
from treeframe.tree.records import NodeRecord
from treeframe.tree.scan import scan_tree

WRITER = AgentRecord("writer", "writer")
STATS = AgentRecord("stats", "writer", generator="stats")


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path: Path) -> Iterator[StorageBackend]:
    url = "memory://" if request.param == "memory" else f"sqlite://{tmp_path / 'store.db'}"
    opened = open_store(url, create=True)
    yield opened
    opened.close()


def _owner(ws: WorkspaceId) -> Principal:
    return Principal.owner(ws)


def test_create_is_idempotent_and_the_first_metadata_wins(store):
    service = WorkspaceService(store)
    first, created = service.create("alpha", description="the first", owner="alice")
    assert created is True
    assert first.workspace_id == workspace_id("alpha")
    assert (first.name, first.description, first.owner) == ("alpha", "the first", "alice")
    assert first.created_at.endswith("Z")
    assert first.deleted_at is None
    again, created_again = service.create("alpha", description="another", owner="bob")
    assert created_again is False
    assert again == first


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "tab\there", "x" * 257, "zero\u200bwidth"])
def test_bad_names_are_refused_and_nothing_is_created(store, name):
    service = WorkspaceService(store)
    with pytest.raises(InvalidRequest):
        service.create(name)
    assert service.list(include_deleted=True) == []


def test_workspaces_open_by_id_and_stay_apart(store, tmp_path: Path):
    service = WorkspaceService(store)
    a, _ = service.create("a")
    b, _ = service.create("b")
    root = tmp_path / "tree"
    write_tree(root, SAMPLE)
    scan_tree(root, store, a.workspace_id, workers=1)
    api_a = service.open(a.workspace_id)
    api_a.agents.register(WRITER)
    fid = api_a.put_frame(
        "README.md", FrameInput("note", b"hello"), principal=api_a.agent_principal("writer")
    )
    # A second service over the same store (another server worker) sees the same workspace.
    other = WorkspaceService(store).open(a.workspace_id)
    assert (
        other.get_node("README.md", principal=_owner(a.workspace_id)).frames[0].frame.frame_id
        == fid
    )
    # The other workspace knows nothing of it.
    api_b = service.open(b.workspace_id)
    assert api_b.ws == b.workspace_id
    assert store.current_root(b.workspace_id) is None
    assert service.open(a.workspace_id) is api_a  # cached


def test_unknown_workspace_is_workspace_not_found_not_a_storage_error(store):
    service = WorkspaceService(store)
    missing = workspace_id("never-made")
    with pytest.raises(WorkspaceNotFound) as caught:
        service.open(missing)
    assert not isinstance(caught.value, StorageError)
    assert caught.value.code == "workspace_not_found"
    with pytest.raises(WorkspaceNotFound):
        service.find("never-made")
    with pytest.raises(InvalidRequest):
        service.open(WorkspaceId("not-hex"))


def test_store_writes_to_an_unknown_workspace_are_workspace_not_found(store):
    """Below the service too: the store says which workspace is missing, not storage_error."""
    with pytest.raises(WorkspaceNotFound):
        store.put_nodes(
            workspace_id("nobody"), [NodeRecord.file("a.txt", content_hash(b""), 0, False)]
        )


def test_delete_needs_admin_and_the_name_and_keeps_the_data(store, tmp_path: Path):
    service = WorkspaceService(store)
    info, _ = service.create("gone")
    ws = info.workspace_id
    root = tmp_path / "tree"
    write_tree(root, SAMPLE)
    scan_tree(root, store, ws, workers=1)
    api = service.open(ws)
    api.agents.register(WRITER)
    writer = api.agent_principal("writer")
    fid = api.put_frame("README.md", FrameInput("note", b"kept"), principal=writer)
    with pytest.raises(AccessDenied):
        service.delete(ws, principal=writer, confirm="gone")
    with pytest.raises(AccessDenied):
        service.delete(ws, principal=_owner(workspace_id("elsewhere")), confirm="gone")
    with pytest.raises(InvalidRequest):
        service.delete(ws, principal=_owner(ws), confirm="wrong")
    assert service.info(ws).deleted_at is None

    deleted = service.delete(ws, principal=_owner(ws), confirm="gone")
    assert deleted.deleted_at is not None
    # The cached context API is not handed out any more, here or by another service.
    with pytest.raises(WorkspaceNotFound, match="deleted"):
        service.open(ws)
    with pytest.raises(WorkspaceNotFound):
        WorkspaceService(store).open(ws)
    assert [w.name for w in service.list()] == []
    assert [w.name for w in service.list(include_deleted=True)] == ["gone"]
    # Creating the name again does not revive the data under a new owner.
    with pytest.raises(WorkspaceDeleted):
        service.create("gone", owner="mallory")

    restored = service.restore(ws, principal=_owner(ws))
    assert restored.deleted_at is None
    assert restored.created_at == info.created_at
    again = service.open(ws)
    assert again is not api
    assert again.get_frames_batch([fid], principal=_owner(ws))[0].frame.frame_id == fid


def test_delete_by_another_service_is_seen_through_the_cache(store):
    one, two = WorkspaceService(store), WorkspaceService(store)
    info, _ = one.create("shared")
    assert one.open(info.workspace_id).ws == info.workspace_id
    two.delete(info.workspace_id, principal=_owner(info.workspace_id), confirm="shared")
    with pytest.raises(WorkspaceNotFound):
        one.open(info.workspace_id)


def test_list_pages_by_name(store):
    service = WorkspaceService(store)
    names = [f"ws-{i:02d}" for i in range(7)]
    for name in reversed(names):
        service.create(name)
    seen: list[str] = []
    after = None
    while True:
        page = service.list(after=after, limit=3)
        seen += [w.name for w in page]
        if len(page) < 3:
            break
        after = page[-1].name
    assert seen == names
    with pytest.raises(InvalidRequest):
        service.list(limit=0)


def test_cache_is_bounded(store):
    service = WorkspaceService(store, cache_size=2)
    infos = [service.create(f"c{i}")[0] for i in range(3)]
    apis = [service.open(i.workspace_id) for i in infos]
    assert service.open(infos[2].workspace_id) is apis[2]
    assert service.open(infos[0].workspace_id) is not apis[0]  # evicted, rebuilt


def test_limits_and_configured_agents_come_from_settings(store):
    settings = Settings.model_validate(
        {"limits": {"max_frame_bytes": 64}, "agents": {"cfg": {"role": "reader"}}}
    )
    service = WorkspaceService(store, settings)
    info, _ = service.create("configured")
    api = service.open(info.workspace_id)
    assert api.limits.max_frame_bytes == 64
    assert api.agents.get("cfg") is not None


class _PushedFiles:
    """File bytes held in memory, as a server holds what a client pushed: no directory at all."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read(self, record: NodeRecord) -> bytes:
        return self.files[record.path]


def test_generators_run_on_bytes_the_edge_supplies_never_a_directory(store, tmp_path: Path):
    root = tmp_path / "tree"
    write_tree(root, {"a.txt": "one\n"})
    pushed = _PushedFiles({"a.txt": b"one\n"})
    service = WorkspaceService(store, files=lambda _info: pushed)
    info, _ = service.create("pushed")
    scan_tree(root, store, info.workspace_id, workers=1)
    api = service.open(info.workspace_id)
    api.agents.register(STATS)
    stats = api.agent_principal("stats")
    api.put_frame("a.txt", FrameInput("stats", b"old"), principal=stats)
    (root / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    scan_tree(root, store, info.workspace_id, workers=1)
    # The directory now holds the new bytes, but the engine only sees what the edge gives it:
    # stale bytes are refused by hash, not turned into a frame.
    report = api.regenerate("a.txt", principal=_owner(info.workspace_id))
    assert report.regenerated_count == 0
    assert [s.path for s in report.stale_unrecomputable] == ["a.txt"]
    pushed.files["a.txt"] = b"one\ntwo\n"
    report = api.regenerate("a.txt", principal=_owner(info.workspace_id))
    assert report.regenerated_count == 1
    served = api.get_node("a.txt", principal=_owner(info.workspace_id)).frames[0]
    assert served.content == b"8 bytes, 2 lines\n"


def test_without_a_file_source_generators_report_they_cannot_run(store, tmp_path: Path):
    from treeframe.engine.file_contents import NoFileContents, checked_file_bytes

    record = NodeRecord.file("a.txt", content_hash(b"x"), 1, False)
    with pytest.raises(RegenerationFailed, match="no file content"):
        checked_file_bytes(NoFileContents(), record)
