"""Model agents: which provider, model and prompts an agent writes frames with.

An agent's model settings come from configuration (``agents.<id>.provider``,
``model``, ``prompts``...); an agent registered in the store without them
may name a configured provider and model in its ``provider`` mapping
(``{"provider": "local", "model": "llama3.1"}``: names only, never
secrets); anything else gets the built-in offline provider. Providers are
built on first use and shared by every agent naming them (they are
thread-safe); ``close()`` releases them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from treeframe.config.settings import AgentSettings, ProviderSettings, Settings
from treeframe.engine.prompts import (
    DEFAULT_DIRECTORY_TEMPLATE,
    DEFAULT_FILE_TEMPLATE,
    DEFAULT_SYSTEM_PROMPT,
    PromptSet,
)
from treeframe.errors import ConfigError
from treeframe.providers.base import Provider
from treeframe.providers.offline import OFFLINE_MODEL
from treeframe.providers.registry import provider_for

__all__ = ["ModelAgent", "ModelAgents", "ProviderFactory"]

ProviderFactory = Callable[[str], Provider]
"""Builds the provider configured under a name (``offline`` included)."""


@dataclass(frozen=True, slots=True)
class ModelAgent:
    """How one agent writes frames with a model."""

    agent_id: str
    provider: Provider
    model: str
    prompts: PromptSet
    max_output_tokens: int = 512
    temperature: float = 0.0
    input_cost_per_mtok: float = 0.0
    output_cost_per_mtok: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """What the tokens cost at the provider's configured prices."""
        return (
            input_tokens * self.input_cost_per_mtok + output_tokens * self.output_cost_per_mtok
        ) / 1_000_000


class ModelAgents:
    """Resolves agents to :class:`ModelAgent` from settings; shared providers, built lazily."""

    def __init__(self, settings: Settings | None = None, factory: ProviderFactory | None = None):
        self.settings = settings or Settings()
        self._factory = factory or partial(provider_for, settings=self.settings)
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()

    def provider(self, name: str) -> Provider:
        """The provider configured as ``name`` (built once)."""
        with self._lock:
            found = self._providers.get(name)
            if found is None:
                found = self._providers[name] = self._factory(name)
            return found

    def resolve(self, agent_id: str, registered: Mapping[str, str] | None = None) -> ModelAgent:
        """The model agent ``agent_id`` is: configuration first, then its registration's names."""
        configured = self.settings.agents.get(agent_id)
        chosen = dict(registered or {})
        if configured is not None:
            name, model = configured.provider, configured.model
        else:
            name, model = chosen.get("provider", "offline"), chosen.get("model")
            configured = AgentSettings(role="writer")
        settings: ProviderSettings | None = self.settings.providers.get(name)
        kind = settings.kind if settings is not None else ("offline" if name == "offline" else "")
        if not kind:
            known = ", ".join(["offline", *sorted(self.settings.providers)])
            raise ConfigError(
                f"agent {agent_id!r} names model provider {name!r}, which is not configured "
                f"(known: {known}; see providers.<name> in CONFIG.md)"
            )
        if model is None:
            if kind != "offline":
                raise ConfigError(
                    f"agent {agent_id!r} uses {kind} provider {name!r} but names no model "
                    f"(set agents.{agent_id}.model)"
                )
            model = OFFLINE_MODEL
        prompts = configured.prompts
        try:
            prompt_set = PromptSet(
                system=DEFAULT_SYSTEM_PROMPT if prompts.system is None else prompts.system,
                file=DEFAULT_FILE_TEMPLATE if prompts.file is None else prompts.file,
                directory=DEFAULT_DIRECTORY_TEMPLATE
                if prompts.directory is None
                else prompts.directory,
            )
        except ConfigError as exc:
            raise ConfigError(f"agents.{agent_id}.prompts: {exc.message}") from exc
        return ModelAgent(
            agent_id=agent_id,
            provider=self.provider(name),
            model=model,
            prompts=prompt_set,
            max_output_tokens=configured.max_output_tokens,
            temperature=configured.temperature,
            input_cost_per_mtok=settings.input_cost_per_mtok if settings else 0.0,
            output_cost_per_mtok=settings.output_cost_per_mtok if settings else 0.0,
        )

    def close(self) -> None:
        """Release every provider built so far."""
        with self._lock:
            providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            provider.close()
