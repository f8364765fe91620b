"""The audit log through the engine: every write leaves exactly its entry, in its transaction."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from tests.unit.engine.conftest import WS, Env
from treeframe.engine.agents import AgentRecord
from treeframe.engine.audit import (
    AUDIT_HEAD,
    REQUEST_ID,
    Auditor,
    HeadHolder,
    Operation,
    parse_head,
    verify_chain,
    verify_workspace,
)
from treeframe.engine.principal import Principal
from treeframe.engine.types import FrameInput
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import (
    AccessDenied,
    InvalidRequest,
    NodeNotFound,
    StorageError,
    SynthesisFailed,
    WorkspaceDeleted,
)
from treeframe.hashing.audit import GENESIS, audit_entry_hash
from treeframe.ids import WorkspaceId
from treeframe.storage.base import AuditDraft, AuditEntry, StorageBackend
from treeframe.storage.values import chain_entry
from treeframe.testing.conformance import store_state


def entries(store: StorageBackend, ws: WorkspaceId = WS) -> list[AuditEntry]:
    return list(store.iter_audit(ws))


def note(text: str) -> FrameInput:
    return FrameInput("note", text.encode())


def test_accepted_put_appends_one_chained_entry(env: Env) -> None:
    before = entries(env.store)
    frame_id = env.put("src/app.py", "note", "entry point")
    after = entries(env.store)
    assert len(after) == len(before) + 1
    entry = after[-1]
    node = env.store.get_frame(WS, frame_id).node_id  # type: ignore[union-attr]
    assert (entry.operation, entry.agent, entry.node, entry.frame) == (
        "frame.put",
        "writer",
        node,
        frame_id,
    )
    assert (entry.success, entry.error, entry.request_id) == (True, None, None)
    assert entry.seq == len(after)
    assert entry.prev_hash == (after[-2].entry_hash if len(after) > 1 else GENESIS)
    assert verify_workspace(env.store, WS).ok


def test_refused_put_appends_a_refused_entry_and_changes_nothing_else(env: Env) -> None:
    env.put("src/app.py", "note", "first")
    before = store_state(env.store, WS)
    count = len(entries(env.store))
    with pytest.raises(AccessDenied):
        env.api.put_frame("src/app.py", note("x"), principal=env.principal("reader"))
    with pytest.raises(NodeNotFound):
        env.api.put_frame("no/such/file", note("x"), principal=env.principal("writer"))
    assert store_state(env.store, WS) == before
    refused = entries(env.store)[count:]
    assert [(e.operation, e.agent, e.success, e.error) for e in refused] == [
        ("frame.put", "reader", False, "access_denied"),
        ("frame.put", "writer", False, "node_not_found"),
    ]
    assert all(e.frame is None for e in refused)
    assert verify_workspace(env.store, WS).ok


def test_a_write_whose_entry_cannot_be_appended_is_rolled_back(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = store_state(env.store, WS)
    count = len(entries(env.store))

    def broken(ws: WorkspaceId, draft: AuditDraft) -> AuditEntry:
        raise StorageError("audit log unwritable")

    monkeypatch.setattr(env.store, "append_audit", broken)
    with pytest.raises(StorageError, match="unwritable"):
        env.put("src/app.py", "note", "never stored")
    monkeypatch.undo()
    assert store_state(env.store, WS) == before  # the frame and its blob rolled back too
    assert len(entries(env.store)) == count


def test_auditor_run_commits_change_and_entry_together_or_neither(env: Env) -> None:
    auditor = Auditor(env.store, env.api.runtime.clock)
    admin = Principal("ops", WS, frozenset())

    def refused_after_writing() -> None:
        env.store.put_agent(WS, "half", b"{}")
        raise InvalidRequest("changed my mind")

    with pytest.raises(InvalidRequest):
        auditor.run(Operation.ACL_GRANT, admin, refused_after_writing, node="n")
    assert env.store.get_agent(WS, "half") is None
    last = entries(env.store)[-1]
    assert (last.operation, last.agent, last.success, last.error, last.node) == (
        "acl.grant",
        "ops",
        False,
        "invalid_request",
        "n",
    )
    result = auditor.run(
        Operation.TOKEN_CREATE,
        admin,
        lambda: env.store.put_agent(WS, "whole", b"{}") or "tok-1",
        target=lambda r: (None, r),
    )
    assert result == "tok-1"
    assert env.store.get_agent(WS, "whole") == b"{}"
    last = entries(env.store)[-1]
    assert (last.operation, last.success, last.frame) == ("token.create", True, "tok-1")


def test_request_id_is_recorded_and_the_head_published(env: Env) -> None:
    holder = HeadHolder()
    request_token, head_token = REQUEST_ID.set("req-42"), AUDIT_HEAD.set(holder)
    try:
        env.put("README.md", "note", "hello")
    finally:
        AUDIT_HEAD.reset(head_token)
        REQUEST_ID.reset(request_token)
    last = entries(env.store)[-1]
    assert last.request_id == "req-42"
    assert holder.head == last.head == f"{last.seq}:{last.entry_hash}"
    env.put("README.md", "note", "no request")  # outside a request: no ID, no holder
    assert entries(env.store)[-1].request_id is None


def test_synthesis_writes_one_entry_per_frame_and_refusals_one(env: Env) -> None:
    env.put("src/app.py", "summary", "entry point")
    env.put("src/db/models.py", "summary", "models")
    count = len(entries(env.store))
    result = env.api.synthesize_branch(
        ".", "summary", principal=env.principal("synth"), recursive=True
    )
    new = entries(env.store)[count:]
    assert [e.operation for e in new] == ["branch.synthesize"] * len(result.frames)
    assert [e.frame for e in new] == [f.frame_id for f in result.frames]
    assert [e.node for e in new] == [f.node_id for f in result.frames]
    count = len(entries(env.store))
    with pytest.raises(SynthesisFailed):
        env.api.synthesize_branch(".", "sumary", principal=env.principal("synth"), recursive=True)
    (refused,) = entries(env.store)[count:]
    root = env.store.current_root(WS).root  # type: ignore[union-attr]
    assert (refused.success, refused.error, refused.node) == (False, "synthesis_failed", root)


def test_regeneration_audits_real_runs_and_never_dry_runs(env: Env) -> None:
    env.put("src/app.py", "summary", "entry point")
    env.api.synthesize_branch("src", "summary", principal=env.principal("synth"))
    env.edit("src/app.py", "# changed\n")
    env.put("src/app.py", "summary", "changed entry point")
    count = len(entries(env.store))
    dry = env.api.regenerate(".", recursive=True, dry_run=True, principal=env.owner)
    assert dry.regenerated_count >= 1
    assert len(entries(env.store)) == count
    report = env.api.regenerate(".", recursive=True, principal=env.owner)
    new = entries(env.store)[count:]
    assert [e.operation for e in new] == ["frames.regenerate"] * report.regenerated_count
    assert [e.frame for e in new] == list(report.frame_ids)
    assert all(e.agent is None for e in new)  # the owner ran it (frames keep their authors)
    count = len(entries(env.store))
    nothing = env.api.regenerate(".", recursive=True, principal=env.owner)
    assert nothing.regenerated_count == 0
    (noop,) = entries(env.store)[count:]  # an accepted run that wrote nothing is on record
    assert (noop.success, noop.frame) == (True, None)


def test_register_agent_is_audited_and_needs_admin(env: Env) -> None:
    count = len(entries(env.store))
    env.api.register_agent(AgentRecord("new", "reader"), principal=env.owner)
    with pytest.raises(AccessDenied):
        env.api.register_agent(AgentRecord("evil", "synthesis"), principal=env.principal("synth"))
    assert env.api.agents.get("evil") is None
    assert [(e.operation, e.agent, e.success) for e in entries(env.store)[count:]] == [
        ("agent.register", None, True),
        ("agent.register", "synth", False),
    ]


def test_workspace_create_delete_restore_are_audited_in_that_workspace(env: Env) -> None:
    service = WorkspaceService(env.store)
    info, created = service.create("audited", owner="alice")
    assert created
    ws = info.workspace_id
    assert service.create("audited", owner="bob") == (info, False)  # changes nothing: no entry
    admin = Principal("alice", ws, frozenset({"admin"}))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        service.delete(ws, principal=admin, confirm="wrong name")
    service.delete(ws, principal=admin, confirm="audited")
    with pytest.raises(WorkspaceDeleted):
        service.create("audited", owner="mallory")
    service.restore(ws, principal=admin)
    rows = [(e.operation, e.agent, e.success, e.error) for e in entries(env.store, ws)]
    assert rows == [
        ("workspace.create", "alice", True, None),
        ("workspace.delete", "alice", False, "invalid_request"),
        ("workspace.delete", "alice", True, None),
        ("workspace.create", "mallory", False, "workspace_deleted"),
        ("workspace.restore", "alice", True, None),
    ]
    assert verify_workspace(env.store, ws).ok
    with pytest.raises(InvalidRequest):
        service.create("")  # no workspace, so no log to refuse into
    assert verify_workspace(env.store, WS).ok


def test_concurrent_writers_keep_the_chain_gapless(env: Env) -> None:
    count = len(entries(env.store))
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(5):
                env.put("README.md", "note", f"thread {n} put {i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    chain = entries(env.store)
    assert [e.seq for e in chain] == list(range(1, count + 21))
    assert verify_workspace(env.store, WS).ok


def test_audit_log_and_verify_need_admin(env: Env) -> None:
    env.put("README.md", "note", "x")
    with pytest.raises(AccessDenied):
        env.api.audit_log(principal=env.principal("writer"))
    with pytest.raises(AccessDenied):
        env.api.verify_audit(principal=env.principal("synth"))
    page = env.api.audit_log(principal=env.owner, operation="frame.put", agent="writer")
    assert [e.operation for e in page] == ["frame.put"]
    with pytest.raises(InvalidRequest):
        env.api.audit_log(principal=env.owner, operation="frame.delete")
    assert env.api.verify_audit(principal=env.owner).ok


# -- verify_chain on synthetic chains -------------------------------------------------
def chain(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    for i in range(n):
        draft = AuditDraft(
            f"2026-01-01T00:00:{i:02d}.000Z",
            f"agent-{i % 2}",
            "frame.put",
            None,
            None,
            True,
            None,
            None,
        )
        out.append(chain_entry(WS, draft, out[-1] if out else None))
    return out


def test_an_intact_chain_verifies_and_reports_its_head() -> None:
    entries_ = chain(5)
    report = verify_chain(entries_)
    assert (report.ok, report.entries, report.head) == (True, 5, entries_[-1].head)
    assert verify_chain([]).head is None
    assert verify_chain(entries_, head=entries_[2].head).ok


@pytest.mark.parametrize(
    ("tamper", "seq", "kind"),
    [
        (lambda c: [*c[:2], replace(c[2], agent="mallory"), *c[3:]], 3, "edited"),
        (lambda c: [*c[:2], *c[3:]], 3, "missing"),
        (
            lambda c: [*c[:2], replace(c[3], seq=3), replace(c[2], seq=4), *c[4:]],
            3,
            "reordered",
        ),
        (
            lambda c: (
                [*c[:2], replace(c[2], agent="forged", entry_hash="f" * 64)]
                + [replace(e, seq=e.seq + 1) for e in c[2:]]
            ),
            3,
            "inserted",
        ),
        (lambda c: [*c[:2]] + [replace(e, seq=e.seq - 1) for e in c[3:]], 3, "missing"),
    ],
    ids=["edited", "deleted", "swapped", "inserted", "deleted-renumbered"],
)
def test_verify_names_the_first_bad_entry_and_what_happened(tamper, seq, kind) -> None:
    report = verify_chain(tamper(chain(6)))
    assert not report.ok
    assert report.problem is not None
    assert (report.problem.seq, report.problem.kind) == (seq, kind), report.problem


def test_a_forged_insert_with_a_valid_hash_is_still_found() -> None:
    good = chain(5)
    forged_draft = AuditDraft(
        "2026-01-01T00:00:02.500Z", "mallory", "acl.grant", None, None, True, None, None
    )
    forged = chain_entry(WS, forged_draft, good[1])  # a correct hash, linked to entry 2
    tampered = [*good[:2], forged] + [replace(e, seq=e.seq + 1) for e in good[2:]]
    report = verify_chain(tampered)
    assert report.problem is not None
    assert (report.problem.seq, report.problem.kind) == (3, "inserted")


def test_a_rewritten_and_rehashed_entry_is_found_by_the_link_after_it() -> None:
    good = chain(4)
    edited = replace(good[1], agent="mallory")
    rehashed = replace(edited, entry_hash=audit_entry_hash(edited.fields()))
    report = verify_chain([good[0], rehashed, *good[2:]])
    assert report.problem is not None
    assert (report.problem.seq, report.problem.kind) == (2, "edited")


def test_truncation_needs_the_head_a_client_kept() -> None:
    good = chain(6)
    cut = good[:4]
    assert verify_chain(cut).ok  # a clean cut leaves no trace inside the chain
    report = verify_chain(cut, head=good[-1].head)
    assert report.problem is not None
    assert (report.problem.seq, report.problem.kind) == (6, "truncated")
    other = [*chain(6)[:5], replace(good[5], time="2030-01-01T00:00:00.000Z")]
    rewritten = [*other[:5], replace(other[5], entry_hash=audit_entry_hash(other[5].fields()))]
    report = verify_chain(rewritten, head=good[-1].head)
    assert report.problem is not None
    assert report.problem.kind == "edited"


@pytest.mark.parametrize("bad", ["", "3", "0:" + "a" * 64, "3:" + "A" * 64, "x:" + "a" * 64])
def test_a_malformed_head_is_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_head(bad)
    with pytest.raises(InvalidRequest):
        verify_chain(chain(2), head=bad)


def test_a_seq_moved_far_away_is_missing_where_it_was() -> None:
    good = chain(4)
    moved = [good[0], good[1], good[3], replace(good[2], seq=10**15)]
    report = verify_chain(moved)
    assert report.problem is not None
    assert (report.problem.seq, report.problem.kind) == (3, "missing")
