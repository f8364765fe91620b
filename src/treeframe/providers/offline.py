"""The built-in offline provider: a deterministic, extractive answer computed from the prompt's context.

It is the default so that ``generate`` works with no key, no network and no
model, and so that tests are reproducible: the same request always gives
the same text, hence the same frame. It does not pretend to understand the
file: for a file it states what a reader checks first (kind, size, lines,
the names it defines, its leading comment); for a directory it lists the
children's first lines. Tokens are counted as whitespace-separated words,
which is deterministic and close enough for the report.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from treeframe.providers.base import Completion, CompletionRequest, ProviderKind, TextSink, Usage

__all__ = ["OFFLINE_MODEL", "OfflineProvider"]

OFFLINE_MODEL = "offline-1"
"""What the offline provider reports as its model (bump it when its output changes)."""

_MAX_NAMES = 12
_MAX_CHILD_LINES = 50
_LANGUAGES = {
    ".py": "Python",
    ".pyi": "Python stub",
    ".js": "JavaScript",
    ".mjs": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript (JSX)",
    ".go": "Go",
    ".rs": "Rust",
    ".java": "Java",
    ".c": "C",
    ".h": "C header",
    ".cpp": "C++",
    ".hpp": "C++ header",
    ".rb": "Ruby",
    ".sh": "shell",
    ".md": "Markdown",
    ".rst": "reStructuredText",
    ".txt": "text",
    ".json": "JSON",
    ".toml": "TOML",
    ".yaml": "YAML",
    ".yml": "YAML",
    ".html": "HTML",
    ".css": "CSS",
    ".sql": "SQL",
}
# Definitions across common languages: `def f`, `class C`, `function f`, `fn f`, `func f`, ...
_DEFINITION = re.compile(
    r"^\s*(?:export\s+)?(?:pub(?:\([a-z]+\))?\s+)?(?:async\s+)?"
    r"(?:def|class|function|fn|func|struct|enum|trait|interface|type|impl)\s+([A-Za-z_][\w]*)",
    re.MULTILINE,
)
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.MULTILINE)
_COMMENT = re.compile(
    r'^\s*(?:#!.*|#|//|/\*+|\*|--|;+|"""|\'\'\')\s*(.*?)\s*(?:\*/|"""|\'\'\')?\s*$'
)


def _language(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    return _LANGUAGES.get(suffix, f"{suffix[1:]} file" if suffix else "file")


def _lead(text: str) -> str:
    """The first meaningful line: a leading comment or docstring, else the first non-blank line."""
    for line in text.splitlines()[:40]:
        if not line.strip() or line.startswith("#!"):
            continue
        match = _COMMENT.match(line)
        found = (match.group(1) if match else line).strip()
        if found:
            return found[:160]
    return ""


def _describe_file(context: dict[str, str]) -> str:
    path = context.get("path", "")
    content = context.get("content", "")
    size = context.get("size", str(len(content.encode())))
    if context.get("binary") == "true":
        return f"{path}: binary file, {size} bytes.\n"
    lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
    plural = "line" if lines == 1 else "lines"
    parts = [f"{path}: {_language(path)}, {lines} {plural}, {size} bytes."]
    if context.get("truncated") == "true":
        parts[0] = parts[0][:-1] + " (read in part)."
    names = list(dict.fromkeys(_DEFINITION.findall(content)))
    if not names and path.lower().endswith((".md", ".rst")):
        names = list(dict.fromkeys(h.strip() for h in _HEADING.findall(content)))
    if names:
        more = f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else ""
        parts.append("Defines: " + ", ".join(names[:_MAX_NAMES]) + more + ".")
    lead = _lead(content)
    if lead:
        parts.append(f"Begins: {lead}")
    return "\n".join(parts) + "\n"


def _describe_directory(context: dict[str, str]) -> str:
    path = context.get("path", "") or "."
    lines = context.get("children", "").splitlines()
    # One entry per "- name: ..." line; the lines below it continue its description.
    entries = [line for line in lines if line.startswith("- ")]
    head = f"{path}/: {len(entries)} described {'entry' if len(entries) == 1 else 'entries'}."
    firsts = entries[:_MAX_CHILD_LINES]
    more = [f"... and {len(entries) - len(firsts)} more."] if len(entries) > len(firsts) else []
    return "\n".join([head, *firsts, *more]) + "\n"


def _words(text: str) -> int:
    return len(text.split())


class OfflineProvider:
    """Deterministic answers from the request's context; no network, no key."""

    kind: ProviderKind = "offline"

    def __init__(self, name: str = "offline") -> None:
        self.name = name

    def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        """The extractive description of the file or directory the request's context names."""
        context = dict(request.context)
        if context.get("kind") == "dir":
            text = _describe_directory(context)
        elif context.get("kind") == "file":
            text = _describe_file(context)
        else:
            last = request.messages[-1].content if request.messages else ""
            text = (_lead(last) or "(empty prompt)") + "\n"
        words = text.split()
        budget = request.max_output_tokens
        finish = "stop"
        if len(words) > budget:
            text = " ".join(words[:budget]) + "\n"
            finish = "length"
        if on_text is not None:
            for line in text.splitlines(keepends=True):
                on_text(line)
        prompt = request.system + "".join(m.content for m in request.messages)
        return Completion(
            text=text,
            model=OFFLINE_MODEL,
            usage=Usage(input_tokens=_words(prompt), output_tokens=_words(text)),
            finish_reason=finish,
        )

    def close(self) -> None:
        """Nothing to release."""
