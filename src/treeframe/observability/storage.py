"""Every store and blob-store call timed, without the backends knowing.

:class:`InstrumentedStore` stands in for a :class:`~treeframe.storage.base.StorageBackend`
(the server wraps its store when metrics or tracing are on): each public
method, on first use, is replaced by a closure that times the call with one
``perf_counter`` pair and hands ``(operation, seconds)`` to the observer, and
opens a tracing span while tracing is enabled. ``store.blobs`` is wrapped the
same way (:class:`InstrumentedBlobs`) with its own observer, and a
``snapshot()`` yields a wrapped view, so reads inside a snapshot are counted
too. Iterators (``iter_*``, ``read_stream``) are timed to their creation
only: their time is spent by whoever consumes them. ``unit_of_work`` and
``close`` pass through untimed.

A proxy rather than a decorator on each backend: one place, every backend
(present and future) and no change to what is stored or returned. The same
proxy applies the circuit breakers (:mod:`treeframe.storage.breaker`), one
for the store and one for its blob store, when the server has them on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from treeframe.errors import BackendUnavailable, TreeframeError
from treeframe.observability import tracing
from treeframe.storage.breaker import CircuitBreaker

__all__ = ["InstrumentedBlobs", "InstrumentedStore", "Observer"]

Observer = Callable[[str, float], None]
"""``observer(operation, seconds)`` after each call (also after one that raised)."""

_UNTIMED = frozenset({"unit_of_work", "close", "snapshot", "blobs", "url"})


def _timed(
    name: str,
    fn: Callable[..., Any],
    observe: Observer,
    prefix: str,
    breaker: CircuitBreaker | None,
) -> Callable[..., Any]:
    span_name = f"{prefix}.{name}"
    clock = time.perf_counter

    def call(*args: Any, **kwargs: Any) -> Any:
        probe = breaker.before() if breaker is not None else False
        started = clock()
        try:
            if tracing.tracing_enabled():
                with tracing.span(span_name):
                    result = fn(*args, **kwargs)
            else:
                result = fn(*args, **kwargs)
        except BackendUnavailable:
            if breaker is not None:
                breaker.failed(probe)
            raise
        except TreeframeError:
            if breaker is not None:
                breaker.succeeded(probe)  # it answered, even if the answer is an error
            raise
        except BaseException:
            if breaker is not None:
                breaker.released(probe)
            raise
        finally:
            observe(name, clock() - started)
        if breaker is not None:
            breaker.succeeded(probe)
        return result

    call.__name__ = name
    call.__doc__ = fn.__doc__
    return call


class _Proxy:
    """Attribute access that wraps the inner object's public methods once, on first use."""

    _prefix = "store"

    def __init__(
        self, inner: Any, observe: Observer, breaker: CircuitBreaker | None = None
    ) -> None:
        self._inner = inner
        self._observe = observe
        self._breaker = breaker

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or name in _UNTIMED or not callable(attr):
            return attr
        wrapped = _timed(name, attr, self._observe, self._prefix, self._breaker)
        self.__dict__[name] = wrapped  # later look-ups skip __getattr__
        return wrapped


class InstrumentedBlobs(_Proxy):
    """A blob store whose every call is timed (see the module docstring)."""

    _prefix = "blobs"


class InstrumentedStore(_Proxy):
    """A store whose every call is timed (see the module docstring); ``blobs`` and snapshots too."""

    def __init__(
        self,
        inner: Any,
        observe: Observer,
        observe_blobs: Observer | None = None,
        *,
        breaker: CircuitBreaker | None = None,
        blob_breaker: CircuitBreaker | None = None,
    ) -> None:
        super().__init__(inner, observe, breaker)
        self._observe_blobs = observe_blobs or observe
        self._blob_breaker = blob_breaker
        self.blobs = InstrumentedBlobs(inner.blobs, self._observe_blobs, blob_breaker)

    @property
    def url(self) -> str:
        """The inner store's URL."""
        url: str = self._inner.url
        return url

    @property
    def inner(self) -> Any:
        """The store being timed."""
        return self._inner

    @contextmanager
    def snapshot(self) -> Iterator[InstrumentedStore]:
        """The inner store's snapshot, timed like the store itself."""
        with self._inner.snapshot() as view:
            yield InstrumentedStore(
                view,
                self._observe,
                self._observe_blobs,
                breaker=self._breaker,
                blob_breaker=self._blob_breaker,
            )

    def unit_of_work(self) -> Any:
        """The inner store's unit of work (not timed: its body is, call by call)."""
        return self._inner.unit_of_work()

    def close(self) -> None:
        """Close the inner store."""
        self._inner.close()

    def __enter__(self) -> InstrumentedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
