"""Every failure of both wire formats: what is retried, how long it waits, which error it becomes."""

from __future__ import annotations

import socket

import pytest

from tests.fakes.model_server import FakeModelServer, Reply
from tests.providers.conftest import REQUEST, Build
from treeframe.errors import (
    ProviderAuthFailed,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestInvalid,
    ProviderResponseInvalid,
    ProviderUnavailable,
)
from treeframe.providers.http import MAX_DELAY_SECONDS

KINDS = pytest.mark.parametrize("kind", ["openai", "anthropic"])
STREAM = pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])


def url_of(fake_models: FakeModelServer, kind: str) -> str:
    path = "/v1/chat/completions" if kind == "openai" else "/v1/messages"
    return fake_models.url + path


@KINDS
@STREAM
@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_auth_failed_and_never_retried(
    build: Build, fake_models: FakeModelServer, kind: str, stream: bool, status: int
):
    fake_models.script(Reply.error(status, "invalid x-api-key", type="authentication_error"))
    with pytest.raises(ProviderAuthFailed) as caught:
        build(kind, stream=stream).complete(REQUEST)
    assert len(fake_models.requests) == 1
    message = caught.value.message
    assert "provider 'fake'" in message
    assert url_of(fake_models, kind) in message
    assert "invalid x-api-key" in message
    assert "providers.fake.api_key" in message
    assert caught.value.provider == "fake"


@KINDS
@STREAM
@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_other_4xx_is_request_invalid_with_the_providers_message(
    build: Build, fake_models: FakeModelServer, kind: str, stream: bool, status: int
):
    fake_models.script(Reply.error(status, "model 'nope' not found", type="invalid_request_error"))
    with pytest.raises(ProviderRequestInvalid, match="model 'nope' not found") as caught:
        build(kind, stream=stream).complete(REQUEST)
    assert len(fake_models.requests) == 1
    assert str(status) in caught.value.message


def test_ollama_style_error_string_is_the_message(build: Build, fake_models: FakeModelServer):
    fake_models.script(Reply.raw(404, b'{"error": "model \\"llama9\\" not found, try pulling it"}'))
    with pytest.raises(ProviderRequestInvalid, match="try pulling it"):
        build("openai").complete(REQUEST)


@KINDS
def test_a_wrong_base_url_is_request_invalid(build: Build, fake_models: FakeModelServer, kind: str):
    with pytest.raises(ProviderRequestInvalid, match="404"):
        build(kind, base_url=fake_models.url + "/wrong").complete(REQUEST)


@KINDS
@STREAM
def test_429_is_retried_honouring_retry_after(
    build: Build, fake_models: FakeModelServer, sleeps: list[float], kind: str, stream: bool
):
    fake_models.script(Reply.error(429, retry_after=2), Reply.error(429, retry_after="0.5"))
    completion = build(kind, stream=stream).complete(REQUEST)
    assert completion.text == "fake completion"
    assert len(fake_models.requests) == 3
    assert sleeps == [2.0, 0.5]


@KINDS
def test_429_on_every_retry_is_rate_limited_with_retry_after(
    build: Build, fake_models: FakeModelServer, sleeps: list[float], kind: str
):
    fake_models.script(*[Reply.error(429, "slow down", retry_after=3)] * 3)
    with pytest.raises(ProviderRateLimited) as caught:
        build(kind, max_retries=2).complete(REQUEST)
    assert len(fake_models.requests) == 3
    assert sleeps == [3.0, 3.0]
    assert caught.value.retry_after == 3.0
    assert "slow down" in caught.value.message
    assert "3 attempts" in caught.value.message


def test_retry_after_is_capped(build: Build, fake_models: FakeModelServer, sleeps: list[float]):
    fake_models.script(Reply.error(429, retry_after=3600), Reply.error(429, retry_after=3600))
    with pytest.raises(ProviderRateLimited) as caught:
        build("openai", max_retries=1).complete(REQUEST)
    assert sleeps == [MAX_DELAY_SECONDS]
    assert caught.value.retry_after == MAX_DELAY_SECONDS


