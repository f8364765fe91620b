"""Optional OpenTelemetry spans (request → engine → storage), free when tracing is off.

:func:`span` is what the code calls; until :func:`enable_tracing` runs it
returns one shared no-op context manager (no allocation, no import of
OpenTelemetry), so the hooks cost a function call and an attribute check.
:func:`enable_tracing` (the server does it when ``tracing.enabled`` is set)
takes a tracer from ``opentelemetry.trace`` — the ``treeframe[otel]``
extra; exporters and sampling are the OpenTelemetry SDK's own configuration
(``OTEL_*`` variables, or a ``TracerProvider`` the embedding program set).
Attributes are IDs, names and counts only: never contents or tokens.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from treeframe.errors import BackendUnavailable

__all__ = ["disable_tracing", "enable_tracing", "span", "tracing_enabled"]

_NOOP: AbstractContextManager[None] = nullcontext()
_tracer: Any = None


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A span named ``name`` around the ``with`` block (a no-op while tracing is off)."""
    tracer = _tracer
    if tracer is None:
        return _NOOP
    manager: AbstractContextManager[Any] = tracer.start_as_current_span(
        name, attributes={k: v for k, v in attributes.items() if v is not None}
    )
    return manager


def tracing_enabled() -> bool:
    """True once :func:`enable_tracing` installed a tracer."""
    return _tracer is not None


def enable_tracing(tracer: Any = None) -> None:
    """Start emitting spans through ``tracer`` (default: OpenTelemetry's global ``treeframe`` tracer).

    BackendUnavailable when OpenTelemetry is not installed.
    """
    global _tracer
    if tracer is None:
        try:
            from opentelemetry import trace
        except ImportError as exc:
            raise BackendUnavailable(
                "tracing needs the otel extra (opentelemetry is missing): "
                "pip install 'treeframe[otel]'"
            ) from exc
        tracer = trace.get_tracer("treeframe")
    _tracer = tracer


def disable_tracing() -> None:
    """Back to no-op spans (tests)."""
    global _tracer
    _tracer = None
