"""Anthropic messages: ``POST {base_url}/v1/messages``.

Headers ``x-api-key`` (when a key is configured) and ``anthropic-version:
2023-06-01``; the system prompt is the body's ``system``, not a message.
Streaming reads named events: ``message_start`` (input tokens),
``content_block_delta`` (``text_delta`` pieces), ``message_delta`` (stop
reason, output tokens), ``message_stop`` (the end), ``ping``, and
``error``, which Anthropic sends inside a 200 when it fails mid-stream
(``overloaded_error`` is retried while no text was delivered). Event types
this module does not know are skipped, as Anthropic's versioning policy
asks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from treeframe.providers.base import Completion, CompletionRequest, ProviderKind, TextSink, Usage
from treeframe.providers.http import (
    HttpTransport,
    ServerSentEvent,
    answered_model,
    provider_message,
    token_count,
)
from treeframe.providers.wire import WireProvider
from treeframe.release import VERSION

__all__ = ["ANTHROPIC_VERSION", "DEFAULT_ANTHROPIC_URL", "AnthropicProvider"]

DEFAULT_ANTHROPIC_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(WireProvider):
    """A provider speaking Anthropic's messages API (see the module docstring)."""

    kind: ProviderKind = "anthropic"

    def __init__(
        self,
        name: str,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        stream: bool = True,
    ) -> None:
        self.name = name
        self.url = (base_url or DEFAULT_ANTHROPIC_URL).rstrip("/") + "/v1/messages"
        self.stream = stream
        self._transport = transport
        self._headers = {
            "User-Agent": f"treeframe/{VERSION}",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if api_key:
            self._headers["x-api-key"] = api_key

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        """The JSON body of ``request`` (``system`` left out when empty: Anthropic refuses an empty one)."""
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_output_tokens,
            "temperature": request.temperature,
            "stream": self.stream,
        }
        if request.system:
            body["system"] = request.system
        return body

    def _parse(self, answer: Any, model: str) -> Completion:
        content = answer.get("content") if isinstance(answer, Mapping) else None
        if not isinstance(content, list):
            raise self._transport.invalid_response(self.url, "no content list")
        text = "".join(
            str(block.get("text") or "")
            for block in content
            if isinstance(block, Mapping) and block.get("type") == "text"
        )
        usage = answer.get("usage")
        return Completion(
            text=text,
            model=answered_model(answer, model),
            usage=_usage(usage if isinstance(usage, Mapping) else {}, Usage()),
            finish_reason=str(answer.get("stop_reason") or ""),
        )

    def _consume(self, events: Iterator[ServerSentEvent], sink: TextSink, model: str) -> Completion:
        pieces: list[str] = []
        finish_reason = ""
        usage = Usage()
        for event in events:
            if event.event == "ping":
                continue
            data = self._transport.decode_event(self.url, event)
            if not isinstance(data, Mapping):
                raise self._transport.invalid_response(self.url, f"a {event.event!r} event")
            kind = event.event if event.event != "message" else str(data.get("type") or "")
            if kind == "error":
                error = data.get("error")
                error_type = str(error.get("type") or "") if isinstance(error, Mapping) else ""
                raise self._transport.error_event(self.url, error_type, provider_message(data))
            if kind == "message_start":
                message = data.get("message")
                if isinstance(message, Mapping):
                    model = answered_model(message, model)
                    start = message.get("usage")
                    usage = _usage(start if isinstance(start, Mapping) else {}, usage)
            elif kind == "content_block_delta":
                delta = data.get("delta")
                if isinstance(delta, Mapping) and delta.get("type") == "text_delta":
                    text = delta.get("text")
                    if isinstance(text, str) and text:
                        pieces.append(text)
                        sink(text)
            elif kind == "message_delta":
                delta = data.get("delta")
                if isinstance(delta, Mapping) and delta.get("stop_reason"):
                    finish_reason = str(delta["stop_reason"])
                more = data.get("usage")
                usage = _usage(more if isinstance(more, Mapping) else {}, usage)
            elif kind == "message_stop":
                break
        else:
            raise self._transport.dropped(self.url, "no message_stop")
        return Completion(
            text="".join(pieces), model=model, usage=usage, finish_reason=finish_reason
        )


def _usage(usage: Mapping[str, Any], known: Usage) -> Usage:
    """``known`` updated by the counts ``usage`` carries (events report them piecewise)."""
    return Usage(
        input_tokens=token_count(usage["input_tokens"])
        if "input_tokens" in usage
        else known.input_tokens,
        output_tokens=token_count(usage["output_tokens"])
        if "output_tokens" in usage
        else known.output_tokens,
    )
