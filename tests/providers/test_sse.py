"""The server-sent-events line parser and the small helpers both wire formats share."""

from __future__ import annotations

import pytest

from treeframe.providers.http import ServerSentEvent, iter_sse, provider_message, token_count


def events(text: str) -> list[ServerSentEvent]:
    return list(iter_sse(text.splitlines()))


def test_events_are_split_on_blank_lines_and_named_or_message():
    assert events("event: ping\ndata: {}\n\ndata: [DONE]\n\n") == [
        ServerSentEvent("ping", "{}"),
        ServerSentEvent("message", "[DONE]"),
    ]


def test_crlf_lines_are_the_same_stream():
    assert events("event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n") == [
        ServerSentEvent("a", "1"),
        ServerSentEvent("message", "2"),
    ]


def test_data_lines_of_one_event_are_joined_with_newlines():
    assert events('data: {\ndata:  "a": 1}\n\n') == [ServerSentEvent("message", '{\n "a": 1}')]


def test_comments_ids_retries_and_dataless_events_are_ignored():
    text = ": keep-alive\n\nid: 7\nretry: 1000\nevent: empty\n\nevent: x\ndata:no-space\n\n"
    assert events(text) == [ServerSentEvent("x", "no-space")]


def test_the_event_name_does_not_leak_into_the_next_event():
    assert events("event: a\ndata: 1\n\ndata: 2\n\n")[1].event == "message"


def test_a_last_event_without_its_blank_line_is_still_given():
    assert events("data: 1\n\ndata: [DONE]") == [
        ServerSentEvent("message", "1"),
        ServerSentEvent("message", "[DONE]"),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": {"message": "bad model", "type": "x"}}, "bad model"),
        ({"type": "error", "error": {"type": "x", "message": "overloaded"}}, "overloaded"),
        ({"error": "model not found"}, "model not found"),  # Ollama
        ({"message": "plain"}, "plain"),
        ({"error": {"code": 1}}, ""),
        (["not", "an", "object"], ""),
        (None, ""),
    ],
)
def test_provider_message(body: object, message: str):
    assert provider_message(body) == message


@pytest.mark.parametrize(
    ("value", "count"), [(5, 5), (0, 0), (-1, 0), (True, 0), ("5", 0), (None, 0)]
)
def test_token_count_keeps_only_counts(value: object, count: int):
    assert token_count(value) == count
