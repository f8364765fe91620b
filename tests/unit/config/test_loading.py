from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from treeframe.config import REDACTED, LoadedSettings, Settings, load_settings
from treeframe.config.loading import user_config_path
from treeframe.errors import ConfigError

SECRET = "sk-live-very-secret-value"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    (path / ".treeframe").mkdir(parents=True)
    return path


def user_file(home: Path) -> Path:
    return home / ".config" / "treeframe" / "config.toml"


def ws_file(root: Path) -> Path:
    return root / ".treeframe" / "config.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(
    root: Path | None, home: Path, env: dict[str, str] | None = None, **kw: Any
) -> LoadedSettings:
    return load_settings(root, env={"HOME": str(home), **(env or {})}, **kw)


def config_error(
    root: Path | None, home: Path, env: dict[str, str] | None = None, **kw: Any
) -> str:
    with pytest.raises(ConfigError) as info:
        load(root, home, env, **kw)
    message = info.value.message
    assert "\n" not in message
    assert info.value.code == "config_error"
    return message


# --- defaults -------------------------------------------------------------


def test_defaults_without_any_layer(home: Path):
    loaded = load(None, home)
    assert loaded.settings == Settings()
    assert set(loaded.sources.values()) == {"default"}
    assert loaded.files == ()


def test_default_values():
    s = Settings()
    assert s.workspace == "default"
    assert s.store.url is None
    assert s.store.busy_timeout_ms == 5000
    assert s.scan.workers is None
    assert (s.view.default_max_frames, s.view.hard_max_frames) == (20, 1000)
    assert s.view.default_ordering == "recency"
    assert (s.synthesis.default_policy, s.synthesis.missing) == ("concat", "skip")
    assert (s.synthesis.summary_max_bytes, s.synthesis.max_children) == (4096, 10000)
    assert s.limits.max_frame_bytes == 16 * 1024 * 1024
    assert (s.limits.max_batch, s.limits.path_history) == (1000, 16)
    assert s.agents == {}


def test_settings_constructor_ignores_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TREEFRAME_VIEW__HARD_MAX_FRAMES", "7")
    assert Settings().view.hard_max_frames == 1000


# --- precedence: every pair of layers -------------------------------------

LAYERS = ["default", "user", "workspace", "env", "cli"]
PAIRS = [(low, high) for i, low in enumerate(LAYERS) for high in LAYERS[i + 1 :]]


def _layer_kwargs(layer: str, value: int, home: Path, root: Path) -> dict[str, Any]:
    if layer == "user":
        write(user_file(home), f"[view]\nhard_max_frames = {value}\n")
    elif layer == "workspace":
        write(ws_file(root), f"[view]\nhard_max_frames = {value}\n")
    elif layer == "env":
        return {"env": {"TREEFRAME_VIEW__HARD_MAX_FRAMES": str(value)}}
    elif layer == "cli":
        return {
            "cli": {"view.hard_max_frames": value},
            "cli_flags": {"view.hard_max_frames": "--cap"},
        }
    return {}


@pytest.mark.parametrize(("low", "high"), PAIRS, ids=[f"{lo}<{hi}" for lo, hi in PAIRS])
def test_later_layer_wins(low: str, high: str, home: Path, root: Path):
    kwargs: dict[str, Any] = {}
    kwargs.update(_layer_kwargs(low, 111, home, root))
    kwargs.update(_layer_kwargs(high, 222, home, root))
    loaded = load(root, home, **kwargs)
    expected = 1000 if high == "default" else 222
    assert loaded.settings.view.hard_max_frames == expected
    source = loaded.sources["view.hard_max_frames"]
    assert (
        source
        == {
            "user": f"user:{user_file(home)}",
            "workspace": f"workspace:{ws_file(root)}",
            "env": "env:TREEFRAME_VIEW__HARD_MAX_FRAMES",
            "cli": "cli:--cap",
        }[high]
    )


def test_layers_merge_key_by_key(home: Path, root: Path):
    write(user_file(home), "[view]\nhard_max_frames = 500\ndefault_ordering = 'type'\n")
    write(ws_file(root), "[view]\ndefault_max_frames = 30\n")
    loaded = load(root, home, {"TREEFRAME_VIEW__DEFAULT_ORDERING": "agent"})
    view = loaded.settings.view
    assert (view.hard_max_frames, view.default_max_frames, view.default_ordering) == (
        500,
        30,
        "agent",
    )
    assert loaded.sources["view.hard_max_frames"].startswith("user:")
    assert loaded.sources["view.default_max_frames"].startswith("workspace:")
    assert loaded.sources["view.default_ordering"] == "env:TREEFRAME_VIEW__DEFAULT_ORDERING"


