from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from treeframe.observability import tracing


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.enable_tracing(provider.get_tracer("treeframe"))
    try:
        yield spans
    finally:
        tracing.disable_tracing()


def test_off_by_default_and_free():
    assert not tracing.tracing_enabled()
    first = tracing.span("a", x=1)
    assert first is tracing.span("b")  # one shared no-op: nothing allocated per call
    with first:
        pass


def test_spans_nest_and_carry_attributes(exporter: InMemorySpanExporter):
    with tracing.span("treeframe.request", method="GET", skipped=None), tracing.span("store.x"):
        pass
    inner, outer = exporter.get_finished_spans()
    assert outer.name == "treeframe.request"
    assert dict(outer.attributes or {}) == {"method": "GET"}
    assert inner.parent is not None
    assert inner.parent.span_id == outer.context.span_id
