"""Every failure becomes one JSON envelope, with the status its error class declares.

The mapping lives here once: a :class:`~treeframe.errors.TreeframeError`
answers with its ``http_status`` and ``code`` (errors.py is the table, so
nothing here can drift from ERRORS.md), and everything FastAPI or Starlette
raise on their own — body validation, unknown routes, wrong methods — is
first turned into the treeframe error that names it. Unexpected exceptions
become ``internal_error`` with a fixed message: a stack trace or an
exception's text never reaches a client (it is logged with the request ID).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from treeframe.api.versioning import API_VERSION, SCHEMA_VERSION
from treeframe.errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    SchemaValidationFailed,
    TreeframeError,
    Unauthorized,
)
from treeframe.wire.common import ErrorResponse

__all__ = [
    "ERROR_RESPONSES",
    "envelope",
    "error_response",
    "install_handlers",
    "request_id_of",
    "retry_after",
]

# OpenAPI: every route may answer with the envelope. Declaring 4XX also stops
# FastAPI from documenting its own 422 shape, which the server never sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "Client error: the error envelope."},
    "5XX": {"model": ErrorResponse, "description": "Server error: the error envelope."},
}

_RESERVED = frozenset({"error_type", "code", "message", "request_id"})


def envelope(exc: TreeframeError, request_id: str) -> dict[str, Any]:
    """The JSON body for ``exc``: its class, code, message, request ID and its own data.

    The data are the error's public attributes (``supported``, ``missing``,
    ``expected``...), tuples as lists; they never override the four fixed keys.
    """
    body: dict[str, Any] = {
        "error_type": type(exc).__name__,
        "code": exc.code,
        "message": exc.message,
        "request_id": request_id,
    }
    for key, value in vars(exc).items():
        if key.startswith("_") or key in _RESERVED:
            continue
        body[key] = list(value) if isinstance(value, tuple) else value
    return {"api_version": API_VERSION, "schema_version": SCHEMA_VERSION, "error": body}


def error_response(exc: TreeframeError, request_id: str) -> tuple[int, bytes]:
    """Status and encoded body of the envelope (used where there is no Response object)."""
    body = json.dumps(envelope(exc, request_id), default=str, separators=(",", ":"))
    return exc.http_status, body.encode()


def request_id_of(request: Request) -> str:
    """The request's ID as the edge middleware recorded it ("" outside that middleware)."""
    return str(request.scope.get("state", {}).get("request_id", ""))


def _respond(
    request: Request, exc: TreeframeError, headers: Mapping[str, str] | None = None
) -> Response:
    status, body = error_response(exc, request_id_of(request))
    request.scope.setdefault("state", {})["error_code"] = exc.code  # for the request line
    return Response(body, status_code=status, media_type="application/json", headers=headers)


_CHALLENGE = {"WWW-Authenticate": "Bearer"}  # RFC 6750: every 401 names the scheme


def retry_after(exc: TreeframeError) -> str | None:
    """The ``Retry-After`` value of an error that says when to retry (RFC 9110: whole seconds, >= 1)."""
    seconds = getattr(exc, "retry_after", None)
    if not isinstance(seconds, int | float):
        return None
    return str(max(1, math.ceil(seconds)))


async def _treeframe_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TreeframeError)
    after = retry_after(exc)
    if after is not None:
        return _respond(request, exc, {"Retry-After": after})
    return _respond(request, exc, _CHALLENGE if isinstance(exc, Unauthorized) else None)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = tuple(_field_error(detail) for detail in exc.errors())
    fields = ", ".join(e["field"] or e["location"] for e in errors)
    return _respond(
        request,
        SchemaValidationFailed(f"request does not match the schema: {fields}", errors=errors),
    )


def _field_error(detail: Any) -> dict[str, str]:
    """``{"field", "location", "message"}`` from one pydantic error (never its input value)."""
    loc = [str(part) for part in detail.get("loc", ())]
    location, path = (loc[0], loc[1:]) if loc else ("body", [])
    return {"field": ".".join(path), "location": location, "message": str(detail.get("msg", ""))}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    what = f"{request.method} {request.url.path[:200]}"
    error: TreeframeError
    if exc.status_code == 404:
        error = NotFound(f"no route {what}")
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        methods = tuple(m.strip() for m in allowed.split(",") if m.strip())
        error = MethodNotAllowed(f"{what} is not allowed (allowed: {allowed})", allowed=methods)
    elif 400 <= exc.status_code < 500:
        error = InvalidRequest(f"invalid request: {exc.detail}")
    else:
        error = TreeframeError("internal error")
    return _respond(request, error, exc.headers)


def install_handlers(app: FastAPI) -> None:
    """Route every error FastAPI catches through the envelope (the rest: the edge middleware)."""
    app.add_exception_handler(TreeframeError, _treeframe_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
