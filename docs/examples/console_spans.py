"""Serve treeframe with every request's spans printed to stderr (docs/OPERATIONS.md "Profiling a request").

    PYTHONPATH=docs/examples treeframe serve --app console_spans:create_app

Each request prints its span tree: ``treeframe.request`` (with ``http.route``),
the engine operation inside it (``treeframe.synthesize``, ``treeframe.regenerate``)
and every store and blob-store call (``store.get_nodes``, ``blobs.put``, ...),
with start and end times, so the slow call of a slow request is on screen.
Needs the ``otel`` extra (``pip install 'treeframe[otel]'``).
"""

from __future__ import annotations

import sys
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from treeframe.api import create_app as treeframe_app
from treeframe.config.settings import Settings
from treeframe.observability import tracing


def create_app(settings: Settings, store: Any, *, close_store: bool = False) -> Any:
    """``treeframe.api.create_app`` with tracing on and spans exported to stderr."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    traced = settings.model_copy(
        update={"tracing": settings.tracing.model_copy(update={"enabled": True})}
    )
    app = treeframe_app(traced, store, close_store=close_store)
    tracing.enable_tracing(provider.get_tracer("treeframe"))
    app.state.tracer_provider = provider
    return app
