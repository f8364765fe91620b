"""Entry-point plugins, each group loaded once and cached by its owner (a runtime's registry).

``importlib.metadata.entry_points`` scans every installed distribution's
metadata: far too slow to repeat on every lookup of a long-lived server, and
it would let a plugin installed mid-run change what one process serves. A
:class:`EntryPointGroup` reads its group on first use and keeps the loaded
objects. A plugin that fails to load (an import error, a factory that
raises, an object of the wrong shape) is remembered as its error: looking it
up raises that error, naming the plugin, while the others keep working.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from treeframe.errors import InvalidPolicy

__all__ = ["EntryPointGroup"]

T = TypeVar("T")


class EntryPointGroup(Generic[T]):
    """The plugins of one entry-point group, by name, loaded once on first use.

    ``accept`` turns a loaded entry point (an object, or a zero-argument
    class, which is instantiated) into a plugin, or returns None when it is
    not one; ``key`` gives the name a plugin is looked up by (its entry-point
    name when None is given).
    """

    def __init__(
        self,
        group: str,
        kind: str,
        accept: Callable[[object], T | None],
        key: Callable[[T], str] | None = None,
    ) -> None:
        self.group = group
        self.kind = kind
        self._accept = accept
        self._key = key
        self._lock = threading.Lock()
        self._loaded: dict[str, T] | None = None
        self._broken: dict[str, tuple[str, Exception | None]] = {}
        """Entry-point name -> (message, cause) of each plugin that failed to load."""

    def _load(self) -> dict[str, T]:
        with self._lock:
            if self._loaded is None:
                loaded: dict[str, T] = {}
                for ep in entry_points(group=self.group):
                    try:
                        found = ep.load()
                        plugin = self._accept(found() if isinstance(found, type) else found)
                    except Exception as exc:  # a broken plugin must not take the others down
                        self._broken[ep.name] = (
                            f"{self.kind} plugin {ep.name!r} failed to load: "
                            f"{type(exc).__name__}: {exc}",
                            exc,
                        )
                        continue
                    if plugin is None:
                        self._broken[ep.name] = (f"plugin {ep.name!r} is not a {self.kind}", None)
                        continue
                    loaded[self._key(plugin) if self._key else ep.name] = plugin
                self._loaded = loaded
            return self._loaded

    def get(self, name: str) -> T | None:
        """The plugin named ``name``; None if there is none; its load error if it is broken."""
        plugins = self._load()
        if name in plugins:
            return plugins[name]
        if name in self._broken:
            message, cause = self._broken[name]
            raise InvalidPolicy(message) from cause
        return None

    def names(self) -> list[str]:
        """The names of the plugins that loaded, sorted."""
        return sorted(self._load())

    def broken(self) -> list[str]:
        """The entry-point names of the plugins that failed to load, sorted."""
        self._load()
        return sorted(self._broken)
