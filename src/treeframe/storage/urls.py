"""Store URL spelling shared by the registry and the backends (no backend imports).

A backend names itself by URL (``store.url``) and the registry parses URLs;
keeping the encoding here lets both import it without a backend reaching up
into the registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from treeframe.errors import ConfigError

__all__ = ["PostgresTarget", "lmdb_url", "postgres_target", "sqlite_url", "whole_option"]

# Characters left as they are in a URL path; everything else is %XX-encoded.
_PATH_SAFE = "/:@+=,!$&'()*;~"


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The ``sqlite://`` URL of a store file (its absolute path, percent-encoded)."""
    raw = os.fsencode(os.path.abspath(os.fspath(path)))
    return f"sqlite://{quote(raw, safe=_PATH_SAFE)}"


def lmdb_url(path: str | os.PathLike[str]) -> str:
    """The ``lmdb://`` URL of a store directory (its absolute path, percent-encoded)."""
    raw = os.fsencode(os.path.abspath(os.fspath(path)))
    return f"lmdb://{quote(raw, safe=_PATH_SAFE)}"


@dataclass(frozen=True)
class PostgresTarget:
    """A parsed ``postgresql://`` store URL: what to connect to and the pool options."""

    conninfo: str
    """The libpq URL to connect with (credentials kept, treeframe options removed)."""
    url: str
    """The URL shown as ``store.url``: no password."""
    pool_min: int = 1
    pool_max: int = 10
    pool_timeout: float = 5.0
    connect_timeout: int = 5
    prepare_threshold: int | None = 5


_PG_OPTIONS = ("pool_min", "pool_max", "pool_timeout", "connect_timeout", "prepare_threshold")
_PG_PASSTHROUGH = ("sslmode",)  # libpq options handed on as they are


def whole_option(url: str, name: str, text: str, least: int) -> int:
    """A store URL's integer option, at least ``least``; ConfigError otherwise.

    ASCII digits only: ``str.isdigit`` alone accepts ``"²"``, which ``int``
    then refuses with a traceback instead of a one-line error.
    """
    if not (text.isascii() and text.isdigit()) or int(text) < least:
        raise ConfigError(f"{name} must be a whole number >= {least}, got {text!r} in {url!r}")
    return int(text)


def postgres_target(url: str) -> PostgresTarget:
    """Parse ``postgresql://user[:password]@host[:port]/db?options`` strictly (ConfigError).

    Options: ``pool_min`` / ``pool_max`` (connections kept / at most),
    ``pool_timeout`` (seconds a call waits for a free connection),
    ``connect_timeout`` (whole seconds to reach the server),
    ``prepare_threshold`` (executions before psycopg prepares a statement on
    the server; ``none`` never prepares, for transaction-pooling proxies) and
    ``sslmode``. Any other option is refused.
    """
    parts = urlsplit(url)
    shown = _without_password(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"store URL {shown!r} is not a postgresql:// URL")
    if parts.fragment or "#" in url:
        raise ConfigError(f"store URL {shown!r} has a '#' fragment")
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database or "/" in database:
        raise ConfigError(f"store URL {shown!r} needs a host and a database: postgresql://host/db")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(f"store URL {shown!r} has a bad port: {exc}") from exc
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    options: dict[str, str] = {}
    for name, value in pairs:
        if name in options:
            raise ConfigError(f"store option {name!r} given twice in {shown!r}")
        options[name] = value
    unknown = sorted(set(options) - set(_PG_OPTIONS) - set(_PG_PASSTHROUGH))
    if unknown:
        raise ConfigError(
            f"unknown store option(s) {unknown} in {shown!r}"
            f" (known: {', '.join(_PG_OPTIONS + _PG_PASSTHROUGH)})"
        )
    pool_min = whole_option(shown, "pool_min", options.get("pool_min", "1"), 0)
    pool_max = whole_option(shown, "pool_max", options.get("pool_max", "10"), 1)
    if pool_min > pool_max:
        raise ConfigError(f"pool_min {pool_min} exceeds pool_max {pool_max} in {shown!r}")
    raw_timeout = options.get("pool_timeout", "5")
    try:
        pool_timeout = float(raw_timeout)
    except ValueError:
        pool_timeout = -1.0
    if not (pool_timeout > 0 and pool_timeout < 86400):
        raise ConfigError(
            f"pool_timeout must be positive seconds, got {raw_timeout!r} in {shown!r}"
        )
    connect_timeout = whole_option(shown, "connect_timeout", options.get("connect_timeout", "5"), 1)
    raw_prepare = options.get("prepare_threshold", "5")
    prepare = (
        None if raw_prepare == "none" else whole_option(shown, "prepare_threshold", raw_prepare, 0)
    )
    passthrough = urlencode([(k, v) for k, v in pairs if k in _PG_PASSTHROUGH])
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, passthrough, ""))
    return PostgresTarget(
        conninfo,
        shown,
        pool_min,
        pool_max,
        pool_timeout,
        connect_timeout,
        prepare,
    )


def _without_password(url: str) -> str:
    """``url`` with any password in its user part replaced by nothing."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    user, at, host = authority.rpartition("@")
    if at and ":" in user:
        user = user.split(":", 1)[0]
    return f"{scheme}://{user}{at}{host}{slash}{tail}"
