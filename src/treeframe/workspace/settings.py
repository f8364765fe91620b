"""Settings -> the objects the workspace is built from (store URL, engine limits, agents)."""

from __future__ import annotations

from pathlib import Path

from treeframe.config.settings import Settings
from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import EngineLimits
from treeframe.workspace.layout import default_store_url

__all__ = ["configured_agents", "engine_limits", "store_url"]


def store_url(root: Path, settings: Settings) -> str:
    """The configured store URL, or the embedded default; SQLite gets the busy timeout."""
    url = settings.store.url or default_store_url(root)
    if url.startswith("sqlite://") and "busy_timeout_ms=" not in url:
        sep = "&" if "?" in url else "?"
        url = f"{url}{sep}busy_timeout_ms={settings.store.busy_timeout_ms}"
    return url


def engine_limits(settings: Settings) -> EngineLimits:
    """Operator limits for the context API."""
    return EngineLimits(
        hard_max_frames=settings.view.hard_max_frames,
        max_frame_bytes=settings.limits.max_frame_bytes,
        max_batch=settings.limits.max_batch,
        path_history=settings.limits.path_history,
        max_children=settings.synthesis.max_children,
        summary_max_bytes=settings.synthesis.summary_max_bytes,
    )


def configured_agents(settings: Settings) -> dict[str, AgentRecord]:
    """Agents declared in configuration."""
    return {
        agent_id: AgentRecord(agent_id, agent.role, tuple(sorted(agent.capabilities)))
        for agent_id, agent in settings.agents.items()
    }
