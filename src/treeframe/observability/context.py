"""The request being served, as context variables every layer may read without knowing HTTP.

The API edge sets :data:`REQUEST_ID` for the duration of a request; the audit
log records it in every entry and every log line and engine event carries it,
so one request's effects can be followed from the access line to the frames
it wrote. Sync routes run on a *copy* of the context in the thread pool: a
value set before the route runs is seen there; one set there never flows back.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["REQUEST_ID"]

REQUEST_ID: ContextVar[str | None] = ContextVar("treeframe_request_id", default=None)
"""The request ID of the API request being served (None outside one, e.g. in the CLI)."""
