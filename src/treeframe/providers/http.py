"""The HTTP transport every remote provider shares: timeouts, retries, server-sent events, errors.

A provider module (``openai.py``, ``anthropic.py``) builds the URL, headers
and body of its wire format and parses the answer; :class:`HttpTransport`
sends it and owns everything the formats have in common:

- timeouts: ``connect_timeout_seconds`` to connect, ``timeout_seconds`` for
  each read (so a stream may run long as long as chunks keep coming);
- retries of what may succeed later: 429, 5xx, timeouts, refused or dropped
  connections, and a stream cut *before any text was delivered* (after, the
  caller has shown that text, so the cut is an error, never a silent
  restart). The delay is ``backoff_seconds`` doubled per retry with jitter,
  at most :data:`MAX_DELAY_SECONDS`; a ``Retry-After`` header (seconds) wins,
  capped the same way;
- mapping onto :class:`~treeframe.errors.ProviderError`: 401/403 ->
  ``ProviderAuthFailed``; 429 after the retries -> ``ProviderRateLimited``;
  5xx, timeouts and connection failures after the retries ->
  ``ProviderUnavailable``; any other 4xx -> ``ProviderRequestInvalid``
  carrying the provider's own ``error.message``; a body or stream that is not
  the wire format -> ``ProviderResponseInvalid``.

Messages name the provider (its configured name) and the URL, never the key:
the key only travels in headers, and any echo of it in a provider's own
message is masked.

httpx is imported when a transport first sends, so ``import treeframe``
stays fast and only remote providers need it (the ``providers`` extra).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from treeframe.config.display import REDACTED
from treeframe.errors import (
    ConfigError,
    ProviderAuthFailed,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestInvalid,
    ProviderResponseInvalid,
    ProviderUnavailable,
)
from treeframe.providers.base import TextSink

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MAX_DELAY_SECONDS",
    "HttpTransport",
    "Retryable",
    "ServerSentEvent",
    "Sleep",
    "answered_model",
    "iter_sse",
    "provider_message",
    "require_httpx",
    "token_count",
]

MAX_DELAY_SECONDS = 30.0
"""The longest wait before one retry, whatever the backoff or ``Retry-After`` says."""

_MAX_MESSAGE = 300  # characters of a provider's own error message kept in ours
# error.type values of both formats (Anthropic's first), by what they mean for a retry.
_UNAVAILABLE_TYPES = frozenset({"overloaded_error", "api_error", "server_error", "timeout_error"})
_RATE_LIMIT_TYPES = frozenset({"rate_limit_error", "rate_limit_exceeded", "requests", "tokens"})
_AUTH_TYPES = frozenset({"authentication_error", "permission_error", "invalid_api_key"})

Sleep = Callable[[float], None]
T = TypeVar("T")


def require_httpx(provider: str) -> None:
    """Fail early, as configuration, when httpx (the ``providers`` extra) is not installed."""
    try:
        import httpx  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"provider {provider!r} needs httpx: pip install 'treeframe[providers]'"
        ) from None


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event of a ``text/event-stream``: its type (``message`` when unnamed) and data."""

    event: str
    data: str


