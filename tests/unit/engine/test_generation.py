"""generate: per-file frames from a model agent, directory frames over them, idempotence, and --agents."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.unit.engine.conftest import WS, Env, write_tree
from treeframe.config.settings import Settings
from treeframe.engine.generation import (
    META_CONTEXT_HASH,
    META_PROMPT_HASH,
    PROVIDER_POLICY,
    GenerateOptions,
)
from treeframe.engine.models import ModelAgents
from treeframe.errors import (
    ConfigError,
    InvalidPolicy,
    InvalidRequest,
    ProviderAuthFailed,
    ProviderUnavailable,
)
from treeframe.providers.base import Completion, CompletionRequest, TextSink, Usage
from treeframe.providers.offline import OFFLINE_MODEL

FILES = ["README.md", "docs/guide.md", "src/app.py", "src/db/models.py", "src/db/pool.py"]
DIRS = ["", "docs", "src", "src/db"]


class ScriptedProvider:
    """A provider that answers from the prompt, counts calls and concurrency, and fails on request."""

    kind = "openai"

    def __init__(self, name: str = "fake", fail: dict[str, Exception] | None = None) -> None:
        self.name = name
        self.fail = fail or {}
        self.calls: list[CompletionRequest] = []
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.delay = 0.0

    def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        with self.lock:
            self.calls.append(request)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            if self.delay:
                time.sleep(self.delay)
            path = request.context.get("path", "")
            if path in self.fail:
                raise self.fail[path]
            return Completion(
                text=f"about {path or '.'} ({request.context.get('kind')})",
                model="fake-model-2",
                usage=Usage(input_tokens=100, output_tokens=10),
                finish_reason="stop",
            )
        finally:
            with self.lock:
                self.active -= 1

    def close(self) -> None:
        pass


def _use(env: Env, provider: Any, **agent: Any) -> None:
    settings = Settings.model_validate(
        {
            "agents": {"capable": {"role": "writer", "provider": "fake", "model": "m1", **agent}},
            "providers": {
                "fake": {"kind": "openai", "input_cost_per_mtok": 2.0, "output_cost_per_mtok": 8.0}
            },
        }
    )
    env.api.models = ModelAgents(settings, lambda name: provider)


def _frames(env: Env) -> int:
    return sum(1 for _ in env.store.iter_all_frames(WS))


def _heads(env: Env, path: str) -> dict[str, str]:
    node = env.store.lookup_path(WS, path)
    assert node is not None
    return env.store.get_heads_many(WS, [node]).get(node, {})


def test_offline_generation_covers_the_tree_bottom_up_and_is_fresh(env: Env) -> None:
    report = env.api.generate(
        ".", GenerateOptions(recursive=True), principal=env.principal("capable")
    )
    assert report.provider == "offline"
    assert report.model == OFFLINE_MODEL
    assert {e.path: e.status for e in report.entries} == dict.fromkeys(FILES + DIRS, "generated")
    app = env.store.get_frame(WS, _heads(env, "src/app.py")["summary"])
    assert app is not None
    assert app.agent_id == "capable"
    assert app.basis.kind == "node"
    meta = dict(app.metadata)
    assert len(meta[META_PROMPT_HASH]) == 64
    assert len(meta[META_CONTEXT_HASH]) == 64
    assert meta["generate.model"] == OFFLINE_MODEL
    content = env.store.blobs.get_many(WS, [app.content_hash])[app.content_hash]
    assert content.startswith(b"src/app.py: Python, 2 lines")
    db = env.store.get_frame(WS, _heads(env, "src/db")["summary"])
    assert db is not None
    assert db.basis.kind == "synthesis"
    assert db.basis.policy_id == PROVIDER_POLICY
    assert len(db.basis.child_frames) == 2
    assert env.api.stale(".", recursive=True, principal=env.owner).frames == ()
    assert report.input_tokens > 0
    assert report.output_tokens > 0
    assert report.cost == 0


def test_a_second_run_on_the_same_inputs_asks_nothing_and_writes_nothing(env: Env) -> None:
    provider = ScriptedProvider()
    _use(env, provider)
    who = env.principal("capable")
    env.api.generate(".", GenerateOptions(recursive=True), principal=who)
    calls, frames = len(provider.calls), _frames(env)
    again = env.api.generate(".", GenerateOptions(recursive=True), principal=who)
    assert {e.status for e in again.entries} == {"current"}
    assert len(provider.calls) == calls
    assert _frames(env) == frames


def test_offline_frames_are_the_same_in_any_store(env: Env, tmp_path) -> None:
    first = env.api.generate(
        ".", GenerateOptions(recursive=True), principal=env.principal("capable")
    )
    other = tmp_path / "again"
    write_tree(other, {p: (env.root / p).read_text() for p in FILES})
    from treeframe.engine.context_api import ContextAPI
    from treeframe.engine.runtime import Runtime
    from treeframe.storage.registry import open_store
    from treeframe.testing.factories import workspace_info
    from treeframe.tree.scan import scan_tree
    from treeframe.workspace.working_tree import WorkingTreeContents

    store = open_store("memory://")
    store.create_workspace(workspace_info(WS, "engine-tests"))
    api = ContextAPI(store, WS, files=WorkingTreeContents(other), runtime=Runtime())
    for agent in env.api.agents.list():
        api.agents.register(agent)
    scan_tree(other, store, WS, workers=1)
    second = api.generate(
        ".", GenerateOptions(recursive=True), principal=api.agent_principal("capable")
    )
    assert [(e.path, e.frame_id) for e in first.entries] == [
        (e.path, e.frame_id) for e in second.entries
    ]


def test_an_edit_makes_the_chain_stale_and_regenerate_agents_redoes_exactly_it(env: Env) -> None:
    provider = ScriptedProvider()
    _use(env, provider)
    env.api.generate(".", GenerateOptions(recursive=True), principal=env.principal("capable"))
    env.edit("src/db/pool.py", "# Pool\nPOOL = make_pool()\n")
    stale = env.api.stale(".", recursive=True, principal=env.owner).frames
    assert {f.path for f in stale} == {"src/db/pool.py", "src/db", "src", ""}
    assert not any(f.recomputable for f in stale)
    plain = env.api.regenerate(".", recursive=True, principal=env.principal("synth"))
    assert plain.regenerated_count == 0
    assert all("regenerate --agents" in f.reason for f in plain.stale_unrecomputable)
    assert {f.frame_id for f in plain.stale_unrecomputable} == {f.frame_id for f in stale}
    calls = len(provider.calls)
    dry = env.api.regenerate(".", recursive=True, dry_run=True, agents=True, principal=env.owner)
    assert dry.regenerated_count == 0
    assert len(provider.calls) == calls
    assert all(f.recomputable for f in dry.stale_unrecomputable)
    report = env.api.regenerate(".", recursive=True, agents=True, principal=env.principal("synth"))
    assert report.regenerated_count == 4
    assert report.stale_unrecomputable == ()
    asked = [r.context["path"] for r in provider.calls[calls:]]
    assert asked == ["src/db/pool.py", "src/db", "src", "."]
    assert env.api.stale(".", recursive=True, principal=env.owner).frames == ()
    pool = env.store.get_frame(WS, _heads(env, "src/db/pool.py")["summary"])
    assert pool is not None
    assert pool.agent_id == "capable"
    again = env.api.regenerate(".", recursive=True, agents=True, principal=env.principal("synth"))
    assert again.regenerated_count == 0
    assert len(provider.calls) == calls + 4


def test_generate_after_an_edit_redoes_only_what_changed(env: Env) -> None:
    provider = ScriptedProvider()
    _use(env, provider)
    who = env.principal("capable")
    env.api.generate(".", GenerateOptions(recursive=True), principal=who)
    env.edit("docs/guide.md", "# Guide\nNew text.\n")
    calls = len(provider.calls)
    report = env.api.generate(".", GenerateOptions(recursive=True), principal=who)
    generated = sorted(e.path for e in report.entries if e.status == "generated")
    assert generated == ["", "docs", "docs/guide.md"]
    assert len(provider.calls) == calls + 3


def test_a_dry_run_asks_no_model_and_writes_nothing(env: Env) -> None:
    provider = ScriptedProvider()
    _use(env, provider)
    frames = _frames(env)
    report = env.api.generate(
        ".", GenerateOptions(recursive=True, dry_run=True), principal=env.principal("capable")
    )
    assert {e.status for e in report.entries} == {"would_generate"}
    assert len(report.entries) == len(FILES + DIRS)
    assert provider.calls == []
    assert _frames(env) == frames


def test_tokens_and_cost_are_reported_from_the_configured_prices(env: Env) -> None:
    _use(env, ScriptedProvider())
    report = env.api.generate(
        "src", GenerateOptions(recursive=True), principal=env.principal("capable")
    )
    completions = 5  # src/app.py, src/db/models.py, src/db/pool.py, src/db, src
    assert report.input_tokens == 100 * completions
    assert report.output_tokens == 10 * completions
    assert report.cost == pytest.approx((500 * 2.0 + 50 * 8.0) / 1e6)
    app = env.store.get_frame(WS, _heads(env, "src/app.py")["summary"])
    assert app is not None
    assert dict(app.metadata)["generate.model"] == "fake-model-2"
    assert dict(app.metadata)["generate.input_tokens"] == "100"


def test_one_failing_completion_fails_its_node_only(env: Env) -> None:
    provider = ScriptedProvider(fail={"src/app.py": ProviderUnavailable("down", provider="fake")})
    _use(env, provider)
    report = env.api.generate(
        "src", GenerateOptions(recursive=True), principal=env.principal("capable")
    )
    by_path = {e.path: e for e in report.entries}
    assert by_path["src/app.py"].status == "failed"
    assert by_path["src/app.py"].code == "provider_unavailable"
    assert by_path["src/db/pool.py"].status == "generated"
    assert "summary" not in _heads(env, "src/app.py")
    # The directory is built over the children that have frames; it is marked incomplete.
    src = env.store.get_frame(WS, _heads(env, "src")["summary"])
    assert src is not None
    assert ("treeframe.incomplete", "true") in src.metadata


def test_refused_credentials_stop_the_run_and_keep_what_was_written(env: Env) -> None:
    provider = ScriptedProvider(fail={"src/db/pool.py": ProviderAuthFailed("no", provider="fake")})
    _use(env, provider)
    with pytest.raises(ProviderAuthFailed):
        env.api.generate(
            "src",
            GenerateOptions(recursive=True, concurrency=1),
            principal=env.principal("capable"),
        )
    assert "summary" not in _heads(env, "src")  # directories never started
    audit = env.api.audit_log(principal=env.owner)
    assert any(e.operation == "frames.generate" for e in audit)


def test_completions_in_flight_never_exceed_the_concurrency(env: Env) -> None:
    provider = ScriptedProvider()
    provider.delay = 0.05
    _use(env, provider)
    write_tree(env.root, {f"many/f{i}.txt": f"file {i}\n" for i in range(12)})
    env.scan()
    env.api.generate(
        "many", GenerateOptions(recursive=True, concurrency=3), principal=env.principal("capable")
    )
    assert 1 < provider.peak <= 3


def test_a_writer_without_synthesize_gets_file_frames_and_directories_are_skipped(env: Env) -> None:
    report = env.api.generate(
        ".", GenerateOptions(recursive=True), principal=env.principal("writer")
    )
    by_path = {e.path: e for e in report.entries}
    assert all(by_path[p].status == "generated" for p in FILES)
    assert all(by_path[d].status == "skipped" and "synthesize" in by_path[d].reason for d in DIRS)


def test_a_fresh_head_by_another_agent_is_left_alone_unless_forced(env: Env) -> None:
    mine = env.put("src/app.py", "summary", "written by hand")
    who = env.principal("capable")
    report = env.api.generate("src/app.py", GenerateOptions(), principal=who)
    assert report.entries[0].status == "skipped"
    assert "'writer'" in report.entries[0].reason
    assert _heads(env, "src/app.py")["summary"] == mine
    forced = env.api.generate("src/app.py", GenerateOptions(force=True), principal=who)
    assert forced.entries[0].status == "generated"
    assert _heads(env, "src/app.py")["summary"] != mine


def test_a_changed_prompt_makes_frames_no_longer_current(env: Env) -> None:
    provider = ScriptedProvider()
    _use(env, provider)
    who = env.principal("capable")
    env.api.generate("src/app.py", GenerateOptions(), principal=who)
    _use(env, provider, prompts={"file": "Summarize ${path} in one line:\n${content}"})
    report = env.api.generate("src/app.py", GenerateOptions(), principal=who)
    assert report.entries[0].status == "generated"
    assert provider.calls[-1].messages[-1].content.startswith("Summarize src/app.py in one line:")


def test_directories_by_synthesis_use_the_summary_policy(env: Env) -> None:
    who = env.principal("capable")
    report = env.api.generate(
        ".", GenerateOptions(recursive=True, directories="synthesis"), principal=who
    )
    assert all(e.status == "generated" for e in report.entries)
    db = env.store.get_frame(WS, _heads(env, "src/db")["summary"])
    assert db is not None
    assert db.basis.policy_id == "summary"
    again = env.api.generate(
        ".", GenerateOptions(recursive=True, directories="synthesis"), principal=who
    )
    assert {e.status for e in again.entries} == {"current"}


def test_binary_files_are_not_sent_to_a_model_but_described_by_size(env: Env) -> None:
    (env.root / "src" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    env.scan()
    provider = ScriptedProvider()
    _use(env, provider)
    who = env.principal("capable")
    report = env.api.generate("src", GenerateOptions(recursive=True), principal=who)
    logo = next(e for e in report.entries if e.path == "src/logo.png")
    assert logo.status == "generated"
    assert logo.input_tokens == 0
    assert all(r.context["path"] != "src/logo.png" for r in provider.calls)
    frame = env.store.get_frame(WS, _heads(env, "src/logo.png")["summary"])
    assert frame is not None
    content = env.store.blobs.get_many(WS, [frame.content_hash])[frame.content_hash]
    assert content == b"src/logo.png: binary file, 11 bytes.\n"
    assert dict(frame.metadata)["generate.model"] == "none"
    # Its directory is complete: every child has an input.
    src = env.store.get_frame(WS, _heads(env, "src")["summary"])
    assert src is not None
    assert ("treeframe.incomplete", "true") not in src.metadata


def test_a_file_edited_since_the_scan_is_refused(env: Env) -> None:
    (env.root / "src" / "app.py").write_text("changed on disk\n")
    report = env.api.generate("src/app.py", GenerateOptions(), principal=env.principal("capable"))
    assert report.entries[0].status == "failed"
    assert "scan first" in report.entries[0].reason


def test_bad_options_and_unknown_providers_are_refused(env: Env) -> None:
    with pytest.raises(InvalidRequest):
        GenerateOptions(directories="maybe")
    with pytest.raises(InvalidRequest):
        GenerateOptions(frame_type="bad type")
    settings = Settings.model_validate(
        {"agents": {"capable": {"role": "writer", "provider": "nowhere"}}}
    )
    env.api.models = ModelAgents(settings)
    with pytest.raises(ConfigError, match="nowhere"):
        env.api.generate("src/app.py", GenerateOptions(), principal=env.principal("capable"))
    settings = Settings.model_validate(
        {
            "agents": {"capable": {"role": "writer", "provider": "p"}},
            "providers": {"p": {"kind": "anthropic"}},
        }
    )
    env.api.models = ModelAgents(settings, lambda name: ScriptedProvider(name))
    with pytest.raises(ConfigError, match="names no model"):
        env.api.generate("src/app.py", GenerateOptions(), principal=env.principal("capable"))
    bad = {"agents": {"capable": {"role": "writer", "prompts": {"file": "${nope}"}}}}
    env.api.models = ModelAgents(Settings.model_validate(bad))
    with pytest.raises(ConfigError, match="nope"):
        env.api.generate("src/app.py", GenerateOptions(), principal=env.principal("capable"))


def test_the_provider_policy_is_reserved_for_model_agents(env: Env) -> None:
    env.put("src/app.py", "summary", "x")
    with pytest.raises(InvalidPolicy, match="reserved"):
        env.api.synthesize_branch(
            "src", "summary", policy=PROVIDER_POLICY, principal=env.principal("synth")
        )


def test_progress_reports_the_files_then_the_directories(env: Env) -> None:
    seen: list[tuple[str, int, int | None]] = []
    env.api.generate(
        ".",
        GenerateOptions(recursive=True),
        principal=env.principal("capable"),
        progress=lambda phase, done, total: seen.append((phase, done, total)),
    )
    assert seen[0][0] == "files"
    assert ("files", len(FILES), len(FILES)) in seen
    # Directories come a level at a time: counted on, the total known at the end.
    assert seen[-1] == ("directories", len(DIRS), len(DIRS))
    during = [(done, total) for phase, done, total in seen[:-1] if phase == "directories"]
    assert all(total is None for _, total in during)
    assert [done for done, _ in during] == sorted(done for done, _ in during)


class CountingContents:
    """The working tree, counting reads (a file is read when its prompt is built)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads = 0

    def read(self, record: Any) -> bytes:
        self.reads += 1
        return bytes(self.inner.read(record))