def test_a_retry_after_date_falls_back_to_the_backoff(
    build: Build, fake_models: FakeModelServer, sleeps: list[float]
):
    fake_models.script(Reply.error(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    build("openai", backoff_seconds=4).complete(REQUEST)
    assert len(sleeps) == 1
    assert 2.0 <= sleeps[0] <= 4.0


def test_backoff_doubles_with_jitter_and_is_capped(
    build: Build, fake_models: FakeModelServer, sleeps: list[float]
):
    fake_models.script(*[Reply.error(503)] * 6)
    with pytest.raises(ProviderUnavailable) as caught:
        build("anthropic", max_retries=5, backoff_seconds=5).complete(REQUEST)
    assert len(fake_models.requests) == 6
    bases = [5, 10, 20, 30, 30]  # doubled, at most MAX_DELAY_SECONDS
    assert len(sleeps) == len(bases)
    for delay, base in zip(sleeps, bases, strict=True):
        assert base / 2 <= delay <= base  # "equal jitter"
    assert caught.value.retry_after == MAX_DELAY_SECONDS


@KINDS
@STREAM
@pytest.mark.parametrize("status", [500, 502, 503, 529])
def test_5xx_is_retried_then_unavailable(
    build: Build,
    fake_models: FakeModelServer,
    sleeps: list[float],
    kind: str,
    stream: bool,
    status: int,
):
    fake_models.script(*[Reply.error(status, "upstream exploded")] * 2)
    with pytest.raises(ProviderUnavailable) as caught:
        build(kind, stream=stream, max_retries=1).complete(REQUEST)
    assert len(fake_models.requests) == 2
    assert len(sleeps) == 1
    assert str(status) in caught.value.message
    assert url_of(fake_models, kind) in caught.value.message


@KINDS
def test_a_5xx_then_success_succeeds(build: Build, fake_models: FakeModelServer, kind: str):
    fake_models.script(Reply.error(503, retry_after=0))
    assert build(kind).complete(REQUEST).text == "fake completion"
    assert len(fake_models.requests) == 2


@KINDS
def test_no_retries_means_one_request(
    build: Build, fake_models: FakeModelServer, sleeps: list[float], kind: str
):
    fake_models.script(Reply.error(500))
    with pytest.raises(ProviderUnavailable):
        build(kind, max_retries=0).complete(REQUEST)
    assert (len(fake_models.requests), sleeps) == (1, [])


@KINDS
@STREAM
def test_a_body_that_is_not_json_is_response_invalid_and_not_retried(
    build: Build, fake_models: FakeModelServer, kind: str, stream: bool
):
    content_type = "text/event-stream" if stream else "application/json"
    body = b"data: {not json\n\n" if stream else b"<html>gateway</html>"
    fake_models.script(Reply.raw(200, body, content_type))
    with pytest.raises(ProviderResponseInvalid, match="not JSON") as caught:
        build(kind, stream=stream).complete(REQUEST)
    assert len(fake_models.requests) == 1
    assert "provider 'fake'" in caught.value.message


@KINDS
def test_json_that_is_not_a_completion_is_response_invalid(
    build: Build, fake_models: FakeModelServer, kind: str
):
    fake_models.script(Reply.raw(200, b'{"unexpected": true}'))
    with pytest.raises(ProviderResponseInvalid):
        build(kind, stream=False).complete(REQUEST)


@KINDS
def test_an_unexpected_status_is_response_invalid(
    build: Build, fake_models: FakeModelServer, kind: str
):
    fake_models.script(Reply.raw(302, b""))
    with pytest.raises(ProviderResponseInvalid, match="302"):
        build(kind, stream=False).complete(REQUEST)


@KINDS
def test_a_stream_cut_before_any_text_is_retried(
    build: Build, fake_models: FakeModelServer, sleeps: list[float], kind: str
):
    fake_models.script(Reply.cut("lost words", after=0), Reply.ok("second try"))
    pieces: list[str] = []
    completion = build(kind).complete(REQUEST, pieces.append)
    assert completion.text == "second try"
    assert pieces == ["second ", "try"]
    assert len(fake_models.requests) == 2
    assert len(sleeps) == 1


@KINDS
def test_a_stream_cut_after_text_is_not_retried(
    build: Build, fake_models: FakeModelServer, kind: str
):
    fake_models.script(Reply.cut("one two three", after=2))
    pieces: list[str] = []
    with pytest.raises(ProviderError) as caught:
        build(kind).complete(REQUEST, pieces.append)
    assert type(caught.value) is ProviderError
    assert "after part of the text was delivered" in caught.value.message
    assert pieces == ["one ", "two "]
    assert len(fake_models.requests) == 1


@KINDS
def test_a_stream_cut_on_every_retry_is_unavailable(
    build: Build, fake_models: FakeModelServer, kind: str
):
    fake_models.script(*[Reply.cut(after=0)] * 3)
    with pytest.raises(ProviderUnavailable, match="connection lost"):
        build(kind, max_retries=2).complete(REQUEST)
    assert len(fake_models.requests) == 3


def test_an_anthropic_stream_without_message_stop_is_cut_short(
    build: Build, fake_models: FakeModelServer
):
    body = b'event: message_start\ndata: {"type": "message_start", "message": {"usage": {}}}\n\n'
    fake_models.script(*[Reply.raw(200, body, "text/event-stream")] * 2)
    with pytest.raises(ProviderUnavailable, match="no message_stop"):
        build("anthropic", max_retries=1).complete(REQUEST)
    assert len(fake_models.requests) == 2


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("overloaded_error", ProviderUnavailable),
        ("api_error", ProviderUnavailable),
        ("rate_limit_error", ProviderRateLimited),
        ("authentication_error", ProviderAuthFailed),
        ("permission_error", ProviderAuthFailed),
        ("invalid_request_error", ProviderRequestInvalid),
    ],
)
def test_an_anthropic_error_event_is_mapped(
    build: Build, fake_models: FakeModelServer, error_type: str, expected: type[ProviderError]
):
    fake_models.script(*[Reply.stream_error(error_type, "Overloaded, try later")] * 2)
    with pytest.raises(expected, match="Overloaded, try later") as caught:
        build("anthropic", max_retries=1).complete(REQUEST)
    assert type(caught.value) is expected
    retried = expected in (ProviderUnavailable, ProviderRateLimited)
    assert len(fake_models.requests) == (2 if retried else 1)
    assert error_type in caught.value.message


