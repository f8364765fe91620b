"""API and schema versions, version negotiation, and marking routes deprecated.

The version lives in the path (``/v1/``); a client may also state the
version it speaks with ``X-API-Version: 1`` or ``Accept:
application/vnd.treeframe.v1+json``, so that a client built for a later
major version fails loudly (``version_not_supported``, with the versions
this server speaks) instead of misreading v1 answers. docs/API.md states
the compatibility policy these constants stand for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import Depends, Response

from treeframe.errors import VersionNotSupported
from treeframe.release import API_VERSION, SCHEMA_VERSION

__all__ = [
    "API_VERSION",
    "SCHEMA_VERSION",
    "SUPPORTED_API_VERSIONS",
    "check_version",
    "deprecated",
]

SUPPORTED_API_VERSIONS = (API_VERSION,)

# One vendor media type per major version: application/vnd.treeframe.v1+json.
_VENDOR_TYPE = re.compile(rb"application/vnd\.treeframe\.v([^+;,\s]*)\+json")


def check_version(api_version: bytes | None, accept: bytes | None) -> None:
    """Refuse a request that names an API version this server does not speak.

    ``api_version`` is the raw ``X-API-Version`` header and ``accept`` the raw
    ``Accept`` header (None: absent). An ``Accept`` naming vendor types is
    acceptable when one of them is a supported version (content negotiation:
    the client accepts any of those it lists); other media types are ignored.
    """
    if api_version is not None:
        wanted = api_version.strip().decode("latin-1")
        if wanted not in SUPPORTED_API_VERSIONS:
            raise _unsupported(f"X-API-Version {wanted[:32]!r}")
    if accept is not None and b"vnd.treeframe" in accept:
        offered = [m.decode("latin-1") for m in _VENDOR_TYPE.findall(accept)]
        if not any(v in SUPPORTED_API_VERSIONS for v in offered):
            shown = ", ".join(f"v{v[:32]}" for v in offered) or "an unparsable version"
            raise _unsupported(f"Accept {shown}")


def _unsupported(what: str) -> VersionNotSupported:
    return VersionNotSupported(
        f"API version not supported: {what}; this server speaks "
        + ", ".join(SUPPORTED_API_VERSIONS),
        supported=SUPPORTED_API_VERSIONS,
    )


def deprecated(*, since: date, sunset: date, successor: str | None = None) -> dict[str, Any]:
    """Route-decorator keywords that mark a route deprecated in OpenAPI and on the wire.

    ``@router.get("/v1/old", **deprecated(since=..., sunset=...))``: every
    response of the route then carries ``Deprecation: @<unix time>`` (RFC
    9745), ``Sunset: <HTTP date>`` (RFC 8594) and, with a ``successor``,
    ``Link: <successor>; rel="successor-version"``. The headers are computed
    once, here, so marking a route costs one dict update per request. The
    sunset must leave the 6-month support window docs/API.md promises.
    """
    if (sunset - since).days < 182:
        raise ValueError(f"a sunset {sunset} less than 6 months after {since} breaks the policy")
    headers = {
        "Deprecation": f"@{int(datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp())}",
        "Sunset": format_datetime(
            datetime(sunset.year, sunset.month, sunset.day, tzinfo=UTC), usegmt=True
        ),
    }
    if successor is not None:
        headers["Link"] = f'<{successor}>; rel="successor-version"'
    return {"deprecated": True, "dependencies": [Depends(_header_setter(headers))]}


def _header_setter(headers: dict[str, str]) -> Callable[[Response], None]:
    def set_deprecation_headers(response: Response) -> None:
        response.headers.update(headers)

    return set_deprecation_headers
