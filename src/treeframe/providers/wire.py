"""What the HTTP providers share: one POST per completion, answered whole or as a stream.

A wire format (``openai.py``, ``anthropic.py``) says how to build the body,
read a whole answer and consume a stream of server-sent events; this base
sends it through the :class:`~treeframe.providers.http.HttpTransport`
(retries, timeouts, error mapping) and feeds text to ``on_text`` either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from treeframe.providers.base import Completion, CompletionRequest, TextSink
from treeframe.providers.http import HttpTransport, ServerSentEvent

__all__ = ["WireProvider"]


class WireProvider:
    """A provider over HTTP; subclasses give ``url``, headers and the three format hooks."""

    name: str
    url: str
    stream: bool
    _transport: HttpTransport
    _headers: dict[str, str]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"

    def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        """The completion of ``request``, streamed to ``on_text`` when streaming is configured."""
        body = self.body(request)
        if not self.stream:
            answer = self._transport.post_json(self.url, self._headers, body)
            completion = self._parse(answer, request.model)
            if on_text is not None and completion.text:
                on_text(completion.text)
            return completion
        headers = {**self._headers, "Accept": "text/event-stream"}
        return self._transport.post_stream(
            self.url,
            headers,
            body,
            lambda events, sink: self._consume(events, sink, request.model),
            on_text,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._transport.close()

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        """The JSON body of ``request`` in this wire format."""
        raise NotImplementedError

    def _parse(self, answer: Any, model: str) -> Completion:
        """The completion in a whole (not streamed) answer."""
        raise NotImplementedError

    def _consume(self, events: Iterator[ServerSentEvent], sink: TextSink, model: str) -> Completion:
        """The completion a stream of events builds, each piece of text given to ``sink``."""
        raise NotImplementedError