def test_an_overloaded_event_before_text_is_retried(build: Build, fake_models: FakeModelServer):
    fake_models.script(Reply.stream_error("overloaded_error"), Reply.ok("fine now"))
    assert build("anthropic").complete(REQUEST).text == "fine now"


def test_an_overloaded_event_after_text_is_unavailable_at_once(
    build: Build, fake_models: FakeModelServer
):
    fake_models.script(Reply.stream_error("overloaded_error", after=1, text="partial answer"))
    pieces: list[str] = []
    with pytest.raises(ProviderUnavailable):
        build("anthropic").complete(REQUEST, pieces.append)
    assert pieces == ["partial "]
    assert len(fake_models.requests) == 1


def test_an_openai_error_chunk_mid_stream_is_mapped(build: Build, fake_models: FakeModelServer):
    fake_models.script(Reply.stream_error("server_error", "the model crashed"), Reply.ok("ok"))
    assert build("openai").complete(REQUEST).text == "ok"
    fake_models.script(Reply.stream_error("invalid_request_error", "context too long"))
    with pytest.raises(ProviderRequestInvalid, match="context too long"):
        build("openai").complete(REQUEST)


@KINDS
@STREAM
def test_a_slow_reply_times_out_and_is_retried(
    build: Build, fake_models: FakeModelServer, kind: str, stream: bool
):
    fake_models.script(*[Reply.slow(5)] * 2)
    with pytest.raises(ProviderUnavailable, match=r"no answer within 0\.2 s") as caught:
        build(kind, stream=stream, timeout_seconds=0.2, max_retries=1).complete(REQUEST)
    assert len(fake_models.requests) == 2
    assert caught.value.provider == "fake"


def test_a_slow_reply_then_a_fast_one_succeeds(build: Build, fake_models: FakeModelServer):
    fake_models.script(Reply.slow(5))
    assert build("openai", timeout_seconds=0.2).complete(REQUEST).text == "fake completion"


@KINDS
def test_a_refused_connection_is_retried_then_unavailable(
    build: Build, sleeps: list[float], kind: str
):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}" + ("/v1" if kind == "openai" else "")
    with pytest.raises(ProviderUnavailable, match="cannot connect") as caught:
        build(kind, base_url=base_url, max_retries=2).complete(REQUEST)
    assert len(sleeps) == 2
    assert f"127.0.0.1:{port}" in caught.value.message


@KINDS
def test_a_json_answer_to_a_stream_request_says_to_turn_streaming_off(
    build: Build, fake_models: FakeModelServer, kind: str
):
    fake_models.script(Reply.raw(200, b'{"choices": []}'))
    with pytest.raises(ProviderResponseInvalid, match=r"providers\.fake\.stream = false"):
        build(kind, stream=True).complete(REQUEST)
    assert len(fake_models.requests) == 1
