"""provider_for: names to providers, keys from settings, env or a file, and keys never shown."""

from __future__ import annotations

import io
import logging
import traceback
from contextlib import closing
from pathlib import Path

import pytest

from tests.fakes.model_server import FakeModelServer, Reply
from tests.providers.conftest import REQUEST
from treeframe.config import Settings
from treeframe.config.loading import provider_api_key
from treeframe.config.settings import ProviderSettings
from treeframe.errors import ConfigError, ProviderAuthFailed, ProviderRequestInvalid
from treeframe.observability.logs import configure_logging, flush_logs, get_logger
from treeframe.providers import OFFLINE, known_providers, provider_for
from treeframe.providers.anthropic import AnthropicProvider
from treeframe.providers.offline import OfflineProvider
from treeframe.providers.openai import OpenAIProvider

KEY = "sk-live-0123456789abcdef"


def settings_with(**providers: dict[str, object]) -> Settings:
    return Settings.model_validate({"providers": providers})


def test_offline_needs_no_entry():
    provider = provider_for(OFFLINE, Settings())
    assert isinstance(provider, OfflineProvider)
    assert (provider.name, provider.kind) == ("offline", "offline")


def test_a_configured_offline_provider_keeps_its_name():
    provider = provider_for("det", settings_with(det={"kind": "offline"}))
    assert isinstance(provider, OfflineProvider)
    assert provider.name == "det"


def test_the_kind_picks_the_implementation(fake_models: FakeModelServer):
    settings = settings_with(
        local=fake_models.provider_config("openai"), claude=fake_models.provider_config("anthropic")
    )
    assert isinstance(provider_for("local", settings), OpenAIProvider)
    assert isinstance(provider_for("claude", settings), AnthropicProvider)


def test_an_unknown_name_is_a_config_error_listing_the_known_ones():
    settings = settings_with(local={"kind": "openai", "base_url": "http://127.0.0.1:1/v1"})
    with pytest.raises(ConfigError) as caught:
        provider_for("gpt", settings)
    assert caught.value.message == (
        "unknown provider 'gpt': define providers.gpt (known: local, offline)"
    )
    assert known_providers(settings) == ["local", "offline"]


@pytest.mark.parametrize("base_url", ["127.0.0.1:11434/v1", "ftp://host/v1", "file:///x"])
def test_a_base_url_that_is_not_http_is_a_config_error(base_url: str):
    with pytest.raises(ConfigError, match=r"providers\.local\.base_url"):
        provider_for("local", settings_with(local={"kind": "openai", "base_url": base_url}))


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_the_official_api_without_a_key_fails_before_any_request(kind: str):
    with pytest.raises(ProviderAuthFailed, match="has no API key") as caught:
        provider_for("cloud", settings_with(cloud={"kind": kind}), env={})
    assert "TREEFRAME_PROVIDERS__CLOUD__API_KEY" in caught.value.message
    assert caught.value.provider == "cloud"


def test_the_official_api_with_a_key_is_built():
    provider = provider_for("cloud", settings_with(cloud={"kind": "openai", "api_key": KEY}))
    assert isinstance(provider, OpenAIProvider)
    assert provider.url == "https://api.openai.com/v1/chat/completions"
    assert KEY not in repr(provider)
    anthropic = provider_for("c", settings_with(c={"kind": "anthropic", "api_key": KEY}))
    assert isinstance(anthropic, AnthropicProvider)
    assert anthropic.url == "https://api.anthropic.com/v1/messages"


# --- keys -------------------------------------------------------------------


def test_api_key_wins_over_key_env_and_key_file(tmp_path: Path):
    settings = ProviderSettings.model_validate(
        {"kind": "openai", "api_key": "from-settings", "key_env": "K", "key_file": "/nope"}
    )
    assert provider_api_key("p", settings, {"K": "from-env"}) == "from-settings"


def test_key_env_is_read_from_the_environment_given():
    settings = ProviderSettings.model_validate({"kind": "openai", "key_env": "MY_KEY"})
    assert provider_api_key("p", settings, {"MY_KEY": f"  {KEY}\n"}) == KEY


@pytest.mark.parametrize("env", [{}, {"MY_KEY": ""}, {"MY_KEY": "  "}])
def test_an_unset_key_env_names_the_variable(env: dict[str, str]):
    settings = ProviderSettings.model_validate({"kind": "openai", "key_env": "MY_KEY"})
    with pytest.raises(ConfigError) as caught:
        provider_api_key("p", settings, env)
    assert (
        caught.value.message == "providers.p.key_env names MY_KEY, which is not set (or is empty)"
    )


