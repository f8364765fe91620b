"""``summary``: extractive and bounded — the first meaningful line of each input, with its path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from treeframe.engine.policies import SynthesisInput, no_params
from treeframe.errors import InvalidPolicy

__all__ = ["SummaryPolicy", "first_line"]

DEFAULT_MAX_LINE = 120
DEFAULT_MAX_BYTES = 4096


def first_line(text: str) -> str:
    """The first non-blank line, without Markdown heading marks."""
    for line in text.splitlines():
        stripped = line.strip().lstrip("#").strip()
        if stripped:
            return stripped
    return ""


class SummaryPolicy:
    """One ``- path: first line`` bullet per input, cut to ``max_line`` chars and ``max_bytes``."""

    policy_id = "summary"
    content_type = "text/markdown; charset=utf-8"

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``max_line`` (chars per bullet) and ``max_bytes`` (whole summary), positive integers."""
        no_params(self.policy_id, params, ("max_line", "max_bytes"))
        out = {
            "max_line": params.get("max_line", DEFAULT_MAX_LINE),
            "max_bytes": params.get("max_bytes", DEFAULT_MAX_BYTES),
        }
        for key, value in out.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidPolicy(f"summary parameter {key} must be a positive integer")
        return out

    def synthesize(
        self, dir_path: str, inputs: Sequence[SynthesisInput], params: Mapping[str, Any]
    ) -> bytes:
        """The bounded bullet list; a final line says how many inputs did not fit."""
        max_line, max_bytes = params["max_line"], params["max_bytes"]
        lines: list[bytes] = []
        used = 0
        for index, item in enumerate(inputs):
            text = first_line(item.text) or "(empty)"
            if len(text) > max_line:
                text = text[: max_line - 1] + "…"
            line = f"- {item.child_path}: {text}\n".encode()
            rest = len(inputs) - index
            tail = len(f"- … {rest} more\n".encode())
            if used + len(line) + (tail if rest > 1 else 0) > max_bytes:
                lines.append(f"- … {rest} more\n".encode())
                break
            lines.append(line)
            used += len(line)
        return b"".join(lines)