def test_prompts_are_built_only_a_window_ahead_of_the_completions(env: Env) -> None:
    write_tree(env.root, {f"many/f{i:02}.txt": f"file {i}\n" for i in range(20)})
    env.scan()
    counting = CountingContents(env.api.files)
    reads_at_call: list[int] = []
    provider = ScriptedProvider()
    original = provider.complete

    def complete(request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        reads_at_call.append(counting.reads)
        return original(request, on_text)

    provider.complete = complete  # type: ignore[method-assign]
    _use(env, provider)
    report = env.api.generate(
        "many",
        GenerateOptions(recursive=True, concurrency=1, directories="none"),
        principal=env.principal("capable"),
        files=counting,
    )
    assert report.count("generated") == 20
    assert counting.reads == 20
    # Concurrency 1 keeps at most 2 jobs ahead: the k-th completion saw at most k + 2 files read.
    assert all(reads <= k + 2 for k, reads in enumerate(reads_at_call))


def test_file_content_with_dollars_and_braces_reaches_the_model_verbatim(env: Env) -> None:
    text = "price = '$5'  # ${path} {x} $$\n"
    (env.root / "src" / "app.py").write_text(text)
    env.scan()
    provider = ScriptedProvider()
    _use(env, provider)
    env.api.generate("src/app.py", GenerateOptions(), principal=env.principal("capable"))
    assert text in provider.calls[0].messages[-1].content


def test_regenerate_agents_reports_an_unavailable_provider_and_stops_on_refused_keys(
    env: Env,
) -> None:
    provider = ScriptedProvider()
    _use(env, provider)
    env.api.generate("src", GenerateOptions(recursive=True), principal=env.principal("capable"))
    env.edit("src/app.py", "print('v2')\n")
    provider.fail = {"src/app.py": ProviderUnavailable("down", provider="fake")}
    report = env.api.regenerate("src", recursive=True, agents=True, principal=env.owner)
    reasons = {f.path: f.reason for f in report.stale_unrecomputable}
    assert "provider_unavailable" in reasons["src/app.py"]
    provider.fail = {"src/app.py": ProviderAuthFailed("bad key", provider="fake")}
    with pytest.raises(ProviderAuthFailed):
        env.api.regenerate("src", recursive=True, agents=True, principal=env.owner)
