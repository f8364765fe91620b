"""The typed settings model: every configurable key, its type, default and description.

This module only declares data and validates it; it never reads files or the
environment (``treeframe.config.loading`` does). ``Settings()`` is the pure
defaults; ``Settings.model_validate(mapping)`` validates a merged mapping.
Unknown keys are rejected everywhere so that a typo is an error, not a
silently ignored line.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from treeframe.errors import InvalidFrame
from treeframe.frames.frame import DEFAULT_MAX_CONTENT_BYTES, validate_label
from treeframe.storage.catalog import DEFAULT_INLINE_MAX

__all__ = [
    "ENV_NESTED_DELIMITER",
    "ENV_PREFIX",
    "AgentSettings",
    "CacheSettings",
    "GenerateSettings",
    "LimitSettings",
    "LogSettings",
    "MetricsSettings",
    "PromptSettings",
    "ProviderSettings",
    "RedisSettings",
    "ScanSettings",
    "ServerSettings",
    "SettingDoc",
    "Settings",
    "StoreSettings",
    "SynthesisSettings",
    "TracingSettings",
    "ViewSettings",
    "known_keys",
    "setting_docs",
]

ENV_PREFIX = "TREEFRAME_"
ENV_NESTED_DELIMITER = "__"

# The defaults of frames.views (an upper layer, so not imported from there).
_DEFAULT_MAX_FRAMES = 20
_HARD_MAX_FRAMES = 1000
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class _Section(BaseModel):
    """Base of every settings section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    """Where the workspace's records live."""

    url: str | None = Field(
        default=None,
        description=(
            "Store URL (e.g. `sqlite:///path/store.db`, `memory://`); "
            "unset means SQLite in `<workspace>/.treeframe/store.db`."
        ),
    )
    busy_timeout_ms: int = Field(
        default=5000,
        ge=0,
        description="How long a writer waits for a locked store before failing with `store_locked`.",
    )
    blobs: str | None = Field(
        default=None,
        description=(
            "External blob store URL for large frame contents (`file:///abs/dir`, "
            "`s3://bucket/prefix?endpoint_url=…&region=…`, each may add `&codec=`); "
            "unset keeps every content in the store. Env: `TREEFRAME_BLOBS`."
        ),
    )
    compression: Literal["none", "zstd", "gzip", "lz4", "brotli"] = Field(
        default="none",
        description=(
            "Codec new contents are stored with (each blob records its own, so changing it "
            "never makes old ones unreadable). Env: `TREEFRAME_COMPRESSION`."
        ),
    )
    blob_inline_max: int = Field(
        default=DEFAULT_INLINE_MAX,
        ge=0,
        description=(
            "Largest content (bytes, uncompressed) kept in the store when `store.blobs` is set; "
            "larger ones go to the blob store. Env: `TREEFRAME_BLOB_INLINE_MAX`."
        ),
    )


class ScanSettings(_Section):
    """How scans hash files."""

    workers: int | None = Field(
        default=None,
        ge=1,
        description="Hashing processes for a scan; unset means the CPU count.",
    )


class ViewSettings(_Section):
    """Defaults and bounds of context views."""

    # Declared before default_max_frames so its validator can compare against it.
    hard_max_frames: int = Field(
        default=_HARD_MAX_FRAMES,
        ge=1,
        description="Upper bound on the frames any single view may return.",
    )
    default_max_frames: int = Field(
        default=_DEFAULT_MAX_FRAMES,
        ge=1,
        description="Frames a view returns when the caller gives no maximum; at most `view.hard_max_frames`.",
    )
    default_ordering: Literal["recency", "type", "agent"] = Field(
        default="recency",
        description="View ordering when the caller names none: `recency`, `type` or `agent`.",
    )

    @field_validator("default_max_frames")
    @classmethod
    def _within_hard_cap(cls, value: int, info: ValidationInfo) -> int:
        hard = info.data.get("hard_max_frames")
        if hard is not None and value > hard:
            raise PydanticCustomError(
                "above_hard_cap",
                "must be at most {other} = {other_value}",
                {"other": "view.hard_max_frames", "other_value": hard},
            )
        return value