def test_agents_deep_merge_across_files(home: Path, root: Path):
    write(
        user_file(home),
        "[agents.alpha]\nrole = 'reader'\n[agents.beta]\nrole = 'reader'\ncapabilities = ['x']\n",
    )
    write(
        ws_file(root),
        "[agents.beta]\nrole = 'writer'\n[agents.gamma]\nrole = 'synthesis'\n"
        "capabilities = ['m1']\n",
    )
    loaded = load(root, home, {"TREEFRAME_AGENTS__GAMMA__CAPABILITIES": '["m2"]'})
    agents = loaded.settings.agents
    assert sorted(agents) == ["alpha", "beta", "gamma"]
    assert agents["alpha"].role == "reader"
    assert agents["beta"].role == "writer"
    assert agents["beta"].capabilities == ["x"]  # kept from the user file
    assert (agents["gamma"].role, agents["gamma"].capabilities) == ("synthesis", ["m2"])
    assert loaded.sources["agents.beta.capabilities"] == f"user:{user_file(home)}"
    assert loaded.sources["agents.beta.role"] == f"workspace:{ws_file(root)}"
    assert (
        loaded.sources["agents.gamma.capabilities"] == "env:TREEFRAME_AGENTS__GAMMA__CAPABILITIES"
    )
    assert loaded.sources["agents.alpha.capabilities"] == "default"


def test_sources_map_is_exact(home: Path, root: Path):
    write(user_file(home), "workspace = 'team'\n[scan]\nworkers = 2\n")
    write(
        ws_file(root),
        "[agents.summarizer]\nrole = 'synthesis'\n",
    )
    loaded = load(
        root,
        home,
        {
            "TREEFRAME_STORE": "memory://",
            "TREEFRAME_BLOBS": "file:///srv/blobs",
            "TREEFRAME_BLOB_INLINE_MAX": "1024",
            "TREEFRAME_LIMITS__MAX_BATCH": "10",
            "TREEFRAME_METRICS__TOKEN": "scrape-secret",
            "TREEFRAME_PROVIDERS__LOCAL__KIND": "openai",
            "TREEFRAME_PROVIDERS__LOCAL__API_KEY": "sk-local-secret",
            "TREEFRAME_DEBUG": "1",
        },
        cli={"synthesis.missing": "fail", "workspace": None},
        cli_flags={"synthesis.missing": "--missing"},
    )
    user = f"user:{user_file(home)}"
    ws = f"workspace:{ws_file(root)}"
    assert loaded.sources == {
        "workspace": user,
        "store.url": "env:TREEFRAME_STORE",
        "store.busy_timeout_ms": "default",
        "store.blobs": "env:TREEFRAME_BLOBS",
        "store.compression": "default",
        "store.blob_inline_max": "env:TREEFRAME_BLOB_INLINE_MAX",
        "scan.workers": user,
        "view.hard_max_frames": "default",
        "view.default_max_frames": "default",
        "view.default_ordering": "default",
        "synthesis.default_policy": "default",
        "synthesis.missing": "cli:--missing",
        "synthesis.summary_max_bytes": "default",
        "synthesis.max_children": "default",
        "limits.max_frame_bytes": "default",
        "limits.max_batch": "env:TREEFRAME_LIMITS__MAX_BATCH",
        "limits.path_history": "default",
        "server.max_body_bytes": "default",
        "server.max_import_bytes": "default",
        "server.ready_timeout_ms": "default",
        "log.level": "default",
        "log.format": "default",
        "log.requests": "default",
        "metrics.enabled": "default",
        "metrics.token": "env:TREEFRAME_METRICS__TOKEN",
        "metrics.refresh_seconds": "default",
        "metrics.max_workspace_series": "default",
        "metrics.stale_max_nodes": "default",
        "metrics.multiprocess_dir": "default",
        "tracing.enabled": "default",
        "redis.url": "default",
        "cache.url": "default",
        "cache.memory_mb": "default",
        "cache.heads": "default",
        "cache.head_max_age_ms": "default",
        "cache.ttl_seconds": "default",
        "cache.namespace": "default",
        "server.verify_max_ms": "default",
        "server.rate_limit": "default",
        "server.rate_burst": "default",
        "server.breaker_failures": "default",
        "server.breaker_reset_ms": "default",
        "server.jobs_dir": "default",
        "server.job_ttl_seconds": "default",
        "server.max_jobs": "default",
        "server.work_concurrency": "default",
        "server.work_queue": "default",
        "server.max_in_flight": "default",
        "server.ui": "default",
        "agents.summarizer.role": ws,
        "agents.summarizer.capabilities": "default",
        "agents.summarizer.provider": "default",
        "agents.summarizer.model": "default",
        "agents.summarizer.max_output_tokens": "default",
        "agents.summarizer.temperature": "default",
        "agents.summarizer.prompts.system": "default",
        "agents.summarizer.prompts.file": "default",
        "agents.summarizer.prompts.directory": "default",
        "providers.local.kind": "env:TREEFRAME_PROVIDERS__LOCAL__KIND",
        "providers.local.base_url": "default",
        "providers.local.api_key": "env:TREEFRAME_PROVIDERS__LOCAL__API_KEY",
        "providers.local.key_env": "default",
        "providers.local.key_file": "default",
        "providers.local.timeout_seconds": "default",
        "providers.local.connect_timeout_seconds": "default",
        "providers.local.max_retries": "default",
        "providers.local.backoff_seconds": "default",
        "providers.local.stream": "default",
        "providers.local.input_cost_per_mtok": "default",
        "providers.local.output_cost_per_mtok": "default",
        "generate.frame_type": "default",
        "generate.concurrency": "default",
        "generate.max_file_bytes": "default",
        "generate.directories": "default",
    }
    assert loaded.files == (user_file(home), ws_file(root))
    assert loaded.settings.store.url == "memory://"
    assert loaded.settings.store.blobs == "file:///srv/blobs"
    assert loaded.settings.store.blob_inline_max == 1024
    assert loaded.settings.limits.max_batch == 10
    assert loaded.settings.synthesis.missing == "fail"
    assert loaded.settings.metrics.token is not None
    assert loaded.settings.metrics.token.get_secret_value() == "scrape-secret"
    assert "scrape-secret" not in repr(loaded.settings)
    assert "sk-local-secret" not in repr(loaded.settings)


