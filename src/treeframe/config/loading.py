"""Build the effective settings from defaults, config files, the environment and CLI flags.

The only module of the core that reads configuration files and ``os.environ``.
Layers, later overriding earlier key by key (nested tables are merged, so the
user file can define one agent and the workspace file another):

1. defaults (``treeframe.config.settings``);
2. the user file ``$XDG_CONFIG_HOME/treeframe/config.toml`` (default
   ``~/.config/treeframe/config.toml``; ``TREEFRAME_CONFIG`` names another file);
3. the workspace file ``<workspace>/.treeframe/config.toml``;
4. environment variables ``TREEFRAME_<SECTION>__<KEY>`` (plus the aliases
   ``TREEFRAME_STORE``, ``TREEFRAME_BLOBS``, ``TREEFRAME_COMPRESSION``,
   ``TREEFRAME_BLOB_INLINE_MAX`` and ``TREEFRAME_WORKSPACE``);
5. CLI flags.

Each effective leaf key remembers which layer set it (``LoadedSettings.sources``).
Every failure is a one-line ``ConfigError`` naming the key, the (redacted)
value and its source.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from treeframe.config.display import REDACTED, is_secret_key, iter_leaves, redact, short_repr
from treeframe.config.settings import (
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    ProviderSettings,
    Settings,
    known_keys,
)
from treeframe.errors import ConfigError, os_error_reason

__all__ = [
    "CONFIG_ENV",
    "DEFAULT",
    "ENV_ALIASES",
    "ENV_IGNORED",
    "LoadedSettings",
    "load_settings",
    "provider_api_key",
    "user_config_path",
    "workspace_config_path",
]

DEFAULT = "default"
CONFIG_ENV = "TREEFRAME_CONFIG"
CONFIG_FILE = "config.toml"
# Variables the CLI already reads for its own options; they name a setting.
ENV_ALIASES: Mapping[str, tuple[str, ...]] = {
    "TREEFRAME_STORE": ("store", "url"),
    "TREEFRAME_BLOBS": ("store", "blobs"),
    "TREEFRAME_COMPRESSION": ("store", "compression"),
    "TREEFRAME_BLOB_INLINE_MAX": ("store", "blob_inline_max"),
    "TREEFRAME_WORKSPACE": ("workspace",),
}
# Variables that are not settings at all (the CLI's remote mode reads the last two).
ENV_IGNORED = frozenset({"TREEFRAME_DEBUG", CONFIG_ENV, "TREEFRAME_SERVER", "TREEFRAME_TOKEN"})

KeyPath = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    """The effective settings plus where each leaf value came from.

    ``sources`` maps every dotted leaf key (``view.hard_max_frames``,
    ``agents.summarizer.role``) to ``default``, ``user:<path>``,
    ``workspace:<path>``, ``env:<VARIABLE>`` or ``cli:<--flag>``, in the
    order the settings declare them. ``files`` lists the config files read.
    """

    settings: Settings
    sources: dict[str, str]
    files: tuple[Path, ...] = ()

    def redacted(self) -> dict[str, Any]:
        """The effective settings as nested plain data, secrets replaced."""
        result: dict[str, Any] = redact(self.settings.model_dump(mode="python"))
        return result

    def rows(self) -> list[tuple[str, Any, str]]:
        """``(dotted key, redacted value, source)`` for every leaf key."""
        values = {".".join(path): value for path, value in iter_leaves(self.redacted())}
        return [(key, values[key], source) for key, source in self.sources.items()]


def user_config_path(env: Mapping[str, str]) -> tuple[Path, bool]:
    """The user config file and whether it must exist (it must when ``TREEFRAME_CONFIG`` names it)."""
    explicit = env.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser(), True
    xdg = env.get("XDG_CONFIG_HOME")
    if xdg and Path(xdg).is_absolute():
        base = Path(xdg)
    else:
        home = Path(env["HOME"]) if env.get("HOME") else Path.home()
        base = home / ".config"
    return base / "treeframe" / CONFIG_FILE, False


def workspace_config_path(workspace_root: Path) -> Path:
    """The workspace's config file, ``<root>/.treeframe/config.toml``."""
    return workspace_root / ".treeframe" / CONFIG_FILE


