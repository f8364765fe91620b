"""``/v1/workspaces/{ws}/tokens``, ``/acl`` and ``/agents``: access management for a workspace's admins.

Tokens made here are scoped to the workspace of the path; the secret is in
the create response only. Every write is one call of
:class:`~treeframe.engine.access.AccessService` (tokens, ACL) or of the
workspace's :class:`~treeframe.engine.context_api.ContextAPI` (agents), with
the caller's principal, which decides: ``admin`` for everything here but
listing agents (``read``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from treeframe.api.auth import access_service
from treeframe.api.deps import Bound
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.routes.workspaces import MAX_PAGE, decode_cursor, encode_cursor
from treeframe.engine.access import parse_duration, parse_permissions
from treeframe.engine.agents import AgentRecord
from treeframe.storage.values import AclEntry, TokenRecord
from treeframe.wire.access import (
    AclEntryFields,
    AclEntryOut,
    AclGrant,
    AclList,
    AgentFields,
    AgentList,
    AgentOut,
    AgentPut,
    TokenCreate,
    TokenCreated,
    TokenFields,
    TokenList,
    TokenOut,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["access"], responses=ERROR_RESPONSES)

AgentPath = Annotated[str, Path(description="Agent ID.")]


def _token(record: TokenRecord) -> dict[str, object]:
    return {
        "token_id": record.token_id,
        "agent_id": record.agent_id,
        "workspace_id": record.scope,
        "permissions": list(record.permissions),
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "created_by": record.created_by,
    }


def _acl(entry: AclEntry) -> dict[str, object]:
    return {
        "agent_id": entry.agent_id,
        "permissions": list(entry.permissions),
        "granted_at": entry.granted_at,
        "granted_by": entry.granted_by,
    }


@router.post("/tokens", status_code=201, summary="Make a token for this workspace (admin)")
def create_token(bound: Bound, body: TokenCreate, request: Request) -> TokenCreated:
    """The token string is in this response only: it is stored as a hash."""
    issued = access_service(request).create_token(
        actor=bound.principal,
        agent_id=body.agent_id,
        permissions=parse_permissions(body.permissions),
        scope=bound.info.workspace_id,
        expires_in=None if body.expires_in is None else parse_duration(body.expires_in),
    )
    return TokenCreated.model_validate(_token(issued.record) | {"token": issued.token})


@router.get("/tokens", summary="This workspace's tokens, by ID, without secrets (admin)")
def list_tokens(
    bound: Bound,
    request: Request,
    after: Annotated[str | None, Query(description="The 'next' cursor of the last page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> TokenList:
    """Revoked and expired tokens included (their ``revoked_at``/``expires_at`` say so)."""
    found = access_service(request).list_tokens(
        actor=bound.principal,
        scope=bound.info.workspace_id,
        after=decode_cursor(after),
        limit=limit + 1,
    )
    page = found[:limit]
    return TokenList(
        tokens=[TokenFields.model_validate(_token(t)) for t in page],
        next=encode_cursor(page[-1].token_id) if len(found) > limit else None,
    )


@router.delete("/tokens/{token_id}", summary="Revoke a token of this workspace (admin)")
def revoke_token(
    bound: Bound,
    token_id: Annotated[str, Path(description="The token's 16-hex ID.")],
    request: Request,
) -> TokenOut:
    """Refused from then on (401); revoking again keeps the first time. 404 if not this workspace's."""
    record = access_service(request).revoke_token(token_id, actor=bound.principal)
    return TokenOut.model_validate(_token(record))


@router.get("/acl", summary="This workspace's ACL entries (admin)")
def list_acl(bound: Bound, request: Request) -> AclList:
    """Every entry by agent ID; the owner holds everything without one."""
    entries = access_service(request).list_acl(bound.info.workspace_id, actor=bound.principal)
    return AclList(entries=[AclEntryFields.model_validate(_acl(e)) for e in entries])


@router.put("/acl/{agent_id}", summary="Set an agent's permissions here (admin)")
def grant(bound: Bound, agent_id: AgentPath, body: AclGrant, request: Request) -> AclEntryOut:
    """Replaces the agent's entry with exactly ``permissions``."""
    entry = access_service(request).grant(
        bound.info.workspace_id,
        agent_id,
        parse_permissions(body.permissions),
        actor=bound.principal,
    )
    return AclEntryOut.model_validate(_acl(entry))


@router.delete("/acl/{agent_id}", summary="Remove an agent's ACL entry (admin)")
def revoke(bound: Bound, agent_id: AgentPath, request: Request) -> AclEntryOut:
    """The entry removed; 404 ``not_found`` when the agent had none."""
    entry = access_service(request).revoke(bound.info.workspace_id, agent_id, actor=bound.principal)
    return AclEntryOut.model_validate(_acl(entry))


@router.get("/agents", summary="The workspace's agents, registered or configured (read)")
def list_agents(bound: Bound) -> AgentList:
    """Sorted by agent ID."""
    agents = bound.api.list_agents(principal=bound.principal)
    return AgentList(agents=[AgentFields.model_validate(_agent(a)) for a in agents])


@router.put("/agents/{agent_id}", summary="Register or replace an agent (admin)")
def register_agent(bound: Bound, agent_id: AgentPath, body: AgentPut) -> AgentOut:
    """Its role decides what the agent holds here (reader, writer, synthesis)."""
    if body.generator is not None:
        bound.api.runtime.generators.get(body.generator)
    record = bound.api.register_agent(
        AgentRecord(
            agent_id,
            body.role,
            tuple(sorted(set(body.capabilities))),
            generator=body.generator,
            provider=dict(body.provider),
        ),
        principal=bound.principal,
    )
    return AgentOut.model_validate(_agent(record))


def _agent(record: AgentRecord) -> dict[str, object]:
    data = record.to_dict()
    data.pop("schema", None)
    return data
