"""Context views over the memory store: bounded, ordered, filtered and repeatable."""

from __future__ import annotations

import pytest

from treeframe.errors import InvalidViewPolicy
from treeframe.frames import merkle_set
from treeframe.frames.frame import Frame, new_frame
from treeframe.frames.views import HARD_MAX_FRAMES, ViewPolicy, select_view
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.storage.memory import MemoryStore
from treeframe.testing.factories import put_frame, workspace_info
from treeframe.tree.records import NodeRecord

WS = workspace_id("views")
NODE = NodeRecord.file("a.txt", content_hash(b"a"), 1, False)
OTHER = NodeRecord.file("b.txt", content_hash(b"b"), 1, False)


@pytest.fixture
def store():
    store = MemoryStore()
    store.create_workspace(workspace_info(WS, "views"))
    store.put_nodes(WS, [NODE, OTHER])
    return store


def append(store, content, frame_type="note", agent="agent-a", node=NODE) -> Frame:
    frame = new_frame(node.node_id, frame_type, agent, content)
    return put_frame(
        store, WS, frame, content, merkle_set.root_of_raw, "2024-01-01T00:00:00Z"
    ).frame


@pytest.fixture
def frames(store):
    """Six frames appended in this order (oldest first)."""
    return [
        append(store, b"1", "note", "agent-a"),
        append(store, b"22", "summary", "agent-b"),
        append(store, b"333", "note", "agent-b"),
        append(store, b"4444", "analysis", "agent-a"),
        append(store, b"55555", "summary", "agent-a"),
        append(store, b"666666", "note", "agent-c"),
    ]


def contents(view):
    return [f.size for f in view.frames]


def test_recency_is_newest_first(store, frames):
    view = select_view(store, WS, NODE.node_id, ViewPolicy())
    assert [f.frame_id for f in view.frames] == [f.frame_id for f in reversed(frames)]
    assert [f.seq for f in view.frames] == sorted((f.seq for f in frames), reverse=True)
    assert not view.truncated


def test_frame_count_is_the_nodes_total(store, frames):
    append(store, b"elsewhere", node=OTHER)
    view = select_view(store, WS, NODE.node_id, ViewPolicy(max_frames=2))
    assert view.frame_count == 6
    assert len(view.frames) == 2


def test_empty_node_view(store):
    view = select_view(store, WS, NODE.node_id, ViewPolicy())
    assert view.frames == ()
    assert view.frame_count == 0
    assert not view.truncated


def test_max_frames_bounds_the_view(store, frames):
    view = select_view(store, WS, NODE.node_id, ViewPolicy(max_frames=3))
    assert contents(view) == [6, 5, 4]
    assert view.truncated


def test_type_priority_ranks_types_then_recency(store, frames):
    policy = ViewPolicy(ordering="type", type_priority=("summary", "analysis"))
    view = select_view(store, WS, NODE.node_id, policy)
    assert contents(view) == [5, 2, 4, 6, 3, 1]


def test_agent_priority_ranks_agents_then_recency(store, frames):
    policy = ViewPolicy(ordering="agent", agent_priority=("agent-b", "agent-c"))
    view = select_view(store, WS, NODE.node_id, policy)
    assert contents(view) == [3, 2, 6, 5, 4, 1]


def test_priority_duplicates_are_harmless(store, frames):
    policy = ViewPolicy(ordering="type", type_priority=("summary", "summary"))
    view = select_view(store, WS, NODE.node_id, policy)
    assert contents(view) == [5, 2, 6, 4, 3, 1]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (ViewPolicy(types=("note",)), [6, 3, 1]),
        (ViewPolicy(types=("note", "summary")), [6, 5, 3, 2, 1]),
        (ViewPolicy(agents=("agent-a",)), [5, 4, 1]),
        (ViewPolicy(agents=("agent-a", "agent-c")), [6, 5, 4, 1]),
        (ViewPolicy(types=("note",), agents=("agent-b",)), [3]),
        (ViewPolicy(types=("missing",)), []),
        (
            ViewPolicy(ordering="type", type_priority=("summary",), types=("note", "summary")),
            [5, 2, 6, 3, 1],
        ),
        (ViewPolicy(ordering="type", type_priority=("analysis",), agents=("agent-a",)), [4, 5, 1]),
        (ViewPolicy(ordering="agent", agent_priority=("agent-b",), types=("note",)), [3, 6, 1]),
        (ViewPolicy(ordering="agent", agent_priority=("agent-c",), agents=("agent-a",)), [5, 4, 1]),
    ],
    ids=[
        "one-type",
        "two-types",
        "one-agent",
        "two-agents",
        "type-and-agent",
        "no-match",
        "type-order-type-filter",
        "type-order-agent-filter",
        "agent-order-type-filter",
        "agent-order-filtered-out-priority",
    ],
)
def test_filters(store, frames, policy, expected):
    assert contents(select_view(store, WS, NODE.node_id, policy)) == expected