def load_settings(
    workspace_root: Path | None,
    *,
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    user_config: Path | None = None,
    cli_flags: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Merge every configuration layer and validate the result.

    Args:
        workspace_root: directory holding ``.treeframe/``; ``None`` outside a
            workspace (then only the user file, env and CLI apply).
        cli: dotted key -> value from command-line flags; ``None`` values are
            flags that were not given and are skipped.
        env: the environment to read (default ``os.environ``).
        user_config: the user config file (default: ``TREEFRAME_CONFIG``, else
            the XDG location); a missing default file is simply skipped.
        cli_flags: dotted key -> the flag that set it, for ``sources``
            (default ``--`` plus the key with ``.``/``_`` turned into ``-``).

    Raises:
        ConfigError: a file is unreadable or not TOML, a key is unknown, or a
            value is invalid; the message names the key, value and source.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    merged = _Merged()
    files: list[Path] = []

    if user_config is not None:
        user_path, required = user_config, False
    else:
        user_path, required = user_config_path(environ)
    user_path = user_path.absolute()
    user_data = _read_toml(user_path, f"user:{user_path}", required=required)
    if user_data is not None:
        files.append(user_path)
        merged.apply_tree(user_data, f"user:{user_path}")

    if workspace_root is not None:
        ws_path = workspace_config_path(workspace_root).absolute()
        ws_data = _read_toml(ws_path, f"workspace:{ws_path}", required=False)
        if ws_data is not None:
            files.append(ws_path)
            merged.apply_tree(ws_data, f"workspace:{ws_path}")

    for name, path, value in _env_assignments(environ):
        merged.apply(path, value, f"env:{name}")

    flags = cli_flags or {}
    for dotted, value in (cli or {}).items():
        if value is None:
            continue
        flag = flags.get(dotted) or "--" + dotted.replace(".", "-").replace("_", "-")
        merged.apply(tuple(dotted.split(".")), value, f"cli:{flag}")

    try:
        settings = Settings.model_validate(merged.data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, merged.sources)) from None

    sources = {
        ".".join(path): merged.sources.get(path, DEFAULT)
        for path, _ in iter_leaves(settings.model_dump(mode="python"))
    }
    return LoadedSettings(settings=settings, sources=sources, files=tuple(files))


def provider_api_key(
    name: str, provider: ProviderSettings, env: Mapping[str, str] | None = None
) -> str | None:
    """The API key of ``providers.<name>``, or ``None`` when it has none (local servers).

    ``api_key`` wins, then the variable ``key_env`` names (read from ``env``,
    default ``os.environ``), then the content of ``key_file``, stripped. Read
    when the provider is built, not at load time, so the key itself never
    enters the loaded settings that ``config show`` prints.

    Raises:
        ConfigError: ``key_env`` names a variable that is unset or empty, or
            ``key_file`` cannot be read or is empty; the message names the
            variable or file, never a value.
    """
    if provider.api_key is not None and provider.api_key.get_secret_value():
        return provider.api_key.get_secret_value()
    if provider.key_env:
        environ: Mapping[str, str] = os.environ if env is None else env
        value = environ.get(provider.key_env, "").strip()
        if not value:
            raise ConfigError(
                f"providers.{name}.key_env names {provider.key_env}, which is not set (or is empty)"
            )
        return value
    if provider.key_file:
        path = Path(provider.key_file).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read providers.{name}.key_file {path}: {os_error_reason(exc)}"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(f"providers.{name}.key_file {path} is not UTF-8 text") from None
        if not value:
            raise ConfigError(f"providers.{name}.key_file {path} is empty")
        return value
    return None


