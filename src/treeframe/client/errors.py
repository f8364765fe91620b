"""The server's error envelope back into the library's exception classes.

A failed call raises the class the envelope's ``code`` names, so code that
catches :class:`~treeframe.errors.NodeNotFound` around a local
:class:`~treeframe.engine.context_api.ContextAPI` call catches it around a
client call too. The map is built from the hierarchy itself (every subclass of
:class:`~treeframe.errors.TreeframeError`, at any depth), so a class added to
``errors.py`` is mapped without touching this module. The envelope's data
(``request_id``, ``node_id``, ``supported``, ...) ride on the exception as
attributes and, all of them, in ``data``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from treeframe.errors import (
    AccessDenied,
    BackendUnavailable,
    NotFound,
    TreeframeError,
    Unauthorized,
)

__all__ = ["error_class", "error_classes", "error_from_envelope", "error_from_status"]

_FIXED = frozenset({"error_type", "code", "message"})
# Attributes an envelope's data must never overwrite on the exception object.
_PROTECTED = frozenset({"args", "code", "http_status", "message", "data", "status_code"})
_BY_STATUS: dict[int, type[TreeframeError]] = {
    401: Unauthorized,
    403: AccessDenied,
    404: NotFound,
    503: BackendUnavailable,
}


def error_classes() -> dict[str, type[TreeframeError]]:
    """Every error class by its stable code (the whole hierarchy, read when called)."""
    found: dict[str, type[TreeframeError]] = {}
    pending: list[type[TreeframeError]] = [TreeframeError]
    while pending:
        cls = pending.pop()
        # The first class seen for a code wins: the hierarchy's own, nearest the root.
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_class(code: str) -> type[TreeframeError]:
    """The class for ``code``; :class:`TreeframeError` for a code this release does not know."""
    return error_classes().get(code, TreeframeError)


def _build(cls: type[TreeframeError], message: str, data: Mapping[str, Any]) -> TreeframeError:
    """``cls(message, **its keyword data)``: lists become the tuples the classes hold."""
    params = inspect.signature(cls.__init__).parameters
    kwargs = {
        name: tuple(value) if isinstance(value, list) else value
        for name, value in data.items()
        if name in params and params[name].kind is inspect.Parameter.KEYWORD_ONLY
    }
    try:
        return cls(message, **kwargs)
    except TypeError:  # a data value of an unexpected type: keep the message, drop nothing else
        return cls(message)


def error_from_envelope(status: int, body: Any) -> TreeframeError | None:
    """The exception an error body describes, or None when ``body`` is not the envelope.

    ``status_code`` is the HTTP status; ``data`` holds every key of the
    envelope's ``error`` besides its class, code and message (``request_id``
    among them), each also set as an attribute unless that would shadow one of
    the exception's own.
    """
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return None
    code: str = error["code"]
    message = str(error.get("message", code))
    data = {k: v for k, v in error.items() if k not in _FIXED}
    cls = error_class(code)
    exc = _build(cls, message, data)
    if cls is TreeframeError and code != TreeframeError.code:
        exc.code = code  # an unknown code stays visible to the caller
        exc.http_status = status
    exc.status_code = status  # type: ignore[attr-defined]
    exc.data = data  # type: ignore[attr-defined]
    for key, value in data.items():
        if key not in _PROTECTED and not hasattr(exc, key):
            setattr(exc, key, value)
    return exc


def error_from_status(status: int, text: str) -> TreeframeError:
    """An error for a failure without an envelope (a proxy's page, a plain-text 400)."""
    cls = _BY_STATUS.get(status, TreeframeError)
    snippet = " ".join(text.split())[:200]
    exc = cls(f"HTTP {status} from server" + (f": {snippet}" if snippet else ""))
    exc.status_code = status  # type: ignore[attr-defined]
    exc.data = {}  # type: ignore[attr-defined]
    return exc
