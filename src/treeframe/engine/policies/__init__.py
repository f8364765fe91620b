"""Synthesis policies: deterministic functions from ordered child frames to one frame's content.

Built-ins are ``concat``, ``summary`` and ``filter``; more are registered as
plugins through the ``treeframe.synthesis_policies`` entry-point group (the
entry point names a policy object or a zero-argument class), looked up
through a :class:`PolicyRegistry`, which loads the group once. A policy must be
a pure function of its inputs and parameters: no clock, randomness or I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from treeframe.engine.plugins import EntryPointGroup
from treeframe.errors import InvalidPolicy
from treeframe.frames.frame import Frame

__all__ = [
    "ENTRY_POINT_GROUP",
    "RESERVED_POLICY",
    "PolicyRegistry",
    "SynthesisInput",
    "SynthesisPolicy",
]

ENTRY_POINT_GROUP = "treeframe.synthesis_policies"
RESERVED_POLICY = "provider"
"""The policy ID of model-written directory frames (engine/generation.py)."""


@dataclass(frozen=True, slots=True)
class SynthesisInput:
    """One child head frame fed to a policy, in basis order."""

    child_name: str
    child_path: str
    frame: Frame
    content: bytes

    @property
    def text(self) -> str:
        """The content as text (invalid UTF-8 replaced, so binary inputs cannot fail a policy)."""
        return self.content.decode("utf-8", errors="replace")


@runtime_checkable
class SynthesisPolicy(Protocol):
    """What a synthesis policy provides."""

    policy_id: str
    content_type: str

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validated, normalized parameters (they enter the FrameID); raise InvalidPolicy."""

    def synthesize(
        self, dir_path: str, inputs: Sequence[SynthesisInput], params: Mapping[str, Any]
    ) -> bytes:
        """The synthesized content."""


def _builtins() -> dict[str, SynthesisPolicy]:
    from treeframe.engine.policies.concat import ConcatPolicy
    from treeframe.engine.policies.filter import FilterPolicy
    from treeframe.engine.policies.summary import SummaryPolicy

    return {p.policy_id: p for p in (ConcatPolicy(), SummaryPolicy(), FilterPolicy())}


def _accept(found: object) -> SynthesisPolicy | None:
    return found if isinstance(found, SynthesisPolicy) else None


def _policy_id(policy: SynthesisPolicy) -> str:
    return policy.policy_id


class PolicyRegistry:
    """The built-in policies and the ``treeframe.synthesis_policies`` plugins.

    The entry-point group is read once, on the first lookup that is not a
    built-in, and cached (a runtime owns one registry). A plugin that fails
    to load is ``invalid_policy`` naming it when asked for; other plugins work.
    """

    def __init__(self) -> None:
        self._builtins = _builtins()
        self._plugins: EntryPointGroup[SynthesisPolicy] = EntryPointGroup(
            ENTRY_POINT_GROUP, "synthesis policy", _accept, _policy_id
        )

    def ids(self) -> list[str]:
        """Every available policy ID, sorted."""
        return sorted({*self._plugins.names(), *self._builtins})

    def get(
        self, policy_id: str, extra: Mapping[str, SynthesisPolicy] | None = None
    ) -> SynthesisPolicy:
        """The policy registered under ``policy_id`` (built-ins win over plugins of the same ID).

        ``provider`` is reserved: it marks directory frames a model wrote
        (``generate``), which no policy can rebuild.
        """
        if policy_id == RESERVED_POLICY:
            raise InvalidPolicy(
                f"policy {RESERVED_POLICY!r} is reserved for directory frames written by model "
                "agents (treeframe generate); it cannot be run as a synthesis policy"
            )
        if policy_id in self._builtins:
            return self._builtins[policy_id]
        if extra and policy_id in extra:
            return extra[policy_id]
        plugin = self._plugins.get(policy_id)
        if plugin is not None:
            return plugin
        known = ", ".join(sorted({*self.ids(), *(extra or {})}))
        broken = self._plugins.broken()
        note = f"; plugins that failed to load: {', '.join(broken)}" if broken else ""
        raise InvalidPolicy(f"unknown synthesis policy {policy_id!r} (known: {known}{note})")


def no_params(policy_id: str, params: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Reject parameters a policy does not know (a typo must not silently change nothing)."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidPolicy(f"policy {policy_id!r} does not take parameters {unknown}")
