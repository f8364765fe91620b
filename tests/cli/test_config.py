"""`treeframe config show` through the real CLI, isolated from the developer's own config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, run_cli

SECRET = "sk-cli-secret-123456"
REDACTED = "**********"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


@pytest.fixture
def ws(tmp_path: Path, env: dict[str, str]) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    assert run_cli(root, "init", env=env).code == 0
    (root / ".treeframe" / "config.toml").write_text(
        "[view]\nhard_max_frames = 200\n[agents.summarizer]\nrole = 'synthesis'\n",
        encoding="utf-8",
    )
    return root


def test_show_json_in_workspace_reports_file_and_env_sources(ws: Path, env: dict[str, str]):
    result = run_cli(
        ws, "config", "show", "--json", env={**env, "TREEFRAME_VIEW__DEFAULT_MAX_FRAMES": "7"}
    )
    assert result.code == 0, result.stderr
    out = result.json()
    config_file = (ws / ".treeframe" / "config.toml").absolute()
    assert out["settings"]["view"] == {
        "hard_max_frames": 200,
        "default_max_frames": 7,
        "default_ordering": "recency",
    }
    assert out["sources"]["view.hard_max_frames"] == f"workspace:{config_file}"
    assert out["sources"]["view.default_max_frames"] == "env:TREEFRAME_VIEW__DEFAULT_MAX_FRAMES"
    assert out["sources"]["view.default_ordering"] == "default"
    assert out["settings"]["agents"]["summarizer"]["role"] == "synthesis"
    assert set(out) == {"settings", "sources"}


def test_show_table_lists_key_value_source(ws: Path, env: dict[str, str]):
    result = run_cli(ws, "config", "show", "--store", "memory://", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["key", "value", "source"]
    assert lines[1].split() == ["workspace", "default", "default"]
    assert next(x for x in lines if x.startswith("store.url ")).split() == [
        "store.url",
        "memory://",
        "cli:--store",
    ]


def test_show_outside_a_workspace_uses_user_file_and_env(
    tmp_path: Path, home: Path, env: dict[str, str]
):
    user = home / ".config" / "treeframe" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[limits]\nmax_batch = 50\n", encoding="utf-8")
    outside = tmp_path / "plain"
    outside.mkdir()
    result = run_cli(
        outside, "config", "show", "--json", env={**env, "TREEFRAME_STORE": "memory://"}
    )
    assert result.code == 0, result.stderr
    out = result.json()
    assert out["settings"]["limits"]["max_batch"] == 50
    assert out["sources"]["limits.max_batch"] == f"user:{user}"
    assert out["sources"]["store.url"] == "env:TREEFRAME_STORE"
    assert out["settings"]["agents"] == {}


def test_bad_value_is_one_line_config_error(ws: Path, env: dict[str, str]):
    result = run_cli(ws, "config", "show", env={**env, "TREEFRAME_VIEW__HARD_MAX_FRAMES": "lots"})
    assert result.code == 1
    assert_one_line_error(result, "config_error")
    assert (
        "view.hard_max_frames = 'lots' (from env:TREEFRAME_VIEW__HARD_MAX_FRAMES)" in result.stderr
    )
    assert result.stdout == ""


def test_bad_secret_is_redacted_in_the_error(ws: Path, env: dict[str, str]):
    (ws / ".treeframe" / "config.toml").write_text(
        f"[agents.bot]\nrole = 'reader'\napi_key = '{SECRET}'\n",
        encoding="utf-8",
    )
    result = run_cli(ws, "config", "show", env=env)
    assert result.code == 1
    assert_one_line_error(result, "config_error")
    assert SECRET not in result.stderr
    assert REDACTED in result.stderr
    as_json = run_cli(ws, "config", "show", "--json", env=env)
    assert as_json.code == 1
    assert '"code": "config_error"' in as_json.stderr
    assert SECRET not in as_json.stderr


def test_provider_keys_are_redacted_from_env_and_files(ws: Path, env: dict[str, str]):
    (ws / ".treeframe" / "config.toml").write_text(
        "[providers.cloud]\nkind = 'anthropic'\n"
        f"api_key = '{SECRET}-file'\n"
        "[providers.local]\nkind = 'openai'\nbase_url = 'http://127.0.0.1:11434/v1'\n"
        "key_env = 'LOCAL_MODEL_KEY'\n",
        encoding="utf-8",
    )
    secret_env = {
        **env,
        "TREEFRAME_PROVIDERS__OPENAI__KIND": "openai",
        "TREEFRAME_PROVIDERS__OPENAI__API_KEY": f"{SECRET}-env",
        "LOCAL_MODEL_KEY": f"{SECRET}-key-env",
    }
    as_json = run_cli(ws, "config", "show", "--json", env=secret_env)
    assert as_json.code == 0, as_json.stderr
    providers = as_json.json()["settings"]["providers"]
    assert providers["cloud"]["api_key"] == REDACTED
    assert providers["openai"]["api_key"] == REDACTED
    assert providers["local"]["api_key"] is None
    assert providers["local"]["key_env"] == "LOCAL_MODEL_KEY"  # where the key lives, not the key
    sources = as_json.json()["sources"]
    assert sources["providers.openai.api_key"] == "env:TREEFRAME_PROVIDERS__OPENAI__API_KEY"
    table = run_cli(ws, "config", "show", env=secret_env)
    assert table.code == 0, table.stderr
    for result in (as_json, table):
        assert SECRET not in result.stdout + result.stderr
    assert next(x for x in table.stdout.splitlines() if "providers.cloud.api_key" in x).split()[
        :2
    ] == ["providers.cloud.api_key", REDACTED]


def test_passwords_in_store_and_redis_urls_are_redacted(ws: Path, env: dict[str, str]):
    secret_env = {
        **env,
        "TREEFRAME_STORE": f"postgresql://tf:{SECRET}@127.0.0.1:5432/tf",
        "TREEFRAME_REDIS__URL": f"redis://:{SECRET}@127.0.0.1:6379/0",
    }
    as_json = run_cli(ws, "config", "show", "--json", env=secret_env)
    assert as_json.code == 0, as_json.stderr
    settings = as_json.json()["settings"]
    assert settings["store"]["url"] == f"postgresql://tf:{REDACTED}@127.0.0.1:5432/tf"
    assert settings["redis"]["url"] == f"redis://:{REDACTED}@127.0.0.1:6379/0"
    table = run_cli(ws, "config", "show", env=secret_env)
    assert table.code == 0, table.stderr
    assert f"postgresql://tf:{REDACTED}@" in table.stdout
    for result in (as_json, table):
        assert SECRET not in result.stdout + result.stderr


def test_an_invalid_provider_key_value_is_redacted_in_the_error(ws: Path, env: dict[str, str]):
    result = run_cli(
        ws,
        "config",
        "show",
        env={**env, "TREEFRAME_PROVIDERS__X__API_KEY": SECRET},  # no kind: invalid
    )
    assert result.code == 1
    assert_one_line_error(result, "config_error")
    assert "providers.x.kind" in result.stderr
    assert SECRET not in result.stderr
