"""A provider by its configured name: the one place that turns ``providers.<name>`` into a :class:`Provider`.

``offline`` needs no entry (it is the default of every agent); any other
name must be a ``providers.<name>`` table, whose ``kind`` picks the
implementation. Problems that configuration alone reveals are found here,
before any request: an unknown name, a base URL that is not http(s), a key
variable or file that is missing, httpx not installed, and a provider that
talks to the official API (no ``base_url``) without a key.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from treeframe.config.loading import provider_api_key
from treeframe.config.settings import Settings
from treeframe.errors import ConfigError, ProviderAuthFailed
from treeframe.providers.anthropic import DEFAULT_ANTHROPIC_URL, AnthropicProvider
from treeframe.providers.base import Provider
from treeframe.providers.http import HttpTransport, Sleep, require_httpx
from treeframe.providers.offline import OfflineProvider
from treeframe.providers.openai import DEFAULT_OPENAI_URL, OpenAIProvider

__all__ = ["OFFLINE", "known_providers", "provider_for"]

OFFLINE = "offline"
"""The built-in provider's name: deterministic, no key, no network."""


def known_providers(settings: Settings) -> list[str]:
    """Every name ``provider_for`` accepts: ``offline`` and the configured ones, sorted."""
    return sorted({OFFLINE, *settings.providers})


def provider_for(
    name: str,
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
) -> Provider:
    """The provider named ``name`` (``offline`` or a ``providers.<name>`` entry), ready to use.

    Args:
        name: an agent's ``provider``.
        settings: the effective settings.
        env: where ``key_env`` variables are read (default: the process environment).
        sleep: how retries wait (tests pass a recorder).

    Raises:
        ConfigError: the name is unknown (the message lists the known ones),
            the base URL is not http(s), the key cannot be read, or httpx is
            missing.
        ProviderAuthFailed: the provider talks to the official API and no key
            is configured.
    """
    configured = settings.providers.get(name)
    if configured is None:
        if name == OFFLINE:
            return OfflineProvider()
        raise ConfigError(
            f"unknown provider {name!r}: define providers.{name} "
            f"(known: {', '.join(known_providers(settings))})"
        )
    if configured.kind == "offline":
        return OfflineProvider(name=name)
    base_url = configured.base_url
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"invalid config providers.{name}.base_url = {base_url!r}: "
            "not an http:// or https:// URL"
        )
    require_httpx(name)
    key = provider_api_key(name, configured, env)
    default_url = DEFAULT_OPENAI_URL if configured.kind == "openai" else DEFAULT_ANTHROPIC_URL
    if key is None and base_url is None:
        raise ProviderAuthFailed(
            f"provider {name!r} ({configured.kind}, {default_url}) has no API key: set "
            f"providers.{name}.api_key (e.g. TREEFRAME_PROVIDERS__{name.upper()}__API_KEY), "
            "key_env or key_file",
            provider=name,
        )
    http = HttpTransport(
        name,
        timeout_seconds=configured.timeout_seconds,
        connect_timeout_seconds=configured.connect_timeout_seconds,
        max_retries=configured.max_retries,
        backoff_seconds=configured.backoff_seconds,
        secret=key,
        sleep=sleep,
    )
    kind = OpenAIProvider if configured.kind == "openai" else AnthropicProvider
    return kind(name, http, base_url=base_url, api_key=key, stream=configured.stream)