class SynthesisSettings(_Section):
    """Defaults of bottom-up branch synthesis."""

    default_policy: str = Field(
        default="concat",
        min_length=1,
        description="Synthesis policy used when none is named (`concat`, `summary`, `filter` or a plugin).",
    )
    missing: Literal["skip", "fail"] = Field(
        default="skip",
        description="What synthesis does when a child has no frame of the wanted type: `skip` it or `fail`.",
    )
    summary_max_bytes: int = Field(
        default=4096,
        ge=1,
        description="Default `max_bytes` of the `summary` policy when a request gives none.",
    )
    max_children: int = Field(
        default=10000,
        ge=1,
        description="Most children one synthesis step reads; larger directories fail with `synthesis_failed`.",
    )


class LimitSettings(_Section):
    """Hard limits that protect the store and its callers."""

    max_frame_bytes: int = Field(
        default=DEFAULT_MAX_CONTENT_BYTES,
        ge=1,
        description="Largest frame content accepted, in bytes (default 16 MiB).",
    )
    max_batch: int = Field(
        default=1000,
        ge=1,
        description="Most items in one batch request.",
    )
    path_history: int = Field(
        default=16,
        ge=0,
        description="How many earlier NodeIDs of a path regeneration looks through for previous heads.",
    )


class ServerSettings(_Section):
    """Limits of the REST server (``treeframe serve``)."""

    max_body_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1,
        description=(
            "Largest request body the server accepts, in bytes (default 32 MiB: room for a "
            "16 MiB frame as base64); larger bodies fail with `payload_too_large` before they are read whole."
        ),
    )
    max_import_bytes: int = Field(
        default=16 * 1024**3,
        ge=1,
        description=(
            "Largest snapshot archive `POST /v1/workspaces/import` accepts, in bytes (default 16 GiB); "
            "the body is spooled to a temporary file, never held in memory; larger ones fail with `payload_too_large`."
        ),
    )
    ready_timeout_ms: int = Field(
        default=2000,
        ge=1,
        description=(
            "How long `/v1/health/ready` waits for each of its checks (store, blobs, redis; "
            "run concurrently) before that check fails and the answer is 503."
        ),
    )
    verify_max_ms: int = Field(
        default=30000,
        ge=1,
        description=(
            "Longest `POST /v1/workspaces/{ws}/verify` runs, in milliseconds (default 30 s; also the "
            "default when the request names none); the report then says `complete: false`."
        ),
    )
    rate_limit: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Requests a second each agent may make (a token bucket per agent; 0: no limit). "
            "Shared by every worker and instance through Redis when `redis.url` is set."
        ),
    )
    rate_burst: int = Field(
        default=0,
        ge=0,
        description="Requests an agent may make at once, its bucket's size (0: `server.rate_limit`, at least 1).",
    )
    breaker_failures: int = Field(
        default=5,
        ge=0,
        description=(
            "Consecutive `backend_unavailable` failures of the store (or of the blob store) after "
            "which its circuit breaker opens and calls fail at once (0: no breaker)."
        ),
    )
    breaker_reset_ms: int = Field(
        default=5000,
        ge=1,
        description="How long an open breaker fails calls before one probe call may try again.",
    )
    jobs_dir: str | None = Field(
        default=None,
        description=(
            "Directory of the job records of requests run with `Prefer: respond-async`, shared by "
            "the server's workers (default: a temporary directory `serve` creates and removes)."
        ),
    )
    job_ttl_seconds: int = Field(
        default=3600,
        ge=1,
        description="How long a finished job's status stays readable at `/v1/jobs/{job_id}`.",
    )
    max_jobs: int = Field(
        default=1000,
        ge=1,
        description="Most finished jobs kept; past it the oldest are removed first.",
    )
    work_concurrency: int = Field(
        default=2,
        ge=1,
        description="Syntheses and regenerations each worker runs at once (the rest wait in its queue).",
    )
    work_queue: int = Field(
        default=32,
        ge=0,
        description=(
            "Syntheses and regenerations that may wait for a slot in each worker; one more is "
            "refused with `queue_full` (429) and `Retry-After`."
        ),
    )
    max_in_flight: int = Field(
        default=512,
        ge=0,
        description=(
            "Requests each worker serves at once; one more is refused with `server_busy` (503) "
            "and `Retry-After` (health and metrics never are; 0: no limit)."
        ),
    )
    ui: bool = Field(
        default=True,
        description="Serve the web explorer at `/ui` (static pages that call the public API with the user's token).",
    )


class LogSettings(_Section):
    """What the log pipeline writes (``serve``, and the CLI with ``-v``); see OPERATIONS.md."""

    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info",
        description="Lowest level written: `info` gives one line per request and per engine event.",
    )
    format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="`json` (one object per line), `console` (readable), or `auto`: console on a terminal, else JSON.",
    )
    requests: bool = Field(
        default=True,
        description="Write one line per HTTP request (method, route, status, duration, request ID, workspace, agent, error code).",
    )


