"""One API call as data: what to send, whether it may be repeated, how to read the answer.

The sync and async clients share everything but the I/O: each route is a
function returning a :class:`Call` (:mod:`treeframe.client.calls`), and
:class:`Attempts` decides, per answer, between a result, an error and
another try (:mod:`treeframe.client.retry`). The clients only send.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from treeframe.client.errors import error_from_envelope, error_from_status
from treeframe.client.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from treeframe.errors import BackendUnavailable, TreeframeError

__all__ = ["Attempts", "Call", "model", "raw", "segment"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def segment(value: str) -> str:
    """``value`` quoted as one path segment (a path's ``/`` included)."""
    return quote(value, safe="")


def model(cls: type[M]) -> Callable[[httpx.Response], M]:
    """A parser validating the JSON body as ``cls`` (the wire model the server answered with)."""

    def parse(response: httpx.Response) -> M:
        return cls.model_validate_json(response.content)

    return parse


def raw(response: httpx.Response) -> bytes:
    """The body's bytes as they came."""
    return response.content


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """A request and the parser of its successful answer.

    ``idempotent`` defaults from the method; a POST that is idempotent by
    design (a frame put, a workspace create, a batch read) sets it.
    """

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool | None = None

    @property
    def repeatable(self) -> bool:
        """True when sending the call twice has the effect of sending it once."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in IDEMPOTENT_METHODS


def body(value: BaseModel) -> Any:
    """A request model as JSON-ready data (fields left unset left out: the server's defaults apply)."""
    return value.model_dump(mode="json", exclude_unset=True, by_alias=True)


class Attempts(Generic[T]):
    """The tries of one call: builds each request and judges each outcome.

    Every try carries the same ``X-Request-ID``, so the server's log shows
    one logical request however often it was sent.
    """

    def __init__(self, http: httpx.Client | httpx.AsyncClient, call: Call[T], retry: RetryPolicy):
        self.http = http
        self.call = call
        self.retry = retry
        self.tries = 0
        self.request_id = call.headers.get("X-Request-ID") or uuid.uuid4().hex

    def request(self) -> httpx.Request:
        """The next request to send."""
        self.tries += 1
        call = self.call
        params = {k: v for k, v in (call.params or {}).items() if v is not None}
        return self.http.build_request(
            call.method,
            call.path,
            params=params or None,
            json=call.json,
            headers={**call.headers, "X-Request-ID": self.request_id},
        )

    def failed(self, exc: httpx.TransportError) -> float:
        """Seconds to wait after a transport error; raises ``backend_unavailable`` when done."""
        wait = self.retry.delay(self.tries) if self.call.repeatable else None
        if wait is None:
            where = f"{self.call.method} {self.http.base_url}{self.call.path.lstrip('/')}"
            raise BackendUnavailable(
                f"cannot reach the server ({where}): {type(exc).__name__}"
                + (f" after {self.tries} attempts" if self.tries > 1 else "")
            ) from exc
        self.retry.notify(self.tries, wait, type(exc).__name__)
        return wait

    def answered(self, response: httpx.Response) -> float | None:
        """Seconds to wait before trying again, or None when ``response`` is the answer."""
        if response.status_code not in RETRY_STATUSES or not self.call.repeatable:
            return None
        after = parse_retry_after(response.headers.get("Retry-After"))
        wait = self.retry.delay(self.tries, after)
        if wait is not None:
            self.retry.notify(self.tries, wait, f"HTTP {response.status_code}")
        return wait

    def result(self, response: httpx.Response) -> T:
        """The parsed answer, or the library's exception its error envelope names."""
        if response.is_success:
            return self.call.parse(response)
        raise error_of(response)


def error_of(response: httpx.Response) -> TreeframeError:
    """The exception for a failed response (the envelope's class, else one by status)."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    error = error_from_envelope(response.status_code, payload)
    if error is None:
        error = error_from_status(response.status_code, response.text)
    return error
