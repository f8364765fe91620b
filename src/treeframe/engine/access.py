"""Tokens and ACLs: who a bearer token acts as, and what an agent holds in each workspace.

A token is ``tft_<token_id>_<secret>``: ``token_id`` is 16 random lowercase
hex digits, public, the store's row key; ``secret`` is 32 random bytes as 43
characters of unpadded base64url. The store keeps only the SHA-256 of the
secret, compared in constant time. A token acts as exactly one agent, within
one workspace (its ``scope``) or every workspace its agent holds rights in
(``scope`` None), and never beyond its ``permissions`` (its ceiling).

What agent A *holds* in workspace W: everything when A owns W; otherwise the
permissions of A's ACL entry in W, plus those of A's registered role in W's
agent registry (configured agents included). A caller's principal in W is
its token's ceiling intersected with that; a caller with nothing there (or W
outside the token's scope) is told ``workspace_not_found``, exactly as for a
workspace that does not exist.

Every token, ACL and API workspace write is one method of
:class:`AccessService`, called with the acting :class:`Principal` (an admin of
the workspace), a :class:`Bearer` (a token not bound to a workspace: creating
workspaces) or :data:`LOCAL_OWNER` (the CLI, whoever can open the store file),
so a wrapper (the audit log) sees each write as one call. ACLs and tokens are
access configuration: they never enter any hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

from treeframe.clock import format_instant
from treeframe.engine.agents import AgentRegistry
from treeframe.engine.audit import Auditor, Operation
from treeframe.engine.principal import Permission, Principal, authorize
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import (
    AccessDenied,
    Conflict,
    InvalidRequest,
    NotFound,
    Unauthorized,
    WorkspaceNotFound,
)
from treeframe.frames.frame import validate_label
from treeframe.hashing.ids import workspace_id
from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.values import AclEntry, TokenRecord, WorkspaceInfo, is_token_id

T = TypeVar("T")

__all__ = [
    "ALL_PERMISSIONS",
    "LOCAL_OWNER",
    "TOKEN_PREFIX",
    "AccessService",
    "Actor",
    "Bearer",
    "IssuedToken",
    "LocalOwner",
    "format_token",
    "hash_secret",
    "parse_duration",
    "parse_permissions",
    "split_token",
]

ALL_PERMISSIONS: Final = frozenset(Permission)
"""What a workspace's owner holds there: read, write, synthesize and admin."""

TOKEN_PREFIX: Final = "tft_"
SECRET_BYTES: Final = 32
_SECRET_CHARS: Final = 43  # unpadded base64url of 32 bytes
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
_DURATION = re.compile(r"([1-9][0-9]{0,5})([smhdw])")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_INVALID = "invalid bearer token"


class LocalOwner:
    """Type of :data:`LOCAL_OWNER`: whoever can open the store file (the CLI)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "LOCAL_OWNER"

    def __str__(self) -> str:
        return "the local owner"


LOCAL_OWNER: Final = LocalOwner()
"""The actor of CLI writes: it could change the store file anyway, so it may do anything."""


@dataclass(frozen=True, slots=True)
class Bearer:
    """A token's holder not yet bound to a workspace: its agent, scope and ceiling."""

    agent_id: str
    token_id: str
    scope: WorkspaceId | None
    permissions: frozenset[Permission]

    def __str__(self) -> str:
        return f"agent {self.agent_id!r}"


Actor = Principal | Bearer | LocalOwner
"""Who performs an access write (what the audit log records as its agent)."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: its stored record and the token string, shown once and never stored."""

    record: TokenRecord
    token: str


def parse_permissions(values: str | Iterable[str]) -> frozenset[Permission]:
    """Permissions from names (a comma-separated string or an iterable); InvalidRequest if bad."""
    names = values.split(",") if isinstance(values, str) else list(values)
    cleaned = [str(name).strip() for name in names if str(name).strip()]
    known = {p.value for p in Permission}
    unknown = sorted({name for name in cleaned if name not in known})
    if unknown:
        raise InvalidRequest(
            f"unknown permission {', '.join(map(repr, unknown))} "
            "(use read, write, synthesize, admin)"
        )
    if not cleaned:
        raise InvalidRequest("give at least one permission (read, write, synthesize, admin)")
    return frozenset(Permission(name) for name in cleaned)


def _names(permissions: Iterable[Permission]) -> tuple[str, ...]:
    return tuple(sorted(p.value for p in permissions))


