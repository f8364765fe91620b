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

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal, TextIO

import structlog
from pydantic import SecretStr

from treeframe.config.display import REDACTED, is_secret_key
from treeframe.observability import events
from treeframe.observability.context import REQUEST_ID

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "REDACTED", "configure_logging", "get_logger", "redact"]

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
    """A structlog logger named ``name`` (bound to the pipeline once it is configured)."""
    return structlog.get_logger(name)


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """Replace secret-named fields and mask bearer tokens in string values (a structlog processor)."""
    for key, value in list(event_dict.items()):
        if isinstance(value, SecretStr) or (key not in _ALLOWED_KEYS and _secret(key)):
            event_dict[key] = REDACTED
        elif isinstance(value, str) and "tft_" in value:
            event_dict[key] = _BEARER.sub("tft_" + REDACTED, value)
    return event_dict


def _secret(key: str) -> bool:
    lowered = key.lower()
    return is_secret_key(lowered) or any(part in lowered for part in _NEVER_LOGGED)


def _add_request_id(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def configure_logging(
    level: str = "info", fmt: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Send every log line of this process to ``stream`` (stderr) at ``level`` and above.

    ``fmt`` ``auto`` is ``console`` on a terminal and ``json`` (one object per
    line, keys ``timestamp``, ``level``, ``logger``, ``event`` and the
    event's fields) elsewhere. Calling it again replaces the earlier set-up.
    """
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    out = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "console" if _isatty(out) else "json"
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
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
    numeric = getattr(logging, level.upper())
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
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
    for noisy in ("uvicorn", "uvicorn.error"):
        logging.getLogger(noisy).handlers.clear()
        logging.getLogger(noisy).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the edge writes the request line
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared[:-1],
            structlog.stdlib.PositionalArgumentsFormatter(),
            redact,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    if numeric <= logging.INFO:
        events.subscribe(_log_event)
    else:
        events.unsubscribe(_log_event)


def _log_event(event: str, fields: Mapping[str, Any]) -> None:
    """Every engine event as one info line of the ``treeframe.engine`` logger."""
    structlog.get_logger(_ENGINE).info(event, **fields)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