class MetricsSettings(_Section):
    """Prometheus metrics at `GET /v1/metrics` (see OPERATIONS.md)."""

    enabled: bool = Field(
        default=True,
        description="Collect metrics and serve `/v1/metrics` (false: 404, no collection).",
    )
    token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token a scraper must send to `/v1/metrics`; unset: only clients on a "
            "loopback address may scrape (set one whenever a proxy on the same host fronts the server)."
        ),
    )
    refresh_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How often a written workspace's counts and stale-frame ratio are recounted (off the request path).",
    )
    max_workspace_series: int = Field(
        default=1000,
        ge=0,
        description="Most workspaces given their own series (node, frame, stale gauges); the rest count only in totals.",
    )
    stale_max_nodes: int = Field(
        default=1_000_000,
        ge=0,
        description="Workspaces with more current paths than this get no stale-frame ratio (its recount reads every head).",
    )
    multiprocess_dir: str | None = Field(
        default=None,
        description="Directory of prometheus-client's multiprocess files; `serve` sets it for its workers (leave unset).",
    )


class TracingSettings(_Section):
    """OpenTelemetry spans (the `otel` extra)."""

    enabled: bool = Field(
        default=False,
        description="Emit spans for request, engine and storage calls through OpenTelemetry's configured provider.",
    )


class RedisSettings(_Section):
    """The Redis server treeframe's servers share (readiness checks it; caches and rate limits will use it)."""

    url: str | None = Field(
        default=None,
        description=(
            "Redis URL (`redis://host:6379/0`, `rediss://…` for TLS, `unix:///path.sock`); unset means "
            "no Redis: nothing uses it and readiness does not check it. Needs the `redis` extra."
        ),
    )

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_REDIS_SCHEMES):
            raise PydanticCustomError(
                "redis_url",
                "must start with one of {schemes}",
                {"schemes": ", ".join(_REDIS_SCHEMES)},
            )
        return value


class CacheSettings(_Section):
    """Read-through caches of the server (see OPERATIONS.md, "Caches")."""

    url: str = Field(
        default="memory",
        description=(
            "`memory`: immutable records (nodes, frames, small contents) cached in each process; "
            "`redis://…` (or `rediss://`, `unix://`): also shared by every instance through that "
            "Redis, plus heads, roots and path look-ups under version stamps every writer updates; "
            "`off`: no cache. Needs the `redis` extra for Redis."
        ),
    )
    memory_mb: int = Field(
        default=64,
        ge=0,
        description="Bytes (MiB) of records each process keeps; 0 keeps none.",
    )
    heads: bool = Field(
        default=True,
        description=(
            "With a Redis `cache.url`, cache heads, frame sets, current roots, path look-ups and "
            "workspace metadata under the workspaces' version stamps. Turn off when something "
            "other than treeframe (with this `cache.url`) writes the store."
        ),
    )
    head_max_age_ms: int = Field(
        default=2000,
        ge=0,
        description=(
            "The oldest a cached head (or root, path) may be even under an unchanged stamp: the "
            "bound on staleness should a writer fail to reach Redis after a write."
        ),
    )
    ttl_seconds: int = Field(
        default=86400,
        ge=1,
        description="How long Redis keeps a cached record (it may also evict it sooner).",
    )
    namespace: str = Field(
        default="",
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]*$",
        description=(
            "Prefix of this deployment's keys in a Redis shared with other deployments; every "
            "instance (and CLI) of one deployment must use the same."
        ),
    )

    @field_validator("url")
    @classmethod
    def _cache_url(cls, value: str) -> str:
        if value not in ("memory", "off") and not value.startswith(_REDIS_SCHEMES):
            raise PydanticCustomError(
                "cache_url",
                "must be memory, off, or a Redis URL starting with one of {schemes}",
                {"schemes": ", ".join(_REDIS_SCHEMES)},
            )
        return value

    @property
    def redis_url(self) -> str | None:
        """The Redis URL when the cache is shared, else None."""
        return None if self.url in ("memory", "off") else self.url