def test_cli_flag_name_defaults_to_dashed_key(home: Path):
    loaded = load(None, home, cli={"view.default_ordering": "type"})
    assert loaded.sources["view.default_ordering"] == "cli:--view-default-ordering"


# --- the environment ------------------------------------------------------


def test_env_aliases_set_store_url_and_workspace(home: Path):
    loaded = load(None, home, {"TREEFRAME_STORE": "sqlite:///x.db", "TREEFRAME_WORKSPACE": "007"})
    assert loaded.settings.store.url == "sqlite:///x.db"
    assert loaded.settings.workspace == "007"  # stays text, not the number 7
    assert loaded.sources["workspace"] == "env:TREEFRAME_WORKSPACE"


def test_env_canonical_name_beats_alias(home: Path):
    loaded = load(None, home, {"TREEFRAME_STORE": "a://", "TREEFRAME_STORE__URL": "b://"})
    assert loaded.settings.store.url == "b://"
    assert loaded.sources["store.url"] == "env:TREEFRAME_STORE__URL"


def test_env_empty_alias_is_unset(home: Path):
    loaded = load(None, home, {"TREEFRAME_STORE": ""})
    assert loaded.settings.store.url is None


def test_env_values_are_parsed_as_json(home: Path):
    loaded = load(
        None,
        home,
        {
            "TREEFRAME_AGENTS__BOT__ROLE": "writer",
            "TREEFRAME_AGENTS__BOT__CAPABILITIES": '["summary", "review"]',
            "TREEFRAME_SCAN__WORKERS": "3",
            "TREEFRAME_SYNTHESIS__DEFAULT_POLICY": "123",
        },
    )
    assert loaded.settings.agents["bot"].capabilities == ["summary", "review"]
    assert loaded.settings.scan.workers == 3
    assert loaded.settings.synthesis.default_policy == "123"


def test_env_null_resets_to_none(home: Path):
    write(user_file(home), "[scan]\nworkers = 4\n")
    loaded = load(None, home, {"TREEFRAME_SCAN__WORKERS": "null"})
    assert loaded.settings.scan.workers is None
    assert loaded.sources["scan.workers"] == "env:TREEFRAME_SCAN__WORKERS"


def test_env_json_section_then_nested_key(home: Path):
    loaded = load(
        None,
        home,
        {
            "TREEFRAME_VIEW": '{"hard_max_frames": 300, "default_max_frames": 5}',
            "TREEFRAME_VIEW__DEFAULT_MAX_FRAMES": "6",
        },
    )
    assert (loaded.settings.view.hard_max_frames, loaded.settings.view.default_max_frames) == (
        300,
        6,
    )
    assert loaded.sources["view.hard_max_frames"] == "env:TREEFRAME_VIEW"
    assert loaded.sources["view.default_max_frames"] == "env:TREEFRAME_VIEW__DEFAULT_MAX_FRAMES"


