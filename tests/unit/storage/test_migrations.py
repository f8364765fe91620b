"""The generic migration runner, over a toy store whose state is one dict."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from treeframe.errors import VersionNotSupported
from treeframe.storage.migrations import Migration, migrate, pending

State = dict[str, int]


def _bump(name: str) -> Migration[State]:
    def apply(tx: State) -> None:
        tx[name] = tx.get(name, 0) + 1

    return Migration(int(name[1:]), name, apply)


STEPS = (_bump("v2"), _bump("v3"), _bump("v4"))


def _run(
    state: State,
    steps: tuple[Migration[State], ...] = STEPS,
    *,
    meanwhile: dict[int, State] | None = None,
) -> list[int]:
    """Run ``steps`` on ``state``; ``meanwhile[n]`` is committed by "another process"
    just before our transaction number ``n`` (from 1) takes the lock."""
    entered = 0

    @contextmanager
    def transaction() -> Iterator[State]:
        nonlocal entered
        entered += 1
        state.update((meanwhile or {}).get(entered, {}))
        work = dict(state)  # a copy: committed only when the block ends cleanly
        yield work
        state.clear()
        state.update(work)

    def record(tx: State, step: Migration[State]) -> None:
        tx["version"] = step.version

    applied = migrate(
        steps, store="toy", transaction=transaction, version=lambda tx: tx["version"], record=record
    )
    return [step.version for step in applied]


def test_pending_lists_the_missing_steps_in_order() -> None:
    assert [s.version for s in pending(1, STEPS, store="toy")] == [2, 3, 4]
    assert [s.version for s in pending(3, STEPS, store="toy")] == [4]
    assert pending(4, STEPS, store="toy") == ()


@pytest.mark.parametrize(("version", "word"), [(5, "newer"), (0, "older")])
def test_a_version_outside_the_steps_is_not_supported(version: int, word: str) -> None:
    with pytest.raises(VersionNotSupported, match=f"schema version {version}, {word}") as info:
        pending(version, STEPS, store="toy")
    assert info.value.supported == ("1", "2", "3", "4")
    assert info.value.code == "version_not_supported"


def test_each_step_is_applied_once_and_recorded() -> None:
    state = {"version": 1}
    assert _run(state) == [2, 3, 4]
    assert state == {"version": 4, "v2": 1, "v3": 1, "v4": 1}
    assert _run(state) == []
    assert state["v4"] == 1


def test_a_step_another_process_applied_meanwhile_is_skipped() -> None:
    state = {"version": 1}
    # Another process commits v3 while ours runs v2: our next transaction sees
    # version 3 under the lock and applies only v4.
    meanwhile = {2: {"version": 3, "v3": 1}}
    assert _run(state, meanwhile=meanwhile) == [2, 4]
    assert state == {"version": 4, "v2": 1, "v3": 1, "v4": 1}


def test_a_failed_step_rolls_back_and_keeps_the_version_before_it() -> None:
    def boom(tx: State) -> None:
        tx["half"] = 1
        raise RuntimeError("step 3 failed")

    state = {"version": 1}
    with pytest.raises(RuntimeError, match="step 3 failed"):
        _run(state, (_bump("v2"), Migration(3, "v3", boom), _bump("v4")))
    assert state == {"version": 2, "v2": 1}


def test_steps_must_have_consecutive_versions() -> None:
    with pytest.raises(ValueError, match="consecutive"):
        _run({"version": 1}, (_bump("v2"), _bump("v4")))