def test_filter_with_max_frames_reports_truncation(store, frames):
    view = select_view(store, WS, NODE.node_id, ViewPolicy(types=("note",), max_frames=2))
    assert contents(view) == [6, 3]
    assert view.truncated
    exact = select_view(store, WS, NODE.node_id, ViewPolicy(types=("note",), max_frames=3))
    assert not exact.truncated


def test_max_bytes_stops_at_the_first_frame_that_does_not_fit(store, frames):
    # Newest first: 6 + 5 = 11 fit in 14; 4 would make 15, so the view stops there,
    # even though the older frames 1 and 2 would still fit.
    view = select_view(store, WS, NODE.node_id, ViewPolicy(max_bytes=14))
    assert contents(view) == [6, 5]
    assert view.truncated


def test_max_bytes_exact_fit_and_zero(store, frames):
    assert contents(select_view(store, WS, NODE.node_id, ViewPolicy(max_bytes=21))) == [
        6,
        5,
        4,
        3,
        2,
        1,
    ]
    zero = select_view(store, WS, NODE.node_id, ViewPolicy(max_bytes=0))
    assert zero.frames == ()
    assert zero.truncated


def test_view_is_repeatable(store, frames):
    for policy in (
        ViewPolicy(),
        ViewPolicy(ordering="type", type_priority=("note",), max_frames=4),
        ViewPolicy(ordering="agent", agent_priority=("agent-c", "agent-a"), max_bytes=12),
    ):
        first = select_view(store, WS, NODE.node_id, policy)
        second = select_view(store, WS, NODE.node_id, policy)
        assert first == second


def test_reputting_an_older_frame_makes_it_newest_and_reputting_the_head_changes_nothing(
    store, frames
):
    append(store, b"1", "note", "agent-a")  # same FrameID as the oldest frame: current again
    view = select_view(store, WS, NODE.node_id, ViewPolicy())
    order = [frames[0], *reversed(frames[1:])]
    assert [f.frame_id for f in view.frames] == [f.frame_id for f in order]
    assert view.frame_count == len(frames)
    by_type = select_view(store, WS, NODE.node_id, ViewPolicy(max_frames=1, types=("note",)))
    assert by_type.frames[0].frame_id == store.get_head(WS, NODE.node_id, "note")
    before = select_view(store, WS, NODE.node_id, ViewPolicy())
    append(store, b"1", "note", "agent-a")  # the head now: nothing moves
    assert select_view(store, WS, NODE.node_id, ViewPolicy()) == before


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_frames": 0},
        {"max_frames": -1},
        {"ordering": "random"},
        {"max_bytes": -1},
        {"types": "note"},
        {"agents": ["a"]},
    ],
    ids=["zero", "negative", "unknown-ordering", "negative-bytes", "str-types", "list-agents"],
)
def test_invalid_policy_raises(kwargs):
    with pytest.raises(InvalidViewPolicy):
        ViewPolicy(**kwargs)


def test_over_hard_cap_is_refused_not_clipped(store, frames):
    with pytest.raises(InvalidViewPolicy):
        select_view(store, WS, NODE.node_id, ViewPolicy(max_frames=HARD_MAX_FRAMES + 1))


def test_hard_cap_is_configurable(store, frames):
    with pytest.raises(InvalidViewPolicy):
        select_view(store, WS, NODE.node_id, ViewPolicy(max_frames=3), hard_cap=2)
    view = select_view(store, WS, NODE.node_id, ViewPolicy(max_frames=2), hard_cap=2)
    assert len(view.frames) == 2


def test_hard_cap_is_accepted(store, frames):
    view = select_view(store, WS, NODE.node_id, ViewPolicy(max_frames=HARD_MAX_FRAMES))
    assert view.frame_count == len(view.frames)


def test_policy_to_dict():
    policy = ViewPolicy(max_frames=5, ordering="agent", agents=("a",), agent_priority=("a", "b"))
    assert policy.to_dict() == {
        "max_frames": 5,
        "ordering": "agent",
        "types": [],
        "agents": ["a"],
        "type_priority": [],
        "agent_priority": ["a", "b"],
        "max_bytes": None,
    }
