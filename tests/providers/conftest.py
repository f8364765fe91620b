"""Providers built against the fake model server, with retries that wait for nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.model_server import FakeModelServer
from treeframe.config import Settings
from treeframe.providers import CompletionRequest, Message, Provider, provider_for

REQUEST = CompletionRequest(
    model="model-1",
    messages=(Message("user", "Describe src/app.py"),),
    system="Be brief.",
    max_output_tokens=64,
    temperature=0.2,
)

Build = Callable[..., Provider]


@pytest.fixture
def sleeps() -> list[float]:
    """Every delay a provider's retries asked for, in order (nothing actually waits)."""
    return []


@pytest.fixture
def build(fake_models: FakeModelServer, sleeps: list[float]) -> Iterator[Build]:
    """``build(kind, **options)``: a provider named ``fake`` of ``kind`` on the fake server."""
    made: list[Provider] = []

    def build(kind: str, *, env: dict[str, str] | None = None, **options: Any) -> Provider:
        table = fake_models.provider_config(kind, **options)
        settings = Settings.model_validate({"providers": {"fake": table}})
        provider = provider_for("fake", settings, env=env or {}, sleep=sleeps.append)
        made.append(provider)
        return provider

    yield build
    for provider in made:
        provider.close()