def test_env_names_are_case_insensitive(home: Path):
    loaded = load(None, home, {"TREEFRAME_Limits__Max_Batch": "5"})
    assert loaded.settings.limits.max_batch == 5


def test_unrelated_environment_is_ignored(home: Path):
    loaded = load(None, home, {"PATH": "/bin", "TREEFRAMEX": "1", "TREEFRAME_DEBUG": "1"})
    assert set(loaded.sources.values()) == {"default"}


# --- files ----------------------------------------------------------------


def test_xdg_config_home_locates_user_file(tmp_path: Path, home: Path):
    xdg = tmp_path / "xdg"
    write(xdg / "treeframe" / "config.toml", "workspace = 'xdg'\n")
    loaded = load(None, home, {"XDG_CONFIG_HOME": str(xdg)})
    assert loaded.settings.workspace == "xdg"


def test_relative_xdg_config_home_is_ignored(home: Path):
    path, required = user_config_path({"HOME": str(home), "XDG_CONFIG_HOME": "rel/dir"})
    assert (path, required) == (user_file(home), False)


def test_treeframe_config_names_user_file(tmp_path: Path, home: Path):
    path = write(tmp_path / "elsewhere.toml", "workspace = 'named'\n")
    loaded = load(None, home, {"TREEFRAME_CONFIG": str(path)})
    assert loaded.settings.workspace == "named"
    assert loaded.sources["workspace"] == f"user:{path}"


def test_treeframe_config_missing_file_is_an_error(tmp_path: Path, home: Path):
    message = config_error(None, home, {"TREEFRAME_CONFIG": str(tmp_path / "nope.toml")})
    assert "nope.toml" in message
    assert "env:TREEFRAME_CONFIG" in message


def test_explicit_user_config_argument(tmp_path: Path, home: Path):
    path = write(tmp_path / "u.toml", "workspace = 'arg'\n")
    assert load(None, home, user_config=path).settings.workspace == "arg"


def test_missing_files_are_skipped(home: Path, root: Path):
    loaded = load(root, home)
    assert loaded.files == ()


# --- errors name the key, the value and the source ------------------------


def test_error_bad_type_in_user_file(home: Path):
    write(user_file(home), "[view]\nhard_max_frames = 'lots'\n")
    message = config_error(None, home)
    assert message.startswith(
        f"invalid config view.hard_max_frames = 'lots' (from user:{user_file(home)}): "
    )
    assert "valid integer" in message


def test_error_bad_type_in_env_matches_documented_shape(home: Path):
    message = config_error(None, home, {"TREEFRAME_VIEW__HARD_MAX_FRAMES": "lots"})
    assert message.startswith(
        "invalid config view.hard_max_frames = 'lots' "
        "(from env:TREEFRAME_VIEW__HARD_MAX_FRAMES): Input should be a valid integer"
    )


def test_error_unknown_key_in_workspace_file(home: Path, root: Path):
    write(ws_file(root), "[view]\nhard_max_frame = 10\n")
    message = config_error(root, home)
    assert message.startswith(
        f"invalid config view.hard_max_frame = 10 (from workspace:{ws_file(root)}): unknown key"
    )
    assert "did you mean 'hard_max_frames'?" in message


def test_error_unknown_section_in_workspace_file(home: Path, root: Path):
    write(ws_file(root), "[veiw]\nhard_max_frames = 10\n")
    message = config_error(root, home)
    assert message.startswith(
        f"invalid config veiw = {{'hard_max_frames': 10}} (from workspace:{ws_file(root)}): "
        "unknown key; did you mean 'view'?"
    )


def test_error_unknown_env_key(home: Path):
    message = config_error(None, home, {"TREEFRAME_SCAN__WORKER": "2"})
    assert message.startswith(
        "invalid config scan.worker = '2' (from env:TREEFRAME_SCAN__WORKER): unknown key"
    )


def test_error_unknown_top_level_env_variable(home: Path):
    message = config_error(None, home, {"TREEFRAME_STOER": "x"})
    assert "stoer" in message
    assert "env:TREEFRAME_STOER" in message


def test_error_empty_env_segment(home: Path):
    message = config_error(None, home, {"TREEFRAME_VIEW____X": "1"})
    assert "TREEFRAME_VIEW____X" in message


