"""Settings -> where the directory-bound workspace's store is (engine limits and agents: engine.workspaces)."""

from __future__ import annotations

from pathlib import Path

from treeframe.config.settings import Settings
from treeframe.storage.catalog import ContentPolicy
from treeframe.storage.registry import content_policy
from treeframe.workspace.layout import default_store_url

__all__ = ["store_content", "store_url"]


def store_url(root: Path, settings: Settings) -> str:
    """The configured store URL, or the embedded default; SQLite gets the busy timeout."""
    url = settings.store.url or default_store_url(root)
    if url.startswith("sqlite://") and "busy_timeout_ms=" not in url:
        sep = "&" if "?" in url else "?"
        url = f"{url}{sep}busy_timeout_ms={settings.store.busy_timeout_ms}"
    return url


def store_content(settings: Settings) -> ContentPolicy:
    """How the configured store packs and places contents (``store.blobs``, ``compression``)."""
    store = settings.store
    return content_policy(store.blobs, store.compression, store.blob_inline_max)
