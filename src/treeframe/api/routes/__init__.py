"""The routers of API v1, in the order ``create_app`` mounts them.

One module per resource; a new resource adds its router here (and a row to
the isolation matrix, tests/api/test_isolation_matrix.py, which fails until it does).
"""

from __future__ import annotations

from fastapi import APIRouter

from treeframe.api import jobs
from treeframe.api.routes import (
    access,
    audit,
    diagnostics,
    frames,
    health,
    nodes,
    operations,
    push,
    snapshots,
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
    diagnostics.router,
    push.router,
    audit.router,
    snapshots.router,
    snapshots.imports,
    jobs.router,
)
