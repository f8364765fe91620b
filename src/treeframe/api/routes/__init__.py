"""The routers of API v1, in the order ``create_app`` mounts them.

The seam for the resource routes: workspace, node and frame routers (which
need the service-ready core) are added to :data:`ROUTERS` as they land.
"""

from __future__ import annotations

from fastapi import APIRouter

from treeframe.api.routes import (
    access,
    audit,
    frames,
    health,
    nodes,
    operations,
    push,
    workspaces,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    workspaces.router,
    access.router,
    nodes.router,
    frames.router,
    operations.router,
    push.router,
    audit.router,
)
