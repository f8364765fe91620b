"""Model providers behind one interface: the offline default, OpenAI-compatible servers, Anthropic.

``provider_for(name, settings)`` builds the provider an agent names; every
one answers ``complete(request, on_text)`` with a :class:`Completion` and
fails only with :class:`~treeframe.errors.ProviderError` subclasses (see
docs/PROVIDERS.md). httpx is imported only when a remote provider first
sends.
"""

from treeframe.providers.base import (
    Completion,
    CompletionRequest,
    Message,
    Provider,
    ProviderKind,
    TextSink,
    Usage,
)
from treeframe.providers.registry import OFFLINE, known_providers, provider_for

__all__ = [
    "OFFLINE",
    "Completion",
    "CompletionRequest",
    "Message",
    "Provider",
    "ProviderKind",
    "TextSink",
    "Usage",
    "known_providers",
    "provider_for",
]
