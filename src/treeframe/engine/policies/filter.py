"""``filter``: keep the inputs that match declared predicates, then concatenate them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from treeframe.engine.policies import SynthesisInput, no_params
from treeframe.engine.policies.concat import render_sections
from treeframe.errors import InvalidPolicy

__all__ = ["FilterPolicy"]

_LIST_KEYS = ("types", "agents")


class FilterPolicy:
    """Keep inputs matching every predicate given, then concatenate them.

    Predicates: ``types`` and ``agents`` (lists), ``content_type_prefix``,
    ``metadata`` (key/value pairs that must be present).
    """

    policy_id = "filter"
    content_type = "text/markdown; charset=utf-8"

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Normalize: sorted unique lists, a string prefix, a string-to-string mapping."""
        no_params(self.policy_id, params, (*_LIST_KEYS, "content_type_prefix", "metadata"))
        out: dict[str, Any] = {}
        for key in _LIST_KEYS:
            value = params.get(key, [])
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise InvalidPolicy(f"filter parameter {key} must be a list of strings")
            out[key] = sorted(set(value))
        prefix = params.get("content_type_prefix", "")
        if not isinstance(prefix, str):
            raise InvalidPolicy("filter parameter content_type_prefix must be a string")
        out["content_type_prefix"] = prefix
        meta = params.get("metadata", {})
        if not isinstance(meta, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
        ):
            raise InvalidPolicy("filter parameter metadata must map strings to strings")
        out["metadata"] = dict(sorted(meta.items()))
        return out

    def synthesize(
        self, dir_path: str, inputs: Sequence[SynthesisInput], params: Mapping[str, Any]
    ) -> bytes:
        """Concatenation of the matching inputs."""
        types, agents = set(params["types"]), set(params["agents"])
        prefix, meta = params["content_type_prefix"], params["metadata"]

        def keep(item: SynthesisInput) -> bool:
            frame = item.frame
            held = dict(frame.metadata)
            return (
                (not types or frame.frame_type in types)
                and (not agents or frame.agent_id in agents)
                and frame.content_type.startswith(prefix)
                and all(held.get(k) == v for k, v in meta.items())
            )

        return render_sections([item for item in inputs if keep(item)])