def test_key_env_wins_over_key_file(tmp_path: Path):
    settings = ProviderSettings.model_validate(
        {"kind": "openai", "key_env": "K", "key_file": str(tmp_path / "missing")}
    )
    assert provider_api_key("p", settings, {"K": "env-key"}) == "env-key"


def test_key_file_content_is_stripped(tmp_path: Path):
    path = tmp_path / "key"
    path.write_text(f"\n{KEY}\n", encoding="utf-8")
    settings = ProviderSettings.model_validate({"kind": "openai", "key_file": str(path)})
    assert provider_api_key("p", settings, {}) == KEY


def test_an_unreadable_key_file_is_a_config_error(tmp_path: Path):
    path = tmp_path / "missing"
    settings = ProviderSettings.model_validate({"kind": "openai", "key_file": str(path)})
    with pytest.raises(ConfigError) as caught:
        provider_api_key("p", settings, {})
    assert caught.value.message == (
        f"cannot read providers.p.key_file {path}: no such file or directory"
    )


@pytest.mark.parametrize("content", [b"", b" \n", b"\xff\xfe"], ids=["empty", "blank", "binary"])
def test_an_empty_or_binary_key_file_is_a_config_error(tmp_path: Path, content: bytes):
    path = tmp_path / "key"
    path.write_bytes(content)
    settings = ProviderSettings.model_validate({"kind": "openai", "key_file": str(path)})
    with pytest.raises(ConfigError, match=r"providers\.p\.key_file"):
        provider_api_key("p", settings, {})


def test_no_key_anywhere_is_none():
    assert provider_api_key("p", ProviderSettings.model_validate({"kind": "openai"}), {}) is None
    empty = ProviderSettings.model_validate({"kind": "openai", "api_key": ""})
    assert provider_api_key("p", empty, {}) is None


def test_a_key_from_key_env_reaches_the_wire(fake_models: FakeModelServer):
    settings = settings_with(local=fake_models.provider_config("openai", key_env="LOCAL_KEY"))
    with closing(provider_for("local", settings, env={"LOCAL_KEY": KEY})) as provider:
        provider.complete(REQUEST)
    assert fake_models.last.headers["authorization"] == f"Bearer {KEY}"


def test_a_missing_key_env_fails_when_the_provider_is_built(fake_models: FakeModelServer):
    settings = settings_with(local=fake_models.provider_config("openai", key_env="LOCAL_KEY"))
    with pytest.raises(ConfigError, match="LOCAL_KEY"):
        provider_for("local", settings, env={})
    assert fake_models.requests == []


# --- the key never leaves in an error or a log line ----------------------


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_key_the_provider_echoes_is_masked_in_the_error(fake_models: FakeModelServer, kind: str):
    fake_models.script(Reply.error(401, f"Incorrect API key provided: {KEY}"))
    settings = settings_with(p=fake_models.provider_config(kind, api_key=KEY))
    with (
        closing(provider_for("p", settings)) as provider,
        pytest.raises(ProviderAuthFailed) as caught,
    ):
        provider.complete(REQUEST)
    shown = "".join(traceback.format_exception(caught.value))
    assert KEY not in shown
    assert "Incorrect API key provided: **********" in caught.value.message


def test_a_logged_provider_error_never_contains_the_key(fake_models: FakeModelServer):
    fake_models.script(Reply.error(400, f"bad request for key {KEY}"))
    settings = settings_with(p=fake_models.provider_config("openai", api_key=KEY, stream=False))
    out = io.StringIO()
    configure_logging("debug", "json", out)
    try:
        with (
            closing(provider_for("p", settings)) as provider,
            pytest.raises(ProviderRequestInvalid) as caught,
        ):
            provider.complete(REQUEST)
        error = caught.value
        get_logger("treeframe.test").error(
            "generate failed", error=error.message, provider=error.provider, exc_info=error
        )
        logging.getLogger("treeframe.test").exception("stdlib too", exc_info=error)
        flush_logs()
    finally:  # as tests/unit/observability/test_logs.py leaves the pipeline
        configure_logging("warning", "json", io.StringIO())
        root = logging.getLogger()
        root.handlers[:] = [h for h in root.handlers if h.get_name() != "treeframe"]
    written = out.getvalue()
    assert "generate failed" in written
    assert "stdlib too" in written
    assert "bad request for key" in written
    assert KEY not in written
