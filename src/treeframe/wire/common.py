"""The response shapes of API v1, as plain pydantic models (no FastAPI import).

Every JSON response is an :class:`ApiResponse`: it names the API version and
the record-schema version it was written in, so a stored or logged answer
says how to read it. The Python client (:mod:`treeframe.client`) parses with these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiResponse",
    "ErrorBody",
    "ErrorResponse",
    "FieldError",
    "Live",
    "NotReady",
    "NotReadyBody",
    "Ready",
    "ReadyCheck",
]


class ApiResponse(BaseModel):
    """Base of every JSON response body."""

    api_version: Literal["1"] = Field(default="1", description="The API's major version.")
    schema_version: Literal["1"] = Field(
        default="1", description="Version of the record formats (docs/SCHEMAS.md)."
    )


class FieldError(BaseModel):
    """One bad field of a ``schema_validation_failed`` error."""

    field: str = Field(
        description="Dotted path of the field inside its location ('' for all of it)."
    )
    location: str = Field(description="body, query, path, header or cookie.")
    message: str


class ErrorBody(BaseModel):
    """The error itself: its class, stable code, message, request ID and the data it carries.

    Extra keys are the error's own data (``node_id``, ``supported``,
    ``errors``, ``limit``, ``allowed``, ...), documented per code in ERRORS.md.
    """

    model_config = ConfigDict(extra="allow")

    error_type: str = Field(description="The exception class, e.g. NodeNotFound.")
    code: str = Field(description="Stable machine code, e.g. node_not_found (docs/ERRORS.md).")
    message: str
    request_id: str = Field(description="The X-Request-ID of the request.")


class ErrorResponse(ApiResponse):
    """The one envelope of every failure, 4xx and 5xx alike."""

    error: ErrorBody


class Live(ApiResponse):
    """The process is up and serving requests."""

    status: Literal["ok"] = "ok"


class ReadyCheck(BaseModel):
    """One dependency probed by readiness: whether it answered, how long it took, why not."""

    ok: bool
    duration_ms: float = Field(description="Wall time of the check (its timeout when it hung).")
    error: str | None = Field(
        default=None,
        description="Why the check failed, ending in the error's code in brackets; absent when ok.",
    )


class Ready(ApiResponse):
    """Every dependency answered: ``checks`` has ``store``, ``blobs`` and, when configured, ``redis``."""

    status: Literal["ok"] = "ok"
    checks: dict[str, ReadyCheck]


class NotReadyBody(ErrorBody):
    """A ``backend_unavailable`` from readiness: every check, the failed ones with their reason."""

    checks: dict[str, ReadyCheck]


class NotReady(ErrorResponse):
    """The 503 of ``/v1/health/ready``: the error envelope, carrying every check's result."""

    error: NotReadyBody
