"""The one log pipeline (structlog over the standard library), for the server and the CLI alike.

:func:`configure_logging` is called once per process by an edge: ``serve``
(JSON lines by default, one per request plus one per engine event) and the
CLI's ``-v/--verbose`` (readable lines on a terminal). Everything goes
through the standard library's root logger with one
:class:`structlog.stdlib.ProcessorFormatter`, so uvicorn's own messages, the
``logging.getLogger("treeframe.…")`` loggers of the core and structlog's
event lines come out in one format and one stream.

Every line carries ``request_id`` while a request is served (from
:data:`~treeframe.observability.context.REQUEST_ID`), so a request's access
line, its engine events and its audit entries share one key.

What never reaches a log: tokens, secrets and frame contents. The core never
passes them (events carry IDs and counts), and :func:`redact` is the last
guard before rendering: a field whose name says secret (``token``,
``authorization``, ``password``, ``secret``, ``api_key``, ``content``, …) is
replaced, and any ``tft_…`` bearer token inside a string value is masked.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import io
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal, TextIO, cast

import structlog
from pydantic import SecretStr

from treeframe.config.display import REDACTED, is_secret_key, redact_url
from treeframe.observability import events
from treeframe.observability.context import REQUEST_ID

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "REDACTED",
    "configure_logging",
    "flush_logs",
    "get_logger",
    "info_line",
    "logging_configured",
    "redact",
]

LogFormat = Literal["auto", "json", "console"]
LOG_FORMATS: tuple[str, ...] = ("auto", "json", "console")
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error")

# Beyond the settings' secret names (config.display): what else must never be logged.
_NEVER_LOGGED = ("authorization", "cookie", "content", "private_key", "key_pem")
_ALLOWED_KEYS = frozenset({"token_id", "content_hash", "content_type", "content_bytes"})
_BEARER = re.compile(r"tft_[0-9a-f]{16}_[A-Za-z0-9_-]+")
_HANDLER_NAME = "treeframe"
_ENGINE = "treeframe.engine"


def get_logger(name: str) -> Any:
    """A structlog logger whose lines say ``"logger": name`` (bound to the pipeline when configured)."""
    return structlog.get_logger(name)


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's direct writer, carrying the name ``add_logger_name`` reads."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _NamedWriteLoggerFactory:
    def __init__(self, file: TextIO) -> None:
        self.file = file

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(self.file, str(args[0]) if args else "")


@functools.lru_cache(maxsize=4096)
def _secret(key: str) -> bool:
    """Field names repeat from line to line: decided once per name."""
    if key in _ALLOWED_KEYS:
        return False
    lowered = key.lower()
    return is_secret_key(lowered) or any(part in lowered for part in _NEVER_LOGGED)


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """Replace secret-named fields (at any depth) and mask bearer tokens in text (a structlog processor)."""
    for key, value in event_dict.items():
        if _secret(key) or isinstance(value, SecretStr):
            event_dict[key] = REDACTED
        elif value.__class__ is str:
            if "tft_" in value or "://" in value:
                event_dict[key] = _masked(value)
        elif key != "exc_info" and isinstance(value, Mapping | list | tuple | str):
            event_dict[key] = _redacted(value)  # exc_info is rendered (and masked) later
    return event_dict


def _masked(text: str) -> str:
    """``text`` with bearer tokens and URL passwords masked."""
    if "tft_" in text:
        text = _BEARER.sub("tft_" + REDACTED, text)
    return redact_url(text)


def _redacted(value: Any) -> Any:
    """``value`` with secret-named keys replaced and tokens masked, however deeply nested."""
    if isinstance(value, str):
        return _masked(value)
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _secret(k) else _redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


class _MaskedRenderer:
    """The renderer, then every bearer token masked in the finished line.

    Runs after the exception was turned into text (a traceback, an
    exception's message), which no field-level processor ever sees.
    """

    def __init__(self, renderer: Any) -> None:
        self.renderer = renderer

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        line = str(self.renderer(logger, method, event_dict))
        return _BEARER.sub("tft_" + REDACTED, line) if "tft_" in line else line


def _add_request_id(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


class _CurrentStderr(io.TextIOBase):
    """``sys.stderr`` as it is at each write, not as it was when logging was set up.

    A CLI command run in-process (tests, embedding programs) redirects
    ``sys.stderr`` for the call; a handler that kept the stream it saw would
    write to a closed buffer ever after.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    level: str = "info", fmt: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Send every log line of this process to ``stream`` (stderr) at ``level`` and above.

    ``fmt`` ``auto`` is ``console`` on a terminal and ``json`` (one object per
    line, keys ``timestamp``, ``level``, ``logger``, ``event`` and the
    event's fields) elsewhere. Calling it again replaces the earlier set-up.

    Two paths, one format: structlog's own lines (the request line, engine
    events) are rendered and written directly, without a standard-library
    ``LogRecord`` (half the cost per line); records of standard-library
    loggers (uvicorn, ``logging.getLogger`` in the core) pass through one
    root handler whose formatter runs the same processors.
    """
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    out = stream if stream is not None else cast("TextIO", _CurrentStderr())
    if fmt == "auto":
        fmt = "console" if _isatty(out) else "json"
    shared: list[Any] = [
        structlog.processors.add_log_level,
        _add_request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(out))
    renderer = _MaskedRenderer(renderer)
    numeric = getattr(logging, level.upper())
    global _level
    _level = numeric
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the edge writes the request line
    writer = _Writer(out, [*shared[3:], renderer])  # redaction onwards, off the caller
    global _writer
    previous, _writer = _writer, writer
    structlog.configure(
        processors=[
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            _add_request_id,
            writer.enqueue,
        ],
        logger_factory=_NamedWriteLoggerFactory(out),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Not cached: a later configure_logging (tests, a CLI run in-process) must take effect
        # for loggers made at import time too; resolving costs a few microseconds a line.
        cache_logger_on_first_use=False,
    )
    if previous is not None:  # after the switch: nothing is queued to it any more
        previous.close()
    if numeric <= logging.INFO:
        events.subscribe(_log_event)
    else:
        events.unsubscribe(_log_event)


_ENGINE_LOG = get_logger(_ENGINE)
WRITE_INTERVAL = 0.05
"""Seconds between the writer's rounds (lines reach the stream at most this late)."""
MAX_QUEUED_LINES = 100_000
"""Lines waiting for the writer thread beyond which new ones are dropped (and counted)."""
_writer: _Writer | None = None


def logging_configured() -> bool:
    """True once :func:`configure_logging` ran in this process (structlog's default would print)."""
    return _writer is not None


def flush_logs(timeout: float = 5.0) -> None:
    """Wait until every line logged so far is written (before a process ends, and in tests)."""
    if _writer is not None:
        _writer.flush(timeout)


class _Writer:
    """Renders and writes structlog's lines on its own thread, in the order they were logged.

    The caller's share of a line is building its fields, the request ID and a
    ``time.time()``; the timestamp's text, redaction, JSON rendering and the
    write (~30 µs a line) happen here, in batches. ``flush`` waits for the queue to drain;
    the server calls it when it stops, ``configure_logging`` when it replaces
    a writer, and ``atexit`` at the end of any process.
    """

    def __init__(self, out: TextIO, processors: list[Any]) -> None:
        self.out = out
        self.processors = processors
        self.queue: queue.SimpleQueue[tuple[str, dict[str, Any]] | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self.dropped = 0
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name="treeframe-log", daemon=True)
        self.thread.start()

    def enqueue(self, _logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        """The last processor on the caller's side: hand the line over, write nothing here.

        A stream that stopped taking lines (a full pipe nobody reads) must not
        grow the queue without bound: past :data:`MAX_QUEUED_LINES` lines are
        dropped and counted, and the next line written says how many.
        """
        if event_dict.get("exc_info") is True:  # only this thread knows which exception
            event_dict["exc_info"] = sys.exc_info()
        self.put(method, dict(event_dict))
        raise structlog.DropEvent

    def put(self, method: str, event_dict: dict[str, Any]) -> None:
        """Queue one line (``event_dict`` becomes the writer's); dropped past the bound."""
        if self.queue.qsize() >= MAX_QUEUED_LINES:
            with self.lock:
                self.dropped += 1
            return
        event_dict["_ts"] = time.time()
        self.queue.put((method, event_dict))

    def _run(self) -> None:
        """Every :data:`WRITE_INTERVAL` (or at once when flushed), render what is queued, write it.

        Waking per line would hand the interpreter lock back and forth with
        the thread serving requests several times a request (each handoff a
        thread switch); a batch every 50 ms costs one.
        """
        while True:
            self.wake.wait(WRITE_INTERVAL)
            self.wake.clear()
            batch: list[Any] = []
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                continue
            rendered: list[str] = []
            for item in batch:
                if item is None or isinstance(item, threading.Event):
                    self._write(rendered)
                    rendered = []
                    if item is None:
                        return
                    item.set()
                    continue
                method, event_dict = item
                if self.dropped:
                    with self.lock:
                        dropped, self.dropped = self.dropped, 0
                    event_dict["log_lines_dropped"] = dropped
                try:
                    rendered.append(self._render(method, event_dict))
                except Exception:  # a line that cannot be rendered must not stop the writer
                    continue
            self._write(rendered)

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()
        except Exception:  # a stream that fails must not stop the writer
            pass

    def _render(self, method: str, event_dict: dict[str, Any]) -> str:
        stamp = event_dict.pop("_ts")
        event_dict["timestamp"] = (
            datetime.datetime.fromtimestamp(stamp, datetime.UTC).isoformat().replace("+00:00", "Z")
        )
        value: Any = event_dict
        for processor in self.processors:
            value = processor(None, method, value)
        return str(value)

    def flush(self, timeout: float) -> None:
        if not self.thread.is_alive():
            return
        done = threading.Event()
        self.queue.put(done)
        self.wake.set()
        done.wait(timeout)

    def close(self) -> None:
        self.flush(5.0)
        self.queue.put(None)
        self.wake.set()


atexit.register(flush_logs)


def _log_event(event: str, fields: Mapping[str, Any]) -> None:
    """Every engine event as one info line of the ``treeframe.engine`` logger."""
    info_line(_ENGINE, event, fields)


_INFO = logging.INFO
_level = logging.WARNING


def info_line(logger: str, event: str, fields: Mapping[str, Any]) -> None:
    """One info line, handed straight to the writer: the hot paths' way (request lines, events).

    The same line ``get_logger(logger).info(event, **fields)`` writes, for a
    few microseconds instead of structlog's per-call assembly: the fields are
    copied, the request ID and time added, and the writer renders the rest.
    """
    writer = _writer
    if writer is None or _level > _INFO:
        return
    line = dict(fields)
    line["event"] = event
    line["logger"] = logger
    line["level"] = "info"
    if "request_id" not in line:
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
    writer.put("info", line)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
