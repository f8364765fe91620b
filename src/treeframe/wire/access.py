"""The JSON shapes of the access routes: tokens, ACL entries and the agent registry."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from treeframe.wire.common import ApiResponse

__all__ = [
    "AclEntryFields",
    "AclEntryOut",
    "AclGrant",
    "AclList",
    "AgentFields",
    "AgentList",
    "AgentOut",
    "AgentPut",
    "PermissionName",
    "TokenCreate",
    "TokenCreated",
    "TokenFields",
    "TokenList",
    "TokenOut",
]

PermissionName = Literal["read", "write", "synthesize", "admin"]


class TokenCreate(BaseModel):
    """``POST /v1/workspaces/{ws}/tokens``: a token for this workspace acting as ``agent_id``."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=128, description="The agent the token acts as.")
    permissions: list[PermissionName] = Field(min_length=1, description="The token's ceiling.")
    expires_in: str | None = Field(
        default=None, description="Lifetime such as 30d, 12h, 15m (None: never expires)."
    )


class TokenFields(BaseModel):
    """A token as listed: never its secret (only a hash of it is stored)."""

    token_id: str = Field(description="16 hex: the public part of the token.")
    agent_id: str
    workspace_id: str | None = Field(description="The one workspace it reaches (None: all).")
    permissions: list[PermissionName]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    created_by: str | None = Field(description="Agent that made it (None: the local owner).")


class TokenOut(ApiResponse, TokenFields):
    """One token (revocation answers with it)."""


class TokenCreated(TokenOut):
    """A new token: ``token`` is shown this once and can never be read again."""

    token: str = Field(description="tft_<token_id>_<secret>: send as 'Authorization: Bearer'.")


class TokenList(ApiResponse):
    """One page of a workspace's tokens, by token ID."""

    tokens: list[TokenFields]
    next: str | None = Field(description="Cursor for the next page (?after=); None on the last.")


class AclGrant(BaseModel):
    """``PUT /v1/workspaces/{ws}/acl/{agent_id}``: the agent's permissions, replacing any."""

    model_config = ConfigDict(extra="forbid")

    permissions: list[PermissionName] = Field(min_length=1)


class AclEntryFields(BaseModel):
    """What one agent may do in the workspace (never hashed)."""

    agent_id: str
    permissions: list[PermissionName]
    granted_at: str
    granted_by: str | None = Field(description="Agent that granted it (None: the local owner).")


class AclEntryOut(ApiResponse, AclEntryFields):
    """One ACL entry (grant and revoke answer with it)."""


class AclList(ApiResponse):
    """Every ACL entry of a workspace, by agent ID."""

    entries: list[AclEntryFields]


class AgentPut(BaseModel):
    """``PUT /v1/workspaces/{ws}/agents/{agent_id}``: register or replace an agent."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["reader", "writer", "synthesis"]
    capabilities: list[Literal["synthesize"]] = Field(default_factory=list)
    generator: str | None = None
    provider: dict[str, str] = Field(default_factory=dict, description="Non-secret settings.")


class AgentFields(BaseModel):
    """One registered (or configured) agent: the ``agent/1`` record."""

    agent_id: str
    role: Literal["reader", "writer", "synthesis"]
    capabilities: list[str]
    generator: str | None
    provider: dict[str, str]


class AgentOut(ApiResponse, AgentFields):
    """One agent."""


class AgentList(ApiResponse):
    """Every agent of the workspace, by ID."""

    agents: list[AgentFields]
