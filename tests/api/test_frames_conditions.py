"""Reading HTTP conditions (If-Match / If-None-Match) and the engine's conditional put."""

from __future__ import annotations

from pathlib import Path

import pytest

from treeframe.api.caching import expected_head, matches
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.principal import Permission, Principal
from treeframe.engine.types import FrameInput
from treeframe.errors import ConcurrentUpdate, InvalidId, InvalidRequest
from treeframe.hashing.ids import workspace_id
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.storage.values import ANY_HEAD
from treeframe.testing.factories import make_dir, make_file, workspace_info

A = "a" * 64
B = "b" * 64


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "expected"),
    [
        (None, None, ANY_HEAD),
        ("*", None, ANY_HEAD),
        (f'"{A}"', None, A),
        (f' W/"{A}" ', None, A),
        (None, "*", None),
    ],
    ids=["absent", "star", "tag", "weak-tag-spaces", "none-match-star"],
)
def test_expected_head_reads_conditions(if_match, if_none_match, expected):
    assert expected_head(if_match, if_none_match) == expected


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "error"),
    [
        ("abc", None, InvalidRequest),
        ('"abc"', None, InvalidId),
        (f'"{A}", "{B}"', None, InvalidRequest),
        ("", None, InvalidRequest),
        (None, f'"{A}"', InvalidRequest),
        ("*", "*", InvalidRequest),
    ],
    ids=["unquoted", "not-an-id", "two", "empty", "none-match-tag", "both"],
)
def test_expected_head_refuses_what_it_cannot_read(if_match, if_none_match, error):
    with pytest.raises(error):
        expected_head(if_match, if_none_match)


def test_matches_compares_weakly_and_accepts_lists_and_star():
    assert matches(f'"{A}"', A)
    assert matches(f'W/"{A}"', A)
    assert matches(f'"{B}", "{A}"', A)
    assert matches("*", A)
    assert not matches(None, A)
    assert not matches(f'"{B}"', A)
    assert not matches(A, A)  # an unquoted tag is not the quoted ETag


def test_engine_put_compares_and_sets_the_head(tmp_path: Path):
    ws = workspace_id("cas")
    file = make_file("a.txt")
    with open_store(sqlite_url(tmp_path / "s.db"), create=True) as store:
        store.create_workspace(workspace_info(ws, "cas"))
        store.put_nodes(ws, [file, make_dir("", [file])])
        api = ContextAPI(store, ws)
        who = Principal("writer", ws, frozenset({Permission.READ, Permission.WRITE}))
        first = api.put_frame_record(
            file.node_id, FrameInput("note", b"1"), principal=who, expected_head=None
        )
        with pytest.raises(ConcurrentUpdate) as lost:
            api.put_frame_record(
                file.node_id, FrameInput("note", b"2"), principal=who, expected_head=None
            )
        assert lost.value.actual == first.frame_id
        second = api.put_frame_record(
            file.node_id, FrameInput("note", b"2"), principal=who, expected_head=first.frame_id
        )
        assert store.get_head(ws, file.node_id, "note") == second.frame_id
        with pytest.raises(ConcurrentUpdate):
            api.put_frame_record(
                file.node_id, FrameInput("note", b"3"), principal=who, expected_head=first.frame_id
            )
        assert store.get_head(ws, file.node_id, "note") == second.frame_id
