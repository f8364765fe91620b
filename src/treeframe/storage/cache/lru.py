"""A thread-safe LRU bounded by bytes, not entries: records vary from 100 B to a MiB."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

__all__ = ["ByteLRU"]

ENTRY_OVERHEAD = 96
"""Bytes charged per entry on top of its value's size (key, links, the tuple holding it)."""


class ByteLRU:
    """At most ``capacity`` bytes of values (as their callers size them), least recently used out first.

    A value larger than a quarter of the capacity is not kept: one huge blob
    must not flush everything else.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes charged now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any | None:
        """The value, marked most recently used; None when absent."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        """Keep ``value`` (charged ``size`` bytes), evicting the least recently used to fit."""
        charge = size + ENTRY_OVERHEAD
        if charge * 4 > self.capacity:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, charge)
            self._bytes += charge
            while self._bytes > self.capacity:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def pop(self, key: Hashable) -> None:
        """Forget ``key`` (no error when absent)."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