def iter_sse(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """The events of a stream's lines, by the WHATWG rules that both wire formats follow.

    ``data:`` lines of one event are joined with newlines, comments (``:``)
    and ``id``/``retry`` fields are ignored, an event without data is
    dropped. An event the stream ends before its blank line is still given,
    since servers that end with ``data: [DONE]`` and no blank line exist.
    """
    event = ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield ServerSentEvent(event or "message", "\n".join(data))


def provider_message(body: Any) -> str:
    """The provider's own error text: ``{"error": {"message": ...}}`` (both formats), ``{"error": "..."}`` (Ollama)."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""


def answered_model(answer: Mapping[str, Any], asked: str) -> str:
    """The model an answer says answered (servers resolve aliases), else the one asked for."""
    model = answer.get("model")
    return model if isinstance(model, str) and model else asked


def token_count(value: Any) -> int:
    """A usage field as a count: a non-negative integer, 0 for anything a provider left out or garbled."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class Retryable(Exception):
    """A failure that may succeed on retry: ``error`` is raised once the retries are spent.

    ``retry_after`` is the server's ``Retry-After`` (seconds) when it sent
    one. ``dropped`` marks a stream cut short: retried only while no text
    was delivered, a plain ``ProviderError`` after.
    """

    def __init__(
        self, error: ProviderError, *, retry_after: float | None = None, dropped: bool = False
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after
        self.dropped = dropped


class _TrackedSink:
    """Passes text on to the caller's sink and remembers that some was delivered."""

    def __init__(self, sink: TextSink | None) -> None:
        self.sink = sink
        self.delivered = False

    def __call__(self, text: str) -> None:
        if not text:
            return
        self.delivered = True
        if self.sink is not None:
            self.sink(text)


class HttpTransport:
    """One provider's connection pool, retry loop and error mapping (safe to share between threads).

    Args:
        provider: the configured name, put in every error message.
        timeout_seconds: longest wait for each read (a response, or the next streamed chunk).
        connect_timeout_seconds: longest wait to connect.
        max_retries: retries after the first attempt.
        backoff_seconds: the first retry's delay, doubled per retry.
        secret: the API key, masked wherever a provider's message echoes it.
        sleep: how to wait between attempts (tests pass a recorder).
    """

    def __init__(
        self,
        provider: str,
        *,
        timeout_seconds: float,
        connect_timeout_seconds: float,
        max_retries: int,
        backoff_seconds: float,
        secret: str | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.provider = provider
        self.timeout_seconds = timeout_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._secret = secret
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    # --- the two ways to send -------------------------------------------

    def post_json(self, url: str, headers: Mapping[str, str], body: Mapping[str, Any]) -> Any:
        """The decoded JSON of a successful POST of ``body``, retried and mapped."""
        import httpx

        def attempt() -> Any:
            try:
                response = self._http().post(url, headers=dict(headers), json=body)
            except httpx.HTTPError as exc:
                raise self._transport_failure(url, exc) from exc
            self._check(url, response)
            return self._decode(url, response.content)

        return self._retrying(attempt, None)

    def post_stream(
        self,
        url: str,
        headers: Mapping[str, str],
        body: Mapping[str, Any],
        consume: Callable[[Iterator[ServerSentEvent], TextSink], T],
        on_text: TextSink | None,
    ) -> T:
        """POST ``body`` and give its event stream to ``consume``, which feeds text to its sink.

        ``consume`` raises :class:`Retryable` (a stream cut short, an
        overloaded server) or a ``ProviderError``; the stream is tried again
        only while no text reached ``on_text``.
        """
        import httpx

        sink = _TrackedSink(on_text)

        def attempt() -> T:
            try:
                with self._http().stream("POST", url, headers=dict(headers), json=body) as response:
                    if not response.is_success:
                        response.read()
                        self._check(url, response)
                    if response.headers.get("content-type", "").startswith("application/json"):
                        raise self.invalid_response(
                            url,
                            "asked for a stream, got a JSON body "
                            f"(set providers.{self.provider}.stream = false)",
                        )
                    return consume(iter_sse(response.iter_lines()), sink)
            except httpx.HTTPError as exc:
                raise self._transport_failure(url, exc, streaming=True) from exc

        return self._retrying(attempt, sink)

    def close(self) -> None:
        """Close the connection pool (idempotent; the next request opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # --- pieces -------------------------------------------------------------

    def where(self, url: str) -> str:
        """How messages name this provider and request."""
        return f"provider {self.provider!r} (POST {url})"

    def masked(self, text: str) -> str:
        """``text`` with the key masked and cut to a readable length."""
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, REDACTED)
        text = " ".join(text.split())
        return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."

    def invalid_response(self, url: str, what: str) -> ProviderResponseInvalid:
        """The error for an answer that is not the wire format."""
        return ProviderResponseInvalid(
            f"{self.where(url)}: invalid response: {self.masked(what)}", provider=self.provider
        )

    def decode_event(self, url: str, event: ServerSentEvent) -> Any:
        """The JSON data of one streamed event."""
        return self._decode(url, event.data.encode("utf-8"), what=f"a {event.event!r} event")

    def dropped(self, url: str, what: str) -> Retryable:
        """The signal for a stream that ended before the format's last event."""
        error = ProviderUnavailable(
            f"{self.where(url)}: the stream ended early ({what})", provider=self.provider
        )
        return Retryable(error, dropped=True)

    def error_event(self, url: str, kind: str, message: str) -> Retryable | ProviderError:
        """The error of an error the provider reported inside a 200 (a streamed ``error`` event).

        ``kind`` is its ``error.type`` in either format: overloaded and server
        errors may pass (retried like a 5xx), rate limits like a 429, refused
        credentials like a 401; anything else is a refused request.
        """
        said = f"{self.where(url)}: {kind or 'error'}" + (
            f": {self.masked(message)}" if message else ""
        )
        if kind in _UNAVAILABLE_TYPES:
            return Retryable(ProviderUnavailable(said, provider=self.provider))
        if kind in _RATE_LIMIT_TYPES:
            return Retryable(ProviderRateLimited(said, provider=self.provider))
        if kind in _AUTH_TYPES:
            return ProviderAuthFailed(said, provider=self.provider)
        return ProviderRequestInvalid(said, provider=self.provider)

    def _http(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(
                        self.timeout_seconds, connect=self.connect_timeout_seconds
                    ),
                )
            return self._client

    def _decode(self, url: str, raw: bytes, what: str = "the body") -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            shown = raw[:80].decode("utf-8", "replace")
            raise self.invalid_response(url, f"{what} is not JSON: {shown!r}") from None

    def _check(self, url: str, response: httpx.Response) -> None:
        """Raise the mapped error of a response that is not a success."""
        status = response.status_code
        if response.is_success:
            return
        try:
            detail = self.masked(provider_message(json.loads(response.content)))
        except ValueError:
            detail = ""
        said = f"{status} {response.reason_phrase}".strip() + (f": {detail}" if detail else "")
        where = self.where(url)
        if status in (401, 403):
            raise ProviderAuthFailed(
                f"{where}: {said} (check providers.{self.provider}.api_key, key_env or key_file)",
                provider=self.provider,
            )
        retry_after = _retry_after(response.headers.get("retry-after"))
        if status == 429:
            error: ProviderError = ProviderRateLimited(
                f"{where}: rate limited, {said}", provider=self.provider
            )
            raise Retryable(error, retry_after=retry_after)
        if status >= 500:
            error = ProviderUnavailable(f"{where}: {said}", provider=self.provider)
            raise Retryable(error, retry_after=retry_after)
        if 400 <= status < 500:
            raise ProviderRequestInvalid(f"{where}: refused, {said}", provider=self.provider)
        raise self.invalid_response(url, f"unexpected status {said}")

    def _transport_failure(
        self, url: str, exc: httpx.HTTPError, *, streaming: bool = False
    ) -> Retryable | ProviderError:
        import httpx

        where = self.where(url)
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return ProviderRequestInvalid(
                f"{where}: not an http(s) URL ({self.masked(str(exc))})", provider=self.provider
            )
        if isinstance(exc, httpx.DecodingError):
            return self.invalid_response(url, f"undecodable body ({exc})")
        if isinstance(exc, httpx.ConnectTimeout):
            what = f"no connection within {self.connect_timeout_seconds:g} s"
        elif isinstance(exc, httpx.TimeoutException):
            what = f"no answer within {self.timeout_seconds:g} s"
        elif isinstance(exc, httpx.ConnectError):
            what = f"cannot connect: {self.masked(str(exc))}"
        else:
            what = f"connection lost: {self.masked(str(exc)) or type(exc).__name__}"
        error = ProviderUnavailable(f"{where}: {what}", provider=self.provider)
        return Retryable(error, dropped=streaming)

    def _retrying(self, attempt: Callable[[], T], sink: _TrackedSink | None) -> T:
        retry = 0
        while True:
            try:
                return attempt()
            except Retryable as failure:
                if sink is not None and sink.delivered:
                    raise self._after_text(failure) from failure
                if retry >= self.max_retries:
                    raise self._spent(failure, retry) from failure
                self._sleep(self._delay(retry, failure.retry_after))
                retry += 1

    def _delay(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        base = self._backoff(retry)
        return base / 2 + base / 2 * random.random()  # "equal jitter": never less than half

    def _backoff(self, retry: int) -> float:
        """The delay before retry number ``retry`` (from 0), before jitter."""
        return min(MAX_DELAY_SECONDS, self.backoff_seconds * 2.0**retry)

    def _spent(self, failure: Retryable, retries: int) -> ProviderError:
        """The error to raise once every retry failed, saying how many and when to come back."""
        error = failure.error
        if retries:
            error.message = f"{error.message} ({retries + 1} attempts)"
            error.args = (error.message,)
        if isinstance(error, ProviderRateLimited | ProviderUnavailable):
            error.retry_after = (
                failure.retry_after
                if failure.retry_after is not None
                else self._backoff(retries) or 1.0
            )
        return error

    def _after_text(self, failure: Retryable) -> ProviderError:
        """A failure once text was delivered: never retried, the caller already showed it."""
        if not failure.dropped:
            return failure.error
        return ProviderError(
            f"{failure.error.message}, after part of the text was delivered (not retried)",
            provider=self.provider,
        )


def _retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds, capped; an HTTP date or garbage counts as absent."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds:  # NaN
        return None
    return min(MAX_DELAY_SECONDS, max(0.0, seconds))