def _stored(names: Iterable[str]) -> frozenset[Permission]:
    """Stored permission names back to permissions (unknown names grant nothing)."""
    known = {p.value for p in Permission}
    return frozenset(Permission(n) for n in names if n in known)


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``15m``, ``90s``, ``2w``; InvalidRequest for anything else."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidRequest(
            f"invalid duration {str(text)[:40]!r}: use a number and a unit, e.g. 30d, 12h, 15m"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def hash_secret(secret: str) -> str:
    """The stored form of a token's secret: SHA-256, hex."""
    return hashlib.sha256(secret.encode("ascii", errors="replace")).hexdigest()


def format_token(token_id: str, secret: str) -> str:
    """The token string a client sends as ``Authorization: Bearer <token>``."""
    return f"{TOKEN_PREFIX}{token_id}_{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed token string, else None.

    Split by position: the secret's base64url alphabet contains ``_`` too.
    """
    head = len(TOKEN_PREFIX)
    if not isinstance(token, str) or len(token) != head + 16 + 1 + _SECRET_CHARS:
        return None
    token_id, sep, secret = token[head : head + 16], token[head + 16], token[head + 17 :]
    if not token.startswith(TOKEN_PREFIX) or sep != "_" or not is_token_id(token_id):
        return None
    return (token_id, secret) if _SECRET.fullmatch(secret) else None


def _new_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _agent_of(actor: Actor) -> str | None:
    return None if isinstance(actor, LocalOwner) else actor.agent_id


_DUMMY_HASH: Final = hash_secret("0" * _SECRET_CHARS)


class AccessService:
    """Tokens, ACL entries and what callers hold, over one :class:`WorkspaceService`."""

    def __init__(self, workspaces: WorkspaceService) -> None:
        self.workspaces = workspaces
        self.store: StorageBackend = workspaces.store
        self.clock = workspaces.runtime.clock
        self.auditor = Auditor(self.store, self.clock)

    def _audited(
        self,
        operation: Operation,
        actor: Principal | LocalOwner,
        ws: WorkspaceId,
        fn: Callable[[], T],
    ) -> T:
        """Run the write ``fn`` with its entry in ``ws``'s audit log (refused ones too)."""
        principal = actor if isinstance(actor, Principal) else None
        return self.auditor.run(operation, principal, fn, workspace=ws, agent=_agent_of(actor))

    # -- authentication -------------------------------------------------------
    def authenticate(self, token: str) -> Bearer:
        """The bearer of ``token``; Unauthorized for a forged, expired or revoked one.

        A forged token (malformed, unknown ID, wrong secret) always gets the
        same message, and the secret's hash is compared in constant time
        whether or not the ID exists; expiry and revocation are only told to
        a caller who knows the secret.
        """
        parts = split_token(token)
        token_id, secret = parts if parts is not None else ("", "0" * _SECRET_CHARS)
        record = self.store.get_token(token_id) if parts is not None else None
        expected = record.secret_hash if record is not None else _DUMMY_HASH
        matches = hmac.compare_digest(hash_secret(secret), expected)
        if record is None or not matches:
            raise Unauthorized(_INVALID)
        if record.revoked_at is not None:
            raise Unauthorized(f"token {record.token_id} was revoked at {record.revoked_at}")
        if record.expires_at is not None and record.expires_at <= self.clock.now():
            raise Unauthorized(f"token {record.token_id} expired at {record.expires_at}")
        return Bearer(record.agent_id, record.token_id, record.scope, _stored(record.permissions))

    # -- what callers hold ----------------------------------------------------
    def held(self, agent_id: str, info: WorkspaceInfo) -> frozenset[Permission]:
        """Everything for the owner; else the ACL entry's permissions plus the registered role's."""
        if info.owner is not None and info.owner == agent_id:
            return ALL_PERMISSIONS
        held: set[Permission] = set()
        entry = self.store.get_acl(info.workspace_id, agent_id)
        if entry is not None:
            held |= _stored(entry.permissions)
        record = AgentRegistry(self.store, info.workspace_id, self.workspaces.agents).get(agent_id)
        if record is not None:
            held |= record.permissions
        return frozenset(held)

    def principal(self, bearer: Bearer, info: WorkspaceInfo) -> Principal:
        """The bearer's principal in ``info``'s workspace: its ceiling ∩ what its agent holds.

        ``workspace_not_found``, worded as for a missing workspace, when the
        workspace is outside the token's scope or the agent holds nothing there.
        """
        ws = info.workspace_id
        if bearer.scope is not None and bearer.scope != ws:
            raise WorkspaceNotFound(f"no workspace {ws}")
        permissions = bearer.permissions & self.held(bearer.agent_id, info)
        if not permissions:
            raise WorkspaceNotFound(f"no workspace {ws}")
        return Principal(bearer.agent_id, ws, permissions)

    def visible(
        self,
        bearer: Bearer,
        *,
        after: str | None = None,
        limit: int = 100,
        needed: Permission = Permission.READ,
    ) -> list[WorkspaceInfo]:
        """Up to ``limit`` live workspaces by name after ``after`` where the bearer holds ``needed``.

        Keyset-paged on the name: the store proposes the agent's candidates
        (owned, ACL-listed, registered) page by page and pages are refilled
        until ``limit`` visible ones are found, so a page is never short
        because of filtering. An agent declared in configuration is
        registered in every workspace, so all of them are candidates.
        """
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        if bearer.scope is not None:
            info = self.store.get_workspace(bearer.scope)
            if info is None or info.deleted_at is not None:
                return []
            if after is not None and info.name <= after:
                return []
            return [info] if self._holds(bearer, info, needed) else []
        found: list[WorkspaceInfo] = []
        cursor = after
        configured = bearer.agent_id in self.workspaces.agents
        while len(found) < limit:
            if configured:
                page = self.store.list_workspaces(after=cursor, limit=limit)
            else:
                page = self.store.list_workspaces_of_agent(
                    bearer.agent_id, after=cursor, limit=limit
                )
            found += [info for info in page if self._holds(bearer, info, needed)]
            if len(page) < limit:
                break
            cursor = page[-1].name
        return found[:limit]

    def _holds(self, bearer: Bearer, info: WorkspaceInfo, needed: Permission) -> bool:
        return needed in bearer.permissions and needed in self.held(bearer.agent_id, info)

    # -- workspaces -------------------------------------------------------------
    def create_workspace(
        self,
        name: str,
        *,
        description: str = "",
        actor: Bearer | LocalOwner,
        owner: str | None = None,
    ) -> tuple[WorkspaceInfo, bool]:
        """The workspace ``name``, created if absent: ``(info, created)``.

        A bearer needs a token reaching every workspace (no scope) with
        ``admin`` in its ceiling, and the new workspace is owned by its agent.
        An existing workspace is returned when the bearer holds something in
        it; otherwise the name is taken by a workspace it may not see:
        ``conflict``, telling nothing about it. The local owner names the
        ``owner`` (``token create`` makes the workspace owned by the token's agent).
        """
        if isinstance(actor, Bearer):
            if actor.scope is not None or Permission.ADMIN not in actor.permissions:
                raise AccessDenied(
                    "creating a workspace needs a token for all workspaces with admin"
                )
            owner = actor.agent_id
            existing = self.store.get_workspace(workspace_id(name)) if name else None
            if existing is not None:
                held = actor.permissions & self.held(actor.agent_id, existing)
                if not held or (existing.deleted_at is not None and Permission.ADMIN not in held):
                    raise Conflict(f"the workspace name {name!r} is not available")
        return self.workspaces.create(name, description=description, owner=owner)

    # -- tokens -------------------------------------------------------------------
    def create_token(
        self,
        *,
        actor: Principal | LocalOwner,
        agent_id: str,
        permissions: Iterable[Permission],
        scope: WorkspaceId | None,
        expires_in: timedelta | None = None,
    ) -> IssuedToken:
        """Make a token acting as ``agent_id``; the string is in the result only.

        An admin principal makes tokens for its own workspace only; the local
        owner makes any, including unscoped ones. The scoped workspace must exist.
        """

        def write() -> IssuedToken:
            validate_label(agent_id, "agent ID")
            perms = frozenset(permissions)
            if not perms:
                raise InvalidRequest("a token needs at least one permission")
            if isinstance(actor, Principal):
                if scope != actor.workspace:
                    raise AccessDenied(f"{actor} may only make tokens for its own workspace")
                authorize(actor, Permission.ADMIN)
            if scope is not None and self.store.get_workspace(scope) is None:
                raise WorkspaceNotFound(f"no workspace {scope} in store {self.store.url}")
            now = self.clock.now()
            expires_at = None
            if expires_in is not None:
                if expires_in <= timedelta(0):
                    raise InvalidRequest("a token's lifetime must be positive")
                expires_at = format_instant(_instant(now) + expires_in)
            secret = _new_secret()
            record = TokenRecord(
                token_id=secrets.token_hex(8),
                secret_hash=hash_secret(secret),
                agent_id=agent_id,
                scope=scope,
                permissions=_names(perms),
                created_at=now,
                expires_at=expires_at,
                revoked_at=None,
                created_by=_agent_of(actor),
            )
            self.store.put_token(record)
            return IssuedToken(record, format_token(record.token_id, secret))

        if scope is None:  # an all-workspaces token belongs to no workspace's log
            return write()
        return self._audited(Operation.TOKEN_CREATE, actor, scope, write)

    def list_tokens(
        self,
        *,
        actor: Principal | LocalOwner,
        scope: WorkspaceId | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[TokenRecord]:
        """Tokens by ID (secrets are never stored): of ``scope``, or every one for the local owner."""
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        if isinstance(actor, Principal):
            if scope != actor.workspace:
                raise AccessDenied(f"{actor} may only list tokens of its own workspace")
            authorize(actor, Permission.ADMIN)
        return self.store.list_tokens(scope, after=after, limit=limit)

    def revoke_token(self, token_id: str, *, actor: Principal | LocalOwner) -> TokenRecord:
        """Revoke a token now (again: keeps the first time); ``not_found`` if unknown or out of reach."""
        found = self.store.get_token(token_id) if is_token_id(token_id) else None
        ws = actor.workspace if isinstance(actor, Principal) else None
        ws = ws or (found.scope if found is not None else None)

        def write() -> TokenRecord:
            if isinstance(actor, Principal):
                authorize(actor, Permission.ADMIN)
            found = self.store.get_token(token_id) if is_token_id(token_id) else None
            if found is None or (isinstance(actor, Principal) and found.scope != actor.workspace):
                raise NotFound(f"no token {token_id[:40]}")
            revoked = self.store.revoke_token(token_id, self.clock.now())
            if revoked is None:
                raise NotFound(f"no token {token_id[:40]}")
            return revoked

        if ws is None:
            return write()
        return self._audited(Operation.TOKEN_REVOKE, actor, ws, write)

    # -- ACL --------------------------------------------------------------------
    def _require_admin(self, ws: WorkspaceId, actor: Principal | LocalOwner) -> None:
        if isinstance(actor, Principal):
            if actor.workspace != ws:
                raise AccessDenied(f"{actor} belongs to another workspace")
            authorize(actor, Permission.ADMIN)
        elif self.store.get_workspace(ws) is None:
            raise WorkspaceNotFound(f"no workspace {ws} in store {self.store.url}")

    def list_acl(self, ws: WorkspaceId, *, actor: Principal | LocalOwner) -> list[AclEntry]:
        """Every ACL entry of ``ws`` by agent ID (needs ``admin``)."""
        self._require_admin(ws, actor)
        return self.store.list_acl(ws)

    def grant(
        self,
        ws: WorkspaceId,
        agent_id: str,
        permissions: Iterable[Permission],
        *,
        actor: Principal | LocalOwner,
    ) -> AclEntry:
        """Set ``agent_id``'s ACL entry in ``ws`` to exactly ``permissions`` (needs ``admin``)."""
        validate_label(agent_id, "agent ID")
        perms = frozenset(permissions)
        if not perms:
            raise InvalidRequest("grant at least one permission (to remove an entry, revoke it)")

        def write() -> AclEntry:
            self._require_admin(ws, actor)
            entry = AclEntry(agent_id, _names(perms), self.clock.now(), _agent_of(actor))
            self.store.put_acl(ws, entry)
            return entry

        return self._audited(Operation.ACL_GRANT, actor, ws, write)

    def revoke(self, ws: WorkspaceId, agent_id: str, *, actor: Principal | LocalOwner) -> AclEntry:
        """Remove ``agent_id``'s ACL entry from ``ws`` (needs ``admin``); the entry removed."""

        def write() -> AclEntry:
            self._require_admin(ws, actor)
            entry = self.store.get_acl(ws, agent_id)
            if entry is None or not self.store.delete_acl(ws, agent_id):
                raise NotFound(f"agent {agent_id[:128]!r} has no ACL entry in this workspace")
            return entry

        return self._audited(Operation.ACL_REVOKE, actor, ws, write)
