from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from treeframe.config import REDACTED, Settings, is_secret_key, redact, setting_docs
from treeframe.config.display import iter_leaves
from treeframe.config.settings import known_keys


def test_unknown_keys_are_rejected_in_every_section():
    for data in (
        {"nope": 1},
        {"view": {"nope": 1}},
        {"agents": {"a": {"role": "reader", "nope": 1}}},
        {"agents": {"a": {"role": "reader", "prompts": {"nope": "x"}}}},
        {"providers": {"p": {"kind": "openai", "nope": 1}}},
        {"generate": {"nope": 1}},
    ):
        with pytest.raises(ValidationError, match="Extra inputs"):
            Settings.model_validate(data)


def test_settings_are_immutable():
    with pytest.raises(ValidationError):
        Settings().view.hard_max_frames = 3  # type: ignore[misc]


@pytest.mark.parametrize("agent_id", ["a", "summarizer", "team/bot@v1", "x:y+z-1.2_3", "A" * 128])
def test_agent_ids_follow_the_frame_label_alphabet(agent_id: str):
    settings = Settings.model_validate({"agents": {agent_id: {"role": "reader"}}})
    assert list(settings.agents) == [agent_id]


@pytest.mark.parametrize("agent_id", ["", " a", "-a", "a b", "é", "A" * 129])
def test_bad_agent_ids_are_rejected(agent_id: str):
    with pytest.raises(ValidationError, match="agent id"):
        Settings.model_validate({"agents": {agent_id: {"role": "reader"}}})


def test_setting_docs_cover_every_leaf():
    keys = [doc.key for doc in setting_docs()]
    assert keys[:3] == ["workspace", "store.url", "store.busy_timeout_ms"]
    assert "agents.<id>.role" in keys
    assert "providers.<id>.api_key" in keys
    assert "agents.<id>.prompts.system" in keys
    assert all(doc.description for doc in setting_docs())
    role = next(doc for doc in setting_docs() if doc.key == "agents.<id>.role")
    assert role.required


def test_known_keys():
    assert known_keys(()) == list(Settings.model_fields)
    assert known_keys(("view",)) == ["hard_max_frames", "default_max_frames", "default_ordering"]
    assert known_keys(("agents", "any")) == [
        "role",
        "capabilities",
        "provider",
        "model",
        "max_output_tokens",
        "temperature",
        "prompts",
    ]
    assert known_keys(("agents", "any", "prompts")) == ["system", "file", "directory"]
    assert known_keys(("agents", "any", "provider")) == []
    assert known_keys(("agents",)) == []
    assert known_keys(("nope",)) == []


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("GITHUB_TOKEN", True),
        ("client_secret", True),
        ("password", True),
        ("model", False),
        ("kind", False),
    ],
)
def test_is_secret_key(name: str, secret: bool):
    assert is_secret_key(name) is secret


def test_redact_nested():
    data = {"a": SecretStr("x"), "token": "t", "password": None, "n": [{"api_key": "k"}], "ok": 1}
    assert redact(data) == {
        "a": REDACTED,
        "token": REDACTED,
        "password": None,
        "n": [{"api_key": REDACTED}],
        "ok": 1,
    }


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h/db", f"postgresql://u:{REDACTED}@h/db"),
        ("redis://:pw@h:6379/0", f"redis://:{REDACTED}@h:6379/0"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///a:b@c/store.db", "sqlite:///a:b@c/store.db"),
        ("not a url u:pw@h", "not a url u:pw@h"),
    ],
)
def test_redact_masks_url_passwords_only(url: str, shown: str):
    assert redact(url) == shown
    assert redact({"url": url}) == {"url": shown}


def test_iter_leaves_keeps_lists_and_empty_tables():
    data = {"a": {"b": 1, "c": [1, 2]}, "d": {}}
    assert list(iter_leaves(data)) == [(("a", "b"), 1), (("a", "c"), [1, 2]), (("d",), {})]