def test_error_toml_syntax(home: Path, root: Path):
    write(ws_file(root), "[view\nhard_max_frames = 1\n")
    message = config_error(root, home)
    assert message.startswith(f"invalid TOML (from workspace:{ws_file(root)}): ")
    assert "line 1" in message


def test_error_file_not_utf8(home: Path):
    user_file(home).parent.mkdir(parents=True)
    user_file(home).write_bytes(b"workspace = '\xff'\n")
    assert "not UTF-8" in config_error(None, home)


def test_error_default_above_hard_cap(home: Path, root: Path):
    write(ws_file(root), "[view]\ndefault_max_frames = 50\n")
    message = config_error(root, home, {"TREEFRAME_VIEW__HARD_MAX_FRAMES": "40"})
    assert message == (
        f"invalid config view.default_max_frames = 50 (from workspace:{ws_file(root)}): "
        "must be at most view.hard_max_frames = 40 (from env:TREEFRAME_VIEW__HARD_MAX_FRAMES)"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("view.hard_max_frames", 0),
        ("view.default_max_frames", 0),
        ("store.busy_timeout_ms", -1),
        ("scan.workers", 0),
        ("view.default_ordering", "random"),
        ("synthesis.missing", "ignore"),
    ],
)
def test_error_out_of_range_values(home: Path, key: str, value: Any):
    message = config_error(None, home, cli={key: value}, cli_flags={key: "--x"})
    assert message.startswith(f"invalid config {key} = {value!r} (from cli:--x): ")


def test_error_bad_agent_id(home: Path, root: Path):
    write(ws_file(root), "[agents.'bad agent']\nrole = 'reader'\n")
    message = config_error(root, home)
    assert message.startswith(
        f"invalid config agents.bad agent = 'bad agent' (from workspace:{ws_file(root)}): "
        "invalid agent id"
    )


def test_error_bad_role(home: Path):
    write(user_file(home), "[agents.bot]\nrole = 'admin'\n")
    message = config_error(None, home)
    assert message.startswith(
        f"invalid config agents.bot.role = 'admin' (from user:{user_file(home)}): "
    )
    assert "'reader', 'writer' or 'synthesis'" in message


def test_error_missing_role_names_where_the_agent_was_defined(home: Path):
    message = config_error(None, home, {"TREEFRAME_AGENTS__BOT__CAPABILITIES": '["x"]'})
    assert message == (
        "invalid config agents.bot.role (from env:TREEFRAME_AGENTS__BOT__CAPABILITIES): Field required"
    )


def test_error_counts_further_errors(home: Path):
    message = config_error(
        None, home, {"TREEFRAME_SCAN__WORKERS": "x", "TREEFRAME_LIMITS__MAX_BATCH": "y"}
    )
    assert message.endswith("(and 1 more error)")


# --- secrets --------------------------------------------------------------


def test_provider_settings_are_not_accepted_until_providers_exist(home: Path):
    write(user_file(home), "[agents.bot]\nrole = 'reader'\n[agents.bot.provider]\nkind = 'x'\n")
    assert "agents.bot.provider" in config_error(None, home)


def test_secret_redacted_in_type_error(home: Path):
    message = config_error(
        None,
        home,
        {
            "TREEFRAME_AGENTS__BOT__ROLE": "reader",
            "TREEFRAME_AGENTS__BOT__CAPABILITIES": f'{{"api_key": "{SECRET}"}}',
        },
    )
    assert SECRET not in message
    assert "agents.bot.capabilities" in message


def test_secret_redacted_in_unknown_key_error(home: Path, root: Path):
    write(ws_file(root), f"[store]\nauth_token = '{SECRET}'\n")
    message = config_error(root, home)
    assert SECRET not in message
    assert f"store.auth_token = '{REDACTED}'" in message


def test_secret_redacted_inside_a_bad_table(home: Path):
    write(user_file(home), f"[agents.bot]\nrole = 'reader'\nprovider = ['{SECRET}']\n")
    assert "agents.bot.provider" in config_error(None, home)
    write(user_file(home), f"[agents]\nbot = 5\n[store.password]\nvalue = '{SECRET}'\n")
    message = config_error(None, home)
    assert SECRET not in message


def test_error_empty_agent_table_names_its_file(home: Path, root: Path):
    write(ws_file(root), "[agents.bot]\n")
    message = config_error(root, home)
    assert (
        message
        == f"invalid config agents.bot.role (from workspace:{ws_file(root)}): Field required"
    )


def test_empty_table_is_harmless(home: Path, root: Path):
    write(ws_file(root), "[view]\n[store]\n")
    loaded = load(root, home)
    assert set(loaded.sources.values()) == {"default"}
