from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from treeframe.config.settings import Settings
from treeframe.observability import tracing
from treeframe.observability.storage import InstrumentedStore


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
        # The SDK registers fork handlers (held weakly) that start threads in a forked
        # child: a later test forking into a new user namespace (tests/unprivileged.py)
        # must not inherit a live provider, or unshare(CLONE_NEWUSER) fails with EINVAL.
        provider.shutdown()
        spans.clear()
        del provider, spans
        gc.collect()


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


def test_a_request_span_holds_the_engine_and_storage_spans(
    exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    from tests.api.routes_env import make_env

    settings = Settings.model_validate(
        {
            "tracing": {"enabled": True},
            "metrics": {"enabled": False},
            "agents": {"alice": {"role": "synthesis"}},
        }
    )
    provider_tracer = tracing._tracer  # create_app must keep the tracer the fixture installed
    envs = make_env(tmp_path, settings)
    env = next(envs)
    try:
        tracing.enable_tracing(provider_tracer)
        assert isinstance(env.app.state.store.inner, InstrumentedStore)  # behind the cache
        for rel in ("src/app.py", "src/db/models.py", "src/db/pool.py"):
            assert env.put(rel, "note", rel).status_code == 201
        exporter.clear()
        answer = env.http.post(
            f"{env.base}/synthesize", json={"node": "src", "frame_type": "note", "recursive": True}
        )
        assert answer.status_code == 200, answer.text
    finally:
        envs.close()
    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}
    request = by_name["treeframe.request"]
    engine = by_name["treeframe.synthesize"]
    assert dict(request.attributes or {})["http.route"] == "/v1/workspaces/{ws}/synthesize"
    assert engine.context.trace_id == request.context.trace_id
    storage = [s for s in spans if s.name.startswith("store.")]
    assert "store.append_frame" in {s.name for s in storage}
    assert all(s.context.trace_id == request.context.trace_id for s in storage)
    assert any(s.parent is not None and s.parent.span_id == engine.context.span_id for s in storage)