class _Merged:
    """Nested raw values plus the source of every leaf set so far."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sources: dict[KeyPath, str] = {}

    def apply_tree(self, tree: Mapping[str, Any], source: str) -> None:
        for path, value in iter_leaves(tree):
            self.apply(path, value, source)

    def apply(self, path: KeyPath, value: Any, source: str) -> None:
        """Set ``path`` to ``value``; a mapping value is merged leaf by leaf."""
        if isinstance(value, Mapping) and value:
            for sub, leaf in iter_leaves(value):
                self.apply((*path, *sub), leaf, source)
            return
        node = self.data
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
                self._forget(path[: depth + 1])
            node = child
        last = path[-1]
        if isinstance(value, Mapping):  # an empty table: the key exists, nothing to merge
            if not isinstance(node.get(last), dict):
                node[last] = {}
                self._forget(path)
                self.sources[path] = source  # so "agents.x.role: Field required" names it
            return
        node[last] = value
        self._forget(path)
        self.sources[path] = source

    def _forget(self, path: KeyPath) -> None:
        """Drop the sources of ``path`` and everything under it (it was replaced)."""
        n = len(path)
        for known in [p for p in self.sources if p[:n] == path]:
            del self.sources[known]


def _read_toml(path: Path, source: str, *, required: bool) -> dict[str, Any] | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file not found: {path} (from env:{CONFIG_ENV})") from None
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read config file (from {source}): {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"invalid config file (from {source}): not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML (from {source}): {exc}") from None


def _env_assignments(environ: Mapping[str, str]) -> list[tuple[str, KeyPath, Any]]:
    """``(variable, path, value)`` for every ``TREEFRAME_*`` setting, in the order to apply.

    Aliases first, then shallow before deep (so ``TREEFRAME_VIEW='{...}'`` can be
    refined by ``TREEFRAME_VIEW__HARD_MAX_FRAMES``), then by name.
    """
    aliases: list[tuple[str, KeyPath, Any]] = []
    nested: list[tuple[int, str, KeyPath, Any]] = []
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_IGNORED:
            continue
        if name in ENV_ALIASES:
            if raw:  # like click, an empty variable means "not set"
                aliases.append((name, ENV_ALIASES[name], raw))
            continue
        parts = name[len(ENV_PREFIX) :].split(ENV_NESTED_DELIMITER)
        if not all(parts):
            raise ConfigError(
                f"invalid config variable {name} (from env:{name}): empty key between "
                f"{ENV_NESTED_DELIMITER!r} separators"
            )
        nested.append((len(parts), name, tuple(p.lower() for p in parts), _env_value(raw)))
    nested.sort(key=lambda item: (item[0], item[1]))
    return sorted(aliases) + [(name, path, value) for _, name, path, value in nested]


def _env_value(raw: str) -> Any:
    """JSON objects, arrays, strings and ``null`` are decoded; everything else stays text.

    Numbers and booleans stay text because the typed fields convert ``"5"`` and
    ``"true"`` themselves, while a string field keeps ``"007"`` exactly as written.
    """
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if value is None or isinstance(value, dict | list | str):
        return value
    return raw


def _describe(exc: ValidationError, sources: Mapping[KeyPath, str]) -> str:
    """One line for the first validation error (and how many more there are)."""
    errors = exc.errors(include_url=False)
    # A value someone wrote is a better first report than a key someone left out.
    first = min(errors, key=lambda error: error["type"] == "missing")
    path: KeyPath = tuple(str(part) for part in first["loc"])
    is_dict_key = bool(path) and path[-1] == "[key]"
    if is_dict_key:
        path = path[:-1]
    key = ".".join(path) or "<root>"
    kind = first["type"]
    source = _source_of(path[:-1] if kind == "missing" else path, sources)

    message = _message(first, path)
    other = (first.get("ctx") or {}).get("other")
    if isinstance(other, str):
        message += f" (from {_source_of(tuple(other.split('.')), sources)})"

    value = ""
    if kind != "missing":
        shown = path[-1] if is_dict_key else first["input"]
        secret = any(is_secret_key(part) for part in path)
        shown = REDACTED if secret and shown is not None else redact(shown)
        value = f" = {short_repr(shown)}"
    line = f"invalid config {key}{value} (from {source}): {message}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return line


def _message(error: ErrorDetails, path: KeyPath) -> str:
    if error["type"] == "extra_forbidden":
        known = known_keys(path[:-1])
        hint = difflib.get_close_matches(path[-1], known, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        listing = f" (known keys: {', '.join(known)})" if known else ""
        return f"unknown key{suggestion}{listing}"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _source_of(path: KeyPath, sources: Mapping[KeyPath, str]) -> str:
    """Where the value at ``path`` (or the values under it) came from."""
    if path in sources:
        return sources[path]
    n = len(path)
    found = list(dict.fromkeys(src for p, src in sources.items() if p[:n] == path and n))
    return ", ".join(found) if found else DEFAULT
