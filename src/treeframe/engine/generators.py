"""Deterministic generators: frames computed from a file's bytes, so the engine can recompute them.

An agent registered with ``generator=<id>`` authors frames by running that
generator; ``regenerate`` re-runs it on the file's new content. Built-in:
``stats`` (size and line count). Plugins register through the
``treeframe.generators`` entry-point group (an object or zero-argument class
with ``generator_id``, ``content_type`` and ``generate(record, content)``),
looked up through a :class:`GeneratorRegistry`, which loads the group once.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from treeframe.engine.plugins import EntryPointGroup
from treeframe.errors import InvalidPolicy
from treeframe.tree.records import NodeRecord

__all__ = ["ENTRY_POINT_GROUP", "Generator", "GeneratorRegistry", "StatsGenerator"]

ENTRY_POINT_GROUP = "treeframe.generators"


@runtime_checkable
class Generator(Protocol):
    """A pure function from a file's record and bytes to frame content."""

    generator_id: str
    content_type: str

    def generate(self, record: NodeRecord, content: bytes) -> bytes:
        """The frame content."""


class StatsGenerator:
    """``<size> bytes, <lines> lines`` of a file."""

    generator_id = "stats"
    content_type = "text/plain; charset=utf-8"

    def generate(self, record: NodeRecord, content: bytes) -> bytes:
        """Size and line count."""
        lines = content.count(b"\n") + (1 if content and not content.endswith(b"\n") else 0)
        return f"{len(content)} bytes, {lines} lines\n".encode()


def _accept(found: object) -> Generator | None:
    return found if isinstance(found, Generator) else None


class GeneratorRegistry:
    """The built-in generators and the ``treeframe.generators`` plugins (by entry-point name).

    The entry-point group is read once, on the first lookup that is not a
    built-in, and cached (a runtime owns one registry). A plugin that fails
    to load is ``invalid_policy`` naming it when asked for; other plugins work.
    """

    def __init__(self) -> None:
        self._builtins: dict[str, Generator] = {StatsGenerator.generator_id: StatsGenerator()}
        self._plugins: EntryPointGroup[Generator] = EntryPointGroup(
            ENTRY_POINT_GROUP, "generator", _accept
        )

    def get(self, generator_id: str) -> Generator:
        """The generator registered under ``generator_id``."""
        if generator_id in self._builtins:
            return self._builtins[generator_id]
        plugin = self._plugins.get(generator_id)
        if plugin is None:
            raise InvalidPolicy(f"unknown generator {generator_id!r}")
        return plugin
