"""Deterministic generators: frames computed from a file's bytes, so the engine can recompute them.

An agent registered with ``generator=<id>`` authors frames by running that
generator; ``regenerate`` re-runs it on the file's new content. Built-in:
``stats`` (size and line count). Plugins register through the
``treeframe.generators`` entry-point group (an object or zero-argument class
with ``generator_id``, ``content_type`` and ``generate(record, content)``).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from treeframe.errors import InvalidPolicy
from treeframe.tree.records import NodeRecord

__all__ = ["ENTRY_POINT_GROUP", "Generator", "StatsGenerator", "get_generator"]

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


def get_generator(generator_id: str) -> Generator:
    """The generator registered under ``generator_id``."""
    if generator_id == StatsGenerator.generator_id:
        return StatsGenerator()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == generator_id:
            loaded = ep.load()
            generator = loaded() if isinstance(loaded, type) else loaded
            if isinstance(generator, Generator):
                return generator
    raise InvalidPolicy(f"unknown generator {generator_id!r}")
