"""Engine events: what the core did, told to whoever listens (logs, metrics), at no cost when nobody does.

The core calls :func:`emit` at the few places that change state (every
audited write, a scan or push committing a root, a regenerated frame, an
import) with plain fields: IDs, counts, operation names — never contents or
secrets. Listeners are the edges' business: the log pipeline turns events
into lines (:mod:`treeframe.observability.logs`), the server's metrics count
them. A listener that raises is dropped from that one call and never fails
the write that emitted it: observability must not change what is stored.

Listeners are held weakly when they are bound methods (an app's metrics
object), so an app that goes away stops listening without unsubscribing.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Listener", "emit", "listening", "subscribe", "unsubscribe"]

Listener = Callable[[str, Mapping[str, Any]], None]
"""``listener(event, fields)``; ``fields`` must not be kept or changed."""

_LOG = logging.getLogger("treeframe.observability")
_lock = threading.Lock()
_refs: list[weakref.ref[Any] | Callable[[], Listener | None]] = []
_listeners: tuple[Listener, ...] = ()


def subscribe(listener: Listener) -> None:
    """Call ``listener`` for every event from now on (once, however often subscribed)."""
    global _listeners
    with _lock:
        if any(ref() == listener for ref in _refs):
            return
        weak = hasattr(listener, "__self__")
        ref: Any = weakref.WeakMethod(listener) if weak else _strong(listener)
        _refs.append(ref)
        _listeners = _alive()


def unsubscribe(listener: Listener) -> None:
    """Stop calling ``listener`` (nothing happens when it was not subscribed)."""
    global _listeners
    with _lock:
        _refs[:] = [ref for ref in _refs if ref() not in (None, listener)]
        _listeners = _alive()


def listening() -> bool:
    """True when some listener would receive an event (lets callers skip building costly fields)."""
    return bool(_listeners)


def emit(event: str, **fields: Any) -> None:
    """Tell every listener that ``event`` happened; returns at once when there are none."""
    listeners = _listeners
    if not listeners:
        return
    dead = False
    for listener in listeners:
        try:
            listener(event, fields)
        except ReferenceError:
            dead = True
        except Exception:
            _LOG.exception("event listener failed on %s", event)
    if dead:
        _prune()


def _strong(listener: Listener) -> Callable[[], Listener | None]:
    return lambda: listener


def _alive() -> tuple[Listener, ...]:
    alive = []
    for ref in _refs:
        listener = ref()
        if listener is not None:
            alive.append(_call_through(ref) if isinstance(ref, weakref.WeakMethod) else listener)
    return tuple(alive)


def _call_through(ref: weakref.WeakMethod[Any]) -> Listener:
    """A listener that resolves its weak method on each call (ReferenceError once it is gone)."""

    def call(event: str, fields: Mapping[str, Any]) -> None:
        method = ref()
        if method is None:
            raise ReferenceError("listener was collected")
        method(event, fields)

    return call


def _prune() -> None:
    global _listeners
    with _lock:
        _refs[:] = [ref for ref in _refs if ref() is not None]
        _listeners = _alive()