class ProviderSettings(_Section):
    """One model provider (``providers.<name>``); agents name it with ``agents.<id>.provider``.

    The key itself is a secret: give it as ``api_key`` (best from the
    environment, ``TREEFRAME_PROVIDERS__<NAME>__API_KEY``), or name where it
    lives with ``key_env`` or ``key_file``, which the loader's
    ``provider_api_key`` reads when the provider is built. It is redacted
    wherever settings are shown or logged and never enters the store.
    """

    kind: Literal["offline", "openai", "anthropic"] = Field(
        description="Wire format: `openai` (chat completions: OpenAI, Ollama, LM Studio, vLLM), `anthropic` (messages), or `offline` (required).",
    )
    base_url: str | None = Field(
        default=None,
        description="API base URL (unset: `https://api.openai.com/v1` or `https://api.anthropic.com`); e.g. `http://127.0.0.1:11434/v1` for Ollama.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="The API key (prefer `key_env`/`key_file` or the environment; local servers often need none).",
    )
    key_env: str | None = Field(
        default=None,
        description="Name of an environment variable holding the API key (e.g. `OPENAI_API_KEY`).",
    )
    key_file: str | None = Field(
        default=None,
        description="Path of a file holding the API key (surrounding whitespace is dropped).",
    )
    timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Longest wait for one response (and between two streamed chunks).",
    )
    connect_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Longest wait to connect."
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=20,
        description="Retries of a 429, a 5xx, a timeout or a dropped connection.",
    )
    backoff_seconds: float = Field(
        default=0.5,
        ge=0,
        description="First retry delay, doubled per retry (with jitter, at most 30 s); a Retry-After header wins.",
    )
    stream: bool = Field(default=True, description="Stream completions (progress as text arrives).")
    input_cost_per_mtok: float = Field(
        default=0.0,
        ge=0,
        description="Price of a million input tokens, for the cost `generate` reports.",
    )
    output_cost_per_mtok: float = Field(
        default=0.0,
        ge=0,
        description="Price of a million output tokens, for the cost `generate` reports.",
    )


class PromptSettings(_Section):
    """An agent's prompt templates (``string.Template``: ``${path}``, ``${content}``, ...; see GENERATE.md)."""

    system: str | None = Field(default=None, description="System prompt (unset: the built-in one).")
    file: str | None = Field(
        default=None,
        description="Template for a file's frame: `${path}`, `${content}`, `${size}`, `${truncated}`, `${frame_type}` (unset: the built-in one).",
    )
    directory: str | None = Field(
        default=None,
        description="Template for a directory's frame over its children's: `${path}`, `${children}`, `${frame_type}` (unset: the built-in one).",
    )


class AgentSettings(_Section):
    """One agent allowed to read or write frames."""

    role: Literal["reader", "writer", "synthesis"] = Field(
        description="What the agent may do: `reader`, `writer` or `synthesis` (required).",
    )
    capabilities: list[str] = Field(
        default_factory=list,
        description="Free-form capability names granted to the agent (e.g. frame types it writes).",
    )
    provider: str = Field(
        default="offline",
        description="The model provider `generate` uses for this agent: `offline` (built-in, deterministic, no key) or a `providers.<name>`.",
    )
    model: str | None = Field(
        default=None,
        description="Model name sent to the provider (required for `openai`/`anthropic` providers).",
    )
    max_output_tokens: int = Field(
        default=512, ge=1, le=1_000_000, description="Most tokens one completion may produce."
    )
    temperature: float = Field(default=0.0, ge=0, le=2, description="Sampling temperature.")
    prompts: PromptSettings = Field(default_factory=PromptSettings, description="Prompt templates.")


class GenerateSettings(_Section):
    """``treeframe generate``: frames from each agent's model provider."""

    frame_type: str = Field(
        default="summary", description="Frame type written when `--type` is not given."
    )
    concurrency: int = Field(default=4, ge=1, le=256, description="Completions in flight at once.")
    max_file_bytes: int = Field(
        default=32 * 1024,
        ge=1,
        description="Most bytes of a file put into a prompt (the rest is cut and the prompt says so).",
    )
    directories: Literal["provider", "synthesis", "none"] = Field(
        default="provider",
        description="Directory frames: by the provider over the children's frames, by the `summary` synthesis policy, or none.",
    )


def _agent_id(value: str) -> str:
    try:
        return validate_label(value, "agent id")
    except InvalidFrame as exc:
        raise ValueError(exc.message) from exc


AgentId = Annotated[str, AfterValidator(_agent_id)]


