"""Prompt templates of model agents: the built-in ones, rendering, and the hashes recorded with each frame.

Templates are ``string.Template`` text (``${path}``, ``${content}``...):
no attribute access or format specs, so a template from configuration can
only substitute the documented names, and file content containing braces or
dollar signs is inserted verbatim. A template naming anything else is a
``config_error`` before any model is asked.

Two hashes say what produced a generated frame (docs/SCHEMAS.md, "Generated
frames"). The **prompt hash** covers everything the agent chose: provider
name, model, system prompt, the template, output-token limit and
temperature; a frame whose prompt hash differs from the agent's today is not
current for that agent, so ``generate`` redoes it. The **context hash**
covers what was sent for this one frame (system prompt and rendered
message), so two frames can be compared for "asked the same thing".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Literal

from treeframe.errors import ConfigError
from treeframe.hashing.canonical_json import canonical_json
from treeframe.hashing.ids import content_hash

__all__ = [
    "DEFAULT_DIRECTORY_TEMPLATE",
    "DEFAULT_FILE_TEMPLATE",
    "DEFAULT_SYSTEM_PROMPT",
    "DIRECTORY_FIELDS",
    "FILE_FIELDS",
    "PromptSet",
    "context_hash",
    "render",
]

TemplateKind = Literal["file", "directory"]

DEFAULT_SYSTEM_PROMPT = (
    "You write short, factual context about a codebase for engineers and coding agents. "
    "Describe only what the input shows; never invent names, behaviour or history. "
    "Plain text, no preamble."
)
DEFAULT_FILE_TEMPLATE = (
    "Describe the file ${path} for a developer who has not read it: what it is for, "
    "the main things it defines and how they are used. At most 8 lines.${truncated}\n\n"
    '<file path="${path}" bytes="${size}">\n${content}\n</file>\n'
)
DEFAULT_DIRECTORY_TEMPLATE = (
    "Describe the directory ${path} from the descriptions of its entries below: what it "
    "holds and how the parts fit together. At most 8 lines.\n\n${children}\n"
)
FILE_FIELDS = frozenset({"path", "content", "size", "truncated", "frame_type"})
DIRECTORY_FIELDS = frozenset({"path", "children", "frame_type"})


def _checked(text: str, kind: TemplateKind) -> Template:
    template = Template(text)
    allowed = FILE_FIELDS if kind == "file" else DIRECTORY_FIELDS
    if not template.is_valid():
        raise ConfigError(f"the {kind} prompt template has a malformed placeholder (use ${{name}})")
    unknown = sorted(set(template.get_identifiers()) - allowed)
    if unknown:
        raise ConfigError(
            f"the {kind} prompt template names {', '.join(unknown)}; "
            f"it may use {', '.join(sorted(allowed))}"
        )
    return template


@dataclass(frozen=True, slots=True)
class PromptSet:
    """An agent's system prompt and templates, checked once when the agent is resolved."""

    system: str = DEFAULT_SYSTEM_PROMPT
    file: str = DEFAULT_FILE_TEMPLATE
    directory: str = DEFAULT_DIRECTORY_TEMPLATE

    def __post_init__(self) -> None:
        _checked(self.file, "file")
        _checked(self.directory, "directory")

    def template(self, kind: TemplateKind) -> str:
        """The template text for a file or a directory frame."""
        return self.file if kind == "file" else self.directory

    def prompt_hash(
        self,
        kind: TemplateKind,
        *,
        provider: str,
        model: str,
        max_output_tokens: int,
        temperature: float,
    ) -> str:
        """The hash of everything the agent chose for this kind of frame (module doc)."""
        chosen = {
            "schema": "prompt/1",
            "kind": kind,
            "provider": provider,
            "model": model,
            "system": self.system,
            "template": self.template(kind),
            "max_output_tokens": max_output_tokens,
            # As text: canonical JSON has no floats, and "0.7" is what the config said.
            "temperature": repr(float(temperature)),
        }
        return content_hash(canonical_json(chosen))


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` (checked when its :class:`PromptSet` was made) with the names substituted.

    Each value is inserted verbatim: a ``$`` or brace in file content is text.
    """
    return Template(template).substitute(values)


def context_hash(system: str, message: str) -> str:
    """The hash of what one request sent: its system prompt and rendered message (module doc)."""
    return content_hash(
        canonical_json({"schema": "context/1", "system": system, "message": message})
    )
