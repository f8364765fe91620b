"""OpenAI-compatible chat completions: OpenAI itself, and Ollama, LM Studio, vLLM by their base URL.

``POST {base_url}/chat/completions`` with ``Authorization: Bearer <key>``
only when a key is configured (local servers need none). Streaming reads
``data: {...}`` chunks (``choices[0].delta.content``, ``finish_reason``, and
``usage`` in the last chunk, asked for with ``stream_options``) until
``data: [DONE]``; a stream that ends without it counts as cut short unless
a ``finish_reason`` came, since some compatible servers omit the marker.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from treeframe.providers.base import (
    Completion,
    CompletionRequest,
    ProviderKind,
    TextSink,
    Usage,
)
from treeframe.providers.http import (
    HttpTransport,
    ServerSentEvent,
    answered_model,
    provider_message,
    token_count,
)
from treeframe.providers.wire import WireProvider
from treeframe.release import VERSION

__all__ = ["DEFAULT_OPENAI_URL", "OpenAIProvider"]

DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


class OpenAIProvider(WireProvider):
    """A provider speaking OpenAI's chat completions (see the module docstring)."""

    kind: ProviderKind = "openai"

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
        self.url = (base_url or DEFAULT_OPENAI_URL).rstrip("/") + "/chat/completions"
        self.stream = stream
        self._transport = transport
        self._headers = {"User-Agent": f"treeframe/{VERSION}"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        """The JSON body of ``request``: the system prompt first, as a ``system`` message."""
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_output_tokens,
            "temperature": request.temperature,
            "stream": self.stream,
        }
        if self.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _parse(self, answer: Any, model: str) -> Completion:
        choice = _first_choice(answer)
        message = choice.get("message") if choice is not None else None
        if not isinstance(message, Mapping):
            raise self._transport.invalid_response(self.url, "no choices[0].message")
        text = message.get("content")
        if not isinstance(text, str | None):
            raise self._transport.invalid_response(self.url, "choices[0].message.content")
        return Completion(
            text=text or "",
            model=answered_model(answer, model),
            usage=_usage(answer),
            finish_reason=str(choice.get("finish_reason") or "") if choice else "",
        )

    def _consume(self, events: Iterator[ServerSentEvent], sink: TextSink, model: str) -> Completion:
        pieces: list[str] = []
        finish_reason = ""
        usage = Usage()
        for event in events:
            if event.data.strip() == "[DONE]":
                break
            chunk = self._transport.decode_event(self.url, event)
            if not isinstance(chunk, Mapping):
                raise self._transport.invalid_response(self.url, "a chunk is not an object")
            error = chunk.get("error")
            if error:  # a failure mid-stream, which compatible servers send as a chunk
                kind = str(error.get("type") or "") if isinstance(error, Mapping) else ""
                raise self._transport.error_event(self.url, kind, provider_message(chunk))
            model = answered_model(chunk, model)
            if isinstance(chunk.get("usage"), Mapping):
                usage = _usage(chunk)
            choice = _first_choice(chunk)
            if choice is None:
                continue
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, Mapping) else None
            if isinstance(text, str) and text:
                pieces.append(text)
                sink(text)
            if choice.get("finish_reason"):
                finish_reason = str(choice["finish_reason"])
        else:
            if not finish_reason:
                raise self._transport.dropped(self.url, "no finish_reason and no [DONE]")
        return Completion(
            text="".join(pieces), model=model, usage=usage, finish_reason=finish_reason
        )


def _first_choice(answer: Any) -> Mapping[str, Any] | None:
    choices = answer.get("choices") if isinstance(answer, Mapping) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0]
    return None


def _usage(answer: Mapping[str, Any]) -> Usage:
    usage = answer.get("usage")
    if not isinstance(usage, Mapping):
        return Usage()
    return Usage(
        input_tokens=token_count(usage.get("prompt_tokens")),
        output_tokens=token_count(usage.get("completion_tokens")),
    )
