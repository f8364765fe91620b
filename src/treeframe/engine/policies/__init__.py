"""Synthesis policies: deterministic functions from ordered child frames to one frame's content.

Built-ins are ``concat``, ``summary`` and ``filter``; more are registered as
plugins through the ``treeframe.synthesis_policies`` entry-point group (the
entry point names a policy object or a zero-argument class). A policy must be
a pure function of its inputs and parameters: no clock, randomness or I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from treeframe.errors import InvalidPolicy
from treeframe.frames.frame import Frame

__all__ = [
    "ENTRY_POINT_GROUP",
    "SynthesisInput",
    "SynthesisPolicy",
    "get_policy",
    "policy_ids",
]

ENTRY_POINT_GROUP = "treeframe.synthesis_policies"


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


def _plugins() -> dict[str, SynthesisPolicy]:
    found: dict[str, SynthesisPolicy] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            policy = loaded() if isinstance(loaded, type) else loaded
        except Exception as exc:  # a broken plugin must not take the CLI down
            raise InvalidPolicy(
                f"synthesis policy plugin {ep.name!r} failed to load: {exc}"
            ) from exc
        if not isinstance(policy, SynthesisPolicy):
            raise InvalidPolicy(f"plugin {ep.name!r} is not a synthesis policy")
        found[policy.policy_id] = policy
    return found


def policy_ids() -> list[str]:
    """Every available policy ID, sorted."""
    return sorted({**_plugins(), **_builtins()})


def get_policy(
    policy_id: str, extra: Mapping[str, SynthesisPolicy] | None = None
) -> SynthesisPolicy:
    """The policy registered under ``policy_id`` (built-ins win over plugins of the same ID)."""
    builtins = _builtins()
    if policy_id in builtins:
        return builtins[policy_id]
    if extra and policy_id in extra:
        return extra[policy_id]
    plugins = _plugins()
    if policy_id in plugins:
        return plugins[policy_id]
    known = ", ".join(sorted({*builtins, *plugins, *(extra or {})}))
    raise InvalidPolicy(f"unknown synthesis policy {policy_id!r} (known: {known})")


def no_params(policy_id: str, params: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Reject parameters a policy does not know (a typo must not silently change nothing)."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidPolicy(f"policy {policy_id!r} does not take parameters {unknown}")
