"""Layered, typed configuration: defaults, user file, workspace file, environment, CLI flags.

``load_settings()`` merges the layers and validates them into ``Settings``;
``LoadedSettings.sources`` says where every effective value came from.
Importing this package loads pydantic, so the CLI imports it lazily.
"""

from treeframe.config.display import REDACTED, is_secret_key, redact
from treeframe.config.loading import (
    LoadedSettings,
    load_settings,
    user_config_path,
    workspace_config_path,
)
from treeframe.config.settings import (
    AgentSettings,
    LimitSettings,
    ScanSettings,
    ServerSettings,
    SettingDoc,
    Settings,
    StoreSettings,
    SynthesisSettings,
    ViewSettings,
    setting_docs,
)

__all__ = [
    "REDACTED",
    "AgentSettings",
    "LimitSettings",
    "LoadedSettings",
    "ScanSettings",
    "ServerSettings",
    "SettingDoc",
    "Settings",
    "StoreSettings",
    "SynthesisSettings",
    "ViewSettings",
    "is_secret_key",
    "load_settings",
    "redact",
    "setting_docs",
    "user_config_path",
    "workspace_config_path",
]