class Settings(BaseModel):
    """Every treeframe setting; the root of the configuration tree.

    Env names follow ``ENV_PREFIX`` and ``ENV_NESTED_DELIMITER``
    (``TREEFRAME_VIEW__HARD_MAX_FRAMES``); the layering itself is done by
    ``treeframe.config.loading.load_settings``, so constructing this class
    reads nothing but its arguments. It is a plain pydantic model: a
    pydantic-settings one would read no source of its own here either, and
    it was the costliest single dependency import of every command that
    reads settings (docs/PERFORMANCE.md, "CLI start-up").
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    workspace: str = Field(
        default="default",
        min_length=1,
        description="Workspace name inside the store; its ID is derived from the name.",
    )
    store: StoreSettings = Field(default_factory=StoreSettings, description="Storage backend.")
    scan: ScanSettings = Field(default_factory=ScanSettings, description="Scanning.")
    view: ViewSettings = Field(default_factory=ViewSettings, description="Context views.")
    synthesis: SynthesisSettings = Field(
        default_factory=SynthesisSettings, description="Branch synthesis."
    )
    limits: LimitSettings = Field(default_factory=LimitSettings, description="Hard limits.")
    server: ServerSettings = Field(default_factory=ServerSettings, description="The REST server.")
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")
    metrics: MetricsSettings = Field(default_factory=MetricsSettings, description="Metrics.")
    tracing: TracingSettings = Field(default_factory=TracingSettings, description="Tracing.")
    redis: RedisSettings = Field(default_factory=RedisSettings, description="The shared Redis.")
    cache: CacheSettings = Field(default_factory=CacheSettings, description="Read-through caches.")
    agents: dict[AgentId, AgentSettings] = Field(
        default_factory=dict,
        description="Agents by ID (the frame agent alphabet: `[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}`).",
    )
    providers: dict[AgentId, ProviderSettings] = Field(
        default_factory=dict,
        description="Model providers by name (`offline` is built in and needs no entry).",
    )
    generate: GenerateSettings = Field(
        default_factory=GenerateSettings, description="Generating frames with models."
    )


@dataclass(frozen=True, slots=True)
class SettingDoc:
    """One documented leaf key: ``agents.<id>.role`` stands for every agent."""

    key: str
    type: str
    default: Any
    required: bool
    description: str
    constraints: str = ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside ``annotation`` (``X`` or ``X | None``), if any."""
    candidates = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _type_name(annotation: Any) -> str:
    if _is_union(annotation):
        return " | ".join(_type_name(arg) for arg in typing.get_args(annotation))
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(arg) for arg in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _constraints(metadata: list[Any]) -> str:
    """Bounds declared on a field (``ge=1`` -> ``>= 1``), comma-separated."""
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": "length >="}
    parts = []
    for item in metadata:
        for attr, symbol in symbols.items():
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return ", ".join(parts)


def setting_docs(model: type[BaseModel] = Settings, prefix: str = "") -> list[SettingDoc]:
    """Every leaf key of ``model`` with its type, default and description, in declaration order.

    Section fields are expanded into their leaves; a dict of models becomes
    ``<name>.<id>.<leaf>``; an optional model is listed itself and then its leaves.
    docs/CONFIG.md is checked against this list.
    """
    docs: list[SettingDoc] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if typing.get_origin(annotation) is dict:
            value_model = _model_in(typing.get_args(annotation)[1])
            if value_model is not None:
                docs.extend(setting_docs(value_model, f"{key}.<id>."))
                continue
        inner = _model_in(annotation)
        if inner is not None and not _is_union(annotation):
            docs.extend(setting_docs(inner, f"{key}."))
            continue
        if field.is_required():
            default = None
        elif field.default_factory is not None:
            default = field.default_factory()  # type: ignore[call-arg]
        else:
            default = field.default
        docs.append(
            SettingDoc(
                key=key,
                type=_type_name(annotation),
                default=default,
                required=field.is_required(),
                description=field.description or "",
                constraints=_constraints(field.metadata),
            )
        )
        if inner is not None:
            docs.extend(setting_docs(inner, f"{key}."))
    return docs


def known_keys(path: tuple[str, ...]) -> list[str]:
    """Field names of the settings section at ``path`` (``()`` is the root), or ``[]``.

    An agent ID in the path (``agents.<id>``) leads into AgentSettings.
    """
    model: type[BaseModel] | None = Settings
    expect_id = False
    for part in path:
        if model is None:
            return []
        if expect_id:
            expect_id = False
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        if typing.get_origin(annotation) is dict:
            model = _model_in(typing.get_args(annotation)[1])
            expect_id = True
        else:
            model = _model_in(annotation)
    return list(model.model_fields) if model is not None and not expect_id else []
