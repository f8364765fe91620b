"""The model-provider seam: one synchronous interface over every chat-completion API.

An agent that authors frames with a model (``treeframe generate``,
``regenerate --agents``) asks its :class:`Provider` for a
:class:`Completion` of a :class:`CompletionRequest`. Implementations speak
one wire format each (``openai.py``: OpenAI-compatible chat completions,
which Ollama, LM Studio and vLLM serve too; ``anthropic.py``: Anthropic
messages; ``offline.py``: the built-in deterministic default) and map every
failure onto :class:`~treeframe.errors.ProviderError` and its subclasses, so
callers never see a transport's own exceptions. The interface is
synchronous: the engine is, and ``generate`` bounds its concurrency with
threads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "Completion",
    "CompletionRequest",
    "Message",
    "Provider",
    "ProviderKind",
    "TextSink",
    "Usage",
]

ProviderKind = Literal["offline", "openai", "anthropic"]

TextSink = Callable[[str], None]
"""Receives each piece of text as a streaming provider produces it."""


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """What to ask a model.

    ``context`` holds the named values the prompt was rendered from (path,
    content, children...). Remote providers send only ``system`` and
    ``messages``; the offline provider reads ``context`` to build its
    deterministic answer.
    """

    model: str
    messages: tuple[Message, ...]
    system: str = ""
    max_output_tokens: int = 512
    temperature: float = 0.0
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a completion consumed, as the provider reported them (0 when it did not)."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer: its text, the model that answered, tokens used, and why it stopped."""

    text: str
    model: str
    usage: Usage = Usage()
    finish_reason: str = ""


@runtime_checkable
class Provider(Protocol):
    """A configured model provider.

    ``name`` is the configured name (``providers.<name>``, or ``offline``);
    errors and frame metadata carry it. ``complete`` retries what may succeed
    later (429, 5xx, timeouts) with backoff, streams when configured to,
    feeding each piece of text to ``on_text``, and raises only
    ``ProviderError`` subclasses. Instances are safe to share between threads.
    """

    name: str
    kind: ProviderKind

    def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        """The completion of ``request``."""

    def close(self) -> None:
        """Release connections (idempotent)."""
