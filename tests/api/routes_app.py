"""App factory for ``treeframe serve --app tests.api.routes_app:routes_app``: every caller is alice.

The end-to-end tests of the node, frame and operation routes run a real
server process; authentication is another slice's concern, so this factory
installs the same identity override the in-process tests use.
"""

from __future__ import annotations

from fastapi import FastAPI

from tests.api.routes_env import install_override
from treeframe.api import create_app
from treeframe.config.settings import Settings
from treeframe.storage.base import StorageBackend


def routes_app(settings: Settings, store: StorageBackend, *, close_store: bool = False) -> FastAPI:
    return install_override(create_app(settings, store, close_store=close_store))
