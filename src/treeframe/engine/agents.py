"""Agent registry: who the agents of a workspace are, and the permissions their roles grant.

Roles form a ladder: ``reader`` reads through views; ``writer`` also appends
frames; ``synthesis`` also synthesizes. A writer can be granted synthesis with
the ``synthesize`` capability. No role grants ``admin``. Registered agents
live in the store (per workspace); agents declared in configuration are
merged in, the store's entry winning for the same ID. The registry only
stores and looks up; deciding what a caller may do is
``engine/principal.py``'s :func:`~treeframe.engine.principal.authorize`,
called by every ContextAPI operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from treeframe.engine.principal import Permission, Principal
from treeframe.errors import InvalidRequest, StoreCorrupt, Unauthorized
from treeframe.frames.frame import validate_label
from treeframe.hashing.canonical_json import canonical_json, loads
from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend

__all__ = ["ROLES", "ROLE_PERMISSIONS", "AgentRecord", "AgentRegistry", "Role"]

Role = Literal["reader", "writer", "synthesis"]
ROLES: tuple[Role, ...] = ("reader", "writer", "synthesis")
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "reader": frozenset({Permission.READ}),
    "writer": frozenset({Permission.READ, Permission.WRITE}),
    "synthesis": frozenset({Permission.READ, Permission.WRITE, Permission.SYNTHESIZE}),
}
_CAPABILITIES = frozenset({"synthesize"})


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """One registered agent. ``provider`` holds non-secret settings only (kind, model, URL)."""

    agent_id: str
    role: Role
    capabilities: tuple[str, ...] = ()
    generator: str | None = None
    provider: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_label(self.agent_id, "agent ID")
        if self.role not in ROLES:
            raise InvalidRequest(f"unknown role {self.role!r} (use reader, writer or synthesis)")
        unknown = sorted(set(self.capabilities) - _CAPABILITIES)
        if unknown:
            raise InvalidRequest(f"unknown capabilities {unknown} (known: synthesize)")

    @property
    def permissions(self) -> frozenset[Permission]:
        """What the role grants, plus ``synthesize`` for a writer with that capability."""
        granted = ROLE_PERMISSIONS[self.role]
        if self.role == "writer" and "synthesize" in self.capabilities:
            granted = granted | {Permission.SYNTHESIZE}
        return granted

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``agent/1`` schema)."""
        return {
            "schema": "agent/1",
            "agent_id": self.agent_id,
            "role": self.role,
            "capabilities": sorted(self.capabilities),
            "generator": self.generator,
            "provider": dict(sorted(self.provider.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentRecord:
        """Parse the ``agent/1`` form."""
        return cls(
            agent_id=str(data["agent_id"]),
            role=data["role"],
            capabilities=tuple(sorted(data.get("capabilities") or ())),
            generator=data.get("generator"),
            provider={str(k): str(v) for k, v in (data.get("provider") or {}).items()},
        )


class AgentRegistry:
    """The agents of one workspace: stored registrations plus configured ones."""

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        configured: Mapping[str, AgentRecord] | None = None,
    ) -> None:
        self.store = store
        self.ws = ws
        self.configured = dict(configured or {})

    def register(self, record: AgentRecord) -> AgentRecord:
        """Add or replace an agent's registration in the store."""
        self.store.put_agent(self.ws, record.agent_id, canonical_json(record.to_dict()))
        return record

    def get(self, agent_id: str) -> AgentRecord | None:
        """The agent's registration, or None if unknown."""
        raw = self.store.get_agent(self.ws, agent_id)
        if raw is not None:
            try:
                return AgentRecord.from_dict(loads(raw))
            except (KeyError, TypeError, ValueError, InvalidRequest) as exc:
                raise StoreCorrupt(f"agent record {agent_id!r} is damaged: {exc}") from exc
        return self.configured.get(agent_id)

    def list(self) -> list[AgentRecord]:
        """Every agent, sorted by ID."""
        found = dict(self.configured)
        for agent_id, _raw in self.store.list_agents(self.ws):
            record = self.get(agent_id)
            if record is not None:
                found[agent_id] = record
        return [found[k] for k in sorted(found)]

    def principal(self, agent_id: str) -> Principal:
        """The principal acting as ``agent_id`` with its current role; Unauthorized if unknown."""
        record = self.get(agent_id)
        if record is None:
            raise Unauthorized(
                f"unknown agent {agent_id!r}: register it first ('treeframe agent add')"
            )
        return Principal(agent_id, self.ws, record.permissions)

    def may(self, agent_id: str, *permissions: Permission) -> bool:
        """True when ``agent_id`` is registered and its current role grants every permission."""
        record = self.get(agent_id)
        return record is not None and all(p in record.permissions for p in permissions)
