"""Both wire formats, streamed and not, against the fake server: bodies, headers, text, usage."""

from __future__ import annotations

import threading

import pytest

from tests.fakes.model_server import FakeModelServer, Reply
from tests.providers.conftest import REQUEST, Build
from treeframe.providers import Completion, CompletionRequest, Message, Provider, Usage

KINDS = ["openai", "anthropic"]
STREAM = pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])


def complete(
    provider: Provider, request: CompletionRequest = REQUEST
) -> tuple[Completion, list[str]]:
    pieces: list[str] = []
    return provider.complete(request, pieces.append), pieces


@pytest.mark.parametrize("kind", KINDS)
@STREAM
def test_completion_carries_text_usage_model_and_finish(
    build: Build, fake_models: FakeModelServer, kind: str, stream: bool
):
    fake_models.script(Reply.ok("hello streaming world", usage=(21, 3)))
    completion, pieces = complete(build(kind, stream=stream))
    assert completion.text == "hello streaming world"
    assert completion.usage == Usage(input_tokens=21, output_tokens=3)
    assert completion.model == "model-1"
    assert completion.finish_reason == ("stop" if kind == "openai" else "end_turn")
    # a stream feeds every piece as it arrives, in order; a whole answer comes as one piece
    assert pieces == (["hello ", "streaming ", "world"] if stream else ["hello streaming world"])


@pytest.mark.parametrize("kind", KINDS)
@STREAM
def test_the_model_that_answered_is_reported(
    build: Build, fake_models: FakeModelServer, kind: str, stream: bool
):
    fake_models.script(Reply.ok("x", model="model-1-2025-01-01"))
    completion, _ = complete(build(kind, stream=stream))
    assert completion.model == "model-1-2025-01-01"


@pytest.mark.parametrize("kind", KINDS)
def test_on_text_is_optional(build: Build, kind: str):
    assert build(kind).complete(REQUEST).text == "fake completion"


@STREAM
def test_openai_body_puts_the_system_prompt_first(
    build: Build, fake_models: FakeModelServer, stream: bool
):
    complete(build("openai", stream=stream))
    request = fake_models.last
    assert request.path == "/v1/chat/completions"
    expected = {
        "model": "model-1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Describe src/app.py"},
        ],
        "max_tokens": 64,
        "temperature": 0.2,
        "stream": stream,
    }
    if stream:
        expected["stream_options"] = {"include_usage": True}
    assert request.body == expected
    assert request.headers["content-type"] == "application/json"


def test_openai_body_without_system_prompt_has_no_system_message(
    build: Build, fake_models: FakeModelServer
):
    request = CompletionRequest(
        model="m",
        messages=(Message("user", "q"), Message("assistant", "a"), Message("user", "q2")),
    )
    build("openai").complete(request)
    assert [m["role"] for m in fake_models.last.body["messages"]] == ["user", "assistant", "user"]


@STREAM
def test_anthropic_body_and_headers(build: Build, fake_models: FakeModelServer, stream: bool):
    complete(build("anthropic", stream=stream, api_key="sk-ant-test-key"))
    request = fake_models.last
    assert request.path == "/v1/messages"
    assert request.body == {
        "model": "model-1",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Describe src/app.py"}],
        "max_tokens": 64,
        "temperature": 0.2,
        "stream": stream,
    }
    assert request.headers["x-api-key"] == "sk-ant-test-key"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers


def test_anthropic_body_leaves_out_an_empty_system_prompt(
    build: Build, fake_models: FakeModelServer
):
    build("anthropic").complete(CompletionRequest(model="m", messages=(Message("user", "q"),)))
    assert "system" not in fake_models.last.body
    assert "x-api-key" not in fake_models.last.headers


@pytest.mark.parametrize("kind", KINDS)
def test_no_key_means_no_auth_header(build: Build, fake_models: FakeModelServer, kind: str):
    complete(build(kind))
    headers = fake_models.last.headers
    assert "authorization" not in headers
    assert "x-api-key" not in headers
    assert headers["user-agent"].startswith("treeframe/")


def test_openai_key_is_a_bearer_header(build: Build, fake_models: FakeModelServer):
    complete(build("openai", api_key="sk-test-123456"))
    assert fake_models.last.headers["authorization"] == "Bearer sk-test-123456"


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_asks_for_server_sent_events(
    build: Build, fake_models: FakeModelServer, kind: str
):
    complete(build(kind, stream=True))
    assert fake_models.last.headers["accept"] == "text/event-stream"


def test_base_url_with_a_trailing_slash(build: Build, fake_models: FakeModelServer):
    complete(build("openai", base_url=fake_models.openai_url + "/"))
    assert fake_models.last.path == "/v1/chat/completions"


def test_openai_stream_without_done_marker_ends_at_finish_reason(
    build: Build, fake_models: FakeModelServer
):
    fake_models.script(Reply.ok("a b", done=False))
    completion, pieces = complete(build("openai"))
    assert (completion.text, pieces, completion.finish_reason) == ("a b", ["a ", "b"], "stop")


def test_openai_stream_pieces_keep_their_exact_text(build: Build, fake_models: FakeModelServer):
    fake_models.script(Reply.ok("", pieces=("line one\n", "  indented", " ✓")))
    completion, pieces = complete(build("openai"))
    assert pieces == ["line one\n", "  indented", " ✓"]
    assert completion.text == "line one\n  indented ✓"


def test_anthropic_finish_reason_is_the_stop_reason(build: Build, fake_models: FakeModelServer):
    fake_models.script(Reply.ok("cut", finish_reason="max_tokens"))
    completion, _ = complete(build("anthropic"))
    assert completion.finish_reason == "max_tokens"


@pytest.mark.parametrize("kind", KINDS)
def test_one_provider_serves_many_threads(build: Build, fake_models: FakeModelServer, kind: str):
    provider = build(kind)
    results: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        text = provider.complete(REQUEST).text
        with lock:
            results.append(text)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == ["fake completion"] * 8
    assert len(fake_models.requests) == 8


@pytest.mark.parametrize("kind", KINDS)
def test_close_is_idempotent_and_a_closed_provider_reconnects(build: Build, kind: str):
    provider = build(kind)
    provider.complete(REQUEST)
    provider.close()
    provider.close()
    assert provider.complete(REQUEST).text == "fake completion"


def test_providers_speak_the_provider_protocol(build: Build):
    for kind in KINDS:
        provider = build(kind)
        assert isinstance(provider, Provider)
        assert (provider.name, provider.kind) == ("fake", kind)
