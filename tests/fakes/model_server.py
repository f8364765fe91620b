"""A fake model server on 127.0.0.1 that speaks OpenAI chat completions and Anthropic messages.

A real HTTP/1.1 server (stdlib ``http.server`` in a thread, ephemeral port)
so providers are tested through their real transport, streaming included,
with no network. The wire format is picked by the path:
``POST /v1/chat/completions`` answers as OpenAI (and Ollama, LM Studio,
vLLM), ``POST /v1/messages`` as Anthropic; ``"stream": true`` in the body
gets server-sent events, sent in HTTP chunks, flushed one by one.

The fixture ``fake_models`` (registered in ``tests/conftest.py``) gives a
started :class:`FakeModelServer`, stopped after the test::

    def test_something(fake_models):
        fake_models.script(Reply.error(429, retry_after=0), Reply.ok("hello world"))
        settings = Settings.model_validate(
            {"providers": {"local": fake_models.provider_config("openai")}}
        )
        provider = provider_for("local", settings, sleep=lambda s: None)
        ...
        request = fake_models.requests[-1]       # a RecordedRequest
        assert request.path == "/v1/chat/completions"
        assert "authorization" not in request.headers   # header names are lowercased
        assert request.body["stream"] is True            # the decoded JSON body

Scripting: :meth:`FakeModelServer.script` queues :class:`Reply` values,
one consumed per request in order; once the queue is empty every request
gets ``respond(request)`` (set it with :meth:`FakeModelServer.respond_with`;
by default ``Reply.ok()``, the text ``"fake completion"``). Replies:

- ``Reply.ok(text, pieces=...)``: a completion in the requested format;
  a stream sends one delta per piece (default: per word, spaces kept);
  ``usage`` and ``finish_reason`` are settable, ``done=False`` leaves out
  OpenAI's ``data: [DONE]``.
- ``Reply.error(status, message, retry_after=..., type=...)``: a JSON error
  body ``{"error": {"message", "type"}}`` (both formats' shape) with
  ``Retry-After`` when given.
- ``Reply.raw(status, body, content_type)``: exactly these bytes (malformed JSON...).
- ``Reply.cut(text, after=n)``: a stream that sends ``n`` pieces, then drops
  the connection without ending the chunked body.
- ``Reply.stream_error(type, message, after=n)``: ``n`` pieces, then an error
  event (Anthropic ``event: error``; OpenAI ``data: {"error": ...}``).
- ``Reply.slow(seconds, ...)``: any reply, sent after a delay (timeouts).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["FakeModelServer", "RecordedRequest", "Reply", "fake_models"]

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received: method, path, lowercased headers, decoded JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request (build one with the class methods)."""

    text: str = "fake completion"
    pieces: tuple[str, ...] | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "application/json"
    delay: float = 0.0
    cut_after: int | None = None
    error_event: tuple[str, str] | None = None
    usage: tuple[int, int] = (11, 7)
    finish_reason: str | None = None
    model: str | None = None
    done: bool = True

    @classmethod
    def ok(cls, text: str = "fake completion", **options: Any) -> Reply:
        """A successful completion of ``text`` in the requested format."""
        return cls(text=text, **options)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "fake error",
        *,
        retry_after: float | str | None = None,
        type: str = "fake_error",
    ) -> Reply:
        """A JSON error answer, ``{"error": {"message": ..., "type": ...}}``."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        body = json.dumps({"type": "error", "error": {"message": message, "type": type}})
        return cls(status=status, headers=headers, body=body.encode())

    @classmethod
    def raw(cls, status: int, body: bytes, content_type: str = "application/json") -> Reply:
        """Exactly ``body``, whatever the format expects."""
        return cls(status=status, body=body, content_type=content_type)

    @classmethod
    def cut(cls, text: str = "fake completion", *, after: int = 1) -> Reply:
        """A stream dropped after ``after`` pieces (no end of the chunked body)."""
        return cls(text=text, cut_after=after)

    @classmethod
    def stream_error(
        cls, type: str, message: str = "fake stream error", *, after: int = 0, text: str = "a b c"
    ) -> Reply:
        """A stream that fails with an error event after ``after`` pieces."""
        return cls(text=text, cut_after=after, error_event=(type, message))

    @classmethod
    def slow(cls, seconds: float, reply: Reply | None = None) -> Reply:
        """``reply`` (default ``Reply.ok()``) sent ``seconds`` late."""
        return replace(reply or cls(), delay=seconds)

    def split(self) -> list[str]:
        """The pieces a stream sends: as given, else word by word (spaces kept)."""
        if self.pieces is not None:
            return list(self.pieces)
        words = self.text.split(" ")
        return [w if i == len(words) - 1 else w + " " for i, w in enumerate(words) if w or i == 0]


class _Server(ThreadingHTTPServer):
    # A backlog for many threads connecting at once (the default 5 drops SYNs: 1 s retransmits).
    request_queue_size = 128
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout test) is expected; anything else is printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeModelServer:
    """The server and its script (see the module docstring); ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Reply] = []
        self._respond: Callable[[RecordedRequest], Reply] = lambda _request: Reply.ok()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"

    @property
    def openai_url(self) -> str:
        """The ``base_url`` of an ``openai`` provider (ends in ``/v1``)."""
        return f"{self.url}/v1"

    @property
    def anthropic_url(self) -> str:
        """The ``base_url`` of an ``anthropic`` provider."""
        return self.url

    def provider_config(self, kind: str, **options: Any) -> dict[str, Any]:
        """A ``providers.<name>`` table pointing at this server (``options`` added to it)."""
        base_url = self.openai_url if kind == "openai" else self.anthropic_url
        return {"kind": kind, "base_url": base_url, **options}

    def script(self, *replies: Reply) -> None:
        """Queue ``replies``: the next requests get them, one each, in order."""
        with self._lock:
            self._queue.extend(replies)

    def respond_with(self, respond: Callable[[RecordedRequest], Reply]) -> None:
        """What every request gets once the script is used up."""
        self._respond = respond

    @property
    def last(self) -> RecordedRequest:
        """The latest request."""
        with self._lock:
            return self.requests[-1]

    def start(self) -> FakeModelServer:
        """Serve on a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; a slow reply still waiting gives up at once."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._queue:
                return self._queue.pop(0)
        return self._respond(request)


def _handler_for(server: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body in separate writes: no 40 ms stalls

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test's own assertions say what happened."""

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            request = RecordedRequest(
                method="POST",
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw=raw,
            )
            reply = server._next(request)
            if reply.delay and server._stopping.wait(reply.delay):
                return
            if self.path not in (OPENAI_PATH, ANTHROPIC_PATH) and reply.body is None:
                reply = Reply.error(404, f"no route {self.path}", type="not_found_error")
            if reply.body is not None:
                self._send(reply.status, reply.body, reply.content_type, reply.headers)
                return
            anthropic = self.path == ANTHROPIC_PATH
            model = reply.model or (body or {}).get("model") or "fake-model"
            if isinstance(body, dict) and body.get("stream"):
                events = (
                    _anthropic_stream(reply, model)
                    if anthropic
                    else _openai_stream(reply, model, body)
                )
                self._stream(reply, events)
            else:
                answer = (
                    _anthropic_answer(reply, model) if anthropic else _openai_answer(reply, model)
                )
                self._send(
                    reply.status, json.dumps(answer).encode(), "application/json", reply.headers
                )

        def _send(
            self, status: int, data: bytes, content_type: str, headers: Mapping[str, str]
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, reply: Reply, events: Iterator[bytes | None]) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            for event in events:
                if event is None:  # the cut: drop the connection mid-body
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


