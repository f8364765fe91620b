"""Redaction and flattening of settings for display: secrets never leave as plain text."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import SecretStr

__all__ = [
    "REDACTED",
    "SECRET_KEY_PARTS",
    "is_secret_key",
    "iter_leaves",
    "redact",
    "redact_url",
    "short_repr",
]

REDACTED = "**********"
# A key whose name contains any of these is treated as a secret wherever it
# appears (config files, env, error messages), typed SecretStr or not.
SECRET_KEY_PARTS = ("api_key", "apikey", "token", "secret", "password", "passwd")


def is_secret_key(name: str) -> bool:
    """Whether a key with this name holds a secret (``api_key``, ``*token*``, ...)."""
    lowered = name.lower()
    return any(part in lowered for part in SECRET_KEY_PARTS)


# The password of a URL's user information: scheme://user:PASSWORD@host (user may be empty).
_URL_PASSWORD = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:\s]*:)([^/?#@\s]+)(@)")


def redact_url(text: str) -> str:
    """``text`` with the password of every URL's user information in it replaced by ``REDACTED``."""
    if "://" not in text:
        return text
    return _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)


def redact(value: Any, key: str = "") -> Any:
    """``value`` as plain data with every secret replaced by ``REDACTED``.

    A secret is a ``SecretStr``, any non-null value under a secret-named key,
    or the password in a URL (``postgresql://user:PASSWORD@host``, a store or
    Redis URL); unset (``None``) secrets stay ``None`` because they reveal nothing.
    """
    if value is None:
        return None
    if isinstance(value, SecretStr) or (key and is_secret_key(key)):
        return REDACTED
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def iter_leaves(
    data: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield ``(path, value)`` for every leaf of nested mappings, in insertion order.

    Lists are leaves; an empty mapping is a leaf too, so it is still listed.
    """
    for key, value in data.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from iter_leaves(value, path)
        else:
            yield path, value


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
