"""The engine's model agents build real providers with provider_for (the factory generate uses)."""

from __future__ import annotations

from functools import partial

from tests.fakes.model_server import FakeModelServer, Reply
from tests.providers.conftest import REQUEST
from treeframe.config import Settings
from treeframe.engine.models import ModelAgents
from treeframe.providers import provider_for
from treeframe.providers.openai import OpenAIProvider


def test_an_agent_configured_for_a_remote_provider_talks_to_it(
    fake_models: FakeModelServer, sleeps: list[float]
):
    settings = Settings.model_validate(
        {
            "agents": {"describer": {"role": "writer", "provider": "local", "model": "llama"}},
            "providers": {"local": fake_models.provider_config("openai", output_cost_per_mtok=2.0)},
        }
    )
    agents = ModelAgents(settings, partial(provider_for, settings=settings, sleep=sleeps.append))
    try:
        agent = agents.resolve("describer")
        assert isinstance(agent.provider, OpenAIProvider)
        assert agents.resolve("describer").provider is agent.provider  # built once, shared
        fake_models.script(
            Reply.error(503, retry_after=0), Reply.ok("described", usage=(4, 500_000))
        )
        completion = agent.provider.complete(REQUEST)
        assert completion.text == "described"
        assert agent.cost(completion.usage.input_tokens, completion.usage.output_tokens) == 1.0
        assert sleeps == [0.0]
    finally:
        agents.close()