def _sse(data: Any, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()


def _openai_answer(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": reply.finish_reason or "stop",
            }
        ],
        "usage": {
            "prompt_tokens": reply.usage[0],
            "completion_tokens": reply.usage[1],
            "total_tokens": sum(reply.usage),
        },
    }


def _openai_stream(reply: Reply, model: str, body: Mapping[str, Any]) -> Iterator[bytes | None]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [choice],
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    for number, piece in enumerate(reply.split()):
        if reply.cut_after is not None and number >= reply.cut_after:
            break
        yield chunk({"content": piece})
    if reply.error_event is not None:
        kind, message = reply.error_event
        yield _sse({"error": {"message": message, "type": kind}})
        return
    if reply.cut_after is not None:
        yield None
        return
    yield chunk({}, reply.finish_reason or "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {
            "prompt_tokens": reply.usage[0],
            "completion_tokens": reply.usage[1],
            "total_tokens": sum(reply.usage),
        }
        yield _sse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    if reply.done:
        yield _sse("[DONE]")


def _anthropic_answer(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": reply.finish_reason or "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.usage[0], "output_tokens": reply.usage[1]},
    }


def _anthropic_stream(reply: Reply, model: str) -> Iterator[bytes | None]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": reply.usage[0], "output_tokens": 1},
        },
    }
    yield _sse(start, "message_start")
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    yield _sse(block, "content_block_start")
    yield _sse({"type": "ping"}, "ping")
    for number, piece in enumerate(reply.split()):
        if reply.cut_after is not None and number >= reply.cut_after:
            break
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": piece},
        }
        yield _sse(delta, "content_block_delta")
    if reply.error_event is not None:
        kind, message = reply.error_event
        yield _sse({"type": "error", "error": {"type": kind, "message": message}}, "error")
        return
    if reply.cut_after is not None:
        yield None
        return
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    stop = {
        "type": "message_delta",
        "delta": {"stop_reason": reply.finish_reason or "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": reply.usage[1]},
    }
    yield _sse(stop, "message_delta")
    yield _sse({"type": "message_stop"}, "message_stop")


@pytest.fixture
def fake_models() -> Iterator[FakeModelServer]:
    """A started fake model server for one test (both wire formats), stopped after it."""
    server = FakeModelServer().start()
    try:
        yield server
    finally:
        server.stop()
