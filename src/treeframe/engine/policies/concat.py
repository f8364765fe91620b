"""``concat``: every input frame under a heading naming its child and type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from treeframe.engine.policies import SynthesisInput, no_params

__all__ = ["ConcatPolicy", "render_sections"]


def render_sections(inputs: Sequence[SynthesisInput]) -> bytes:
    """``## <path> (<type> by <agent>)`` then the content, for each input in order."""
    parts = [
        f"## {item.child_path} ({item.frame.frame_type} by {item.frame.agent_id})\n"
        f"{item.text.rstrip()}\n"
        for item in inputs
    ]
    return "\n".join(parts).encode("utf-8")


class ConcatPolicy:
    """Concatenate the inputs in basis order (child name, then FrameID)."""

    policy_id = "concat"
    content_type = "text/markdown; charset=utf-8"

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """No parameters."""
        no_params(self.policy_id, params, ())
        return {}

    def synthesize(
        self, dir_path: str, inputs: Sequence[SynthesisInput], params: Mapping[str, Any]
    ) -> bytes:
        """The concatenation."""
        return render_sections(inputs)
