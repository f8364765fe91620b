"""Who is calling, and the one place that decides what they may do.

A :class:`Principal` is an identity with a set of permissions in one
workspace. Every ContextAPI operation names the permission it needs and calls
:func:`authorize` before it reads or writes anything:

* ``read``: views, batches, heads, stale reports, composition, the agent list;
* ``write``: authoring frames (``put``);
* ``synthesize``: building frames by policy (``synthesize`` also needs
  ``write``: it authors the result) and ``regenerate`` (a dry run only reads);
* ``admin``: registering agents.

Agents get their permissions from their registered role (``reader``: read;
``writer``: read, write, plus synthesize with the ``synthesize`` capability;
``synthesis``: read, write, synthesize) — see ``engine/agents.py``. Nobody
gets ``admin`` that way. The local *owner* — whoever can open the store
file, and so could read or change it anyway — reads, regenerates and
registers agents, but authors nothing: frames always name a registered agent.
A later REST layer builds the principal of a call from its token instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from treeframe.errors import AccessDenied
from treeframe.ids import WorkspaceId

__all__ = ["OWNER_PERMISSIONS", "Permission", "Principal", "authorize"]


class Permission(StrEnum):
    """What an operation needs."""

    READ = "read"
    WRITE = "write"
    SYNTHESIZE = "synthesize"
    ADMIN = "admin"


OWNER_PERMISSIONS = frozenset({Permission.READ, Permission.SYNTHESIZE, Permission.ADMIN})
"""The local owner's permissions: everything but authoring frames."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An identity and its permissions in one workspace.

    ``agent_id`` is the registered agent a principal acts as (and the author
    of the frames it writes); None for the local owner, who is no agent.
    """

    agent_id: str | None
    workspace: WorkspaceId
    permissions: frozenset[Permission]

    @classmethod
    def owner(cls, workspace: WorkspaceId) -> Principal:
        """The local owner of ``workspace``'s store (the CLI's default for reads)."""
        return cls(None, workspace, OWNER_PERMISSIONS)

    def __str__(self) -> str:
        return "the local owner" if self.agent_id is None else f"agent {self.agent_id!r}"


def authorize(principal: Principal, permission: Permission) -> None:
    """Return if ``principal`` holds ``permission``; raise AccessDenied (nothing happened) if not."""
    if permission not in principal.permissions:
        held = ", ".join(sorted(principal.permissions)) or "none"
        raise AccessDenied(f"{principal} may not {permission} (permissions: {held})")
