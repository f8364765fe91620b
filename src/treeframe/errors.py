"""The one exception hierarchy of treeframe, with stable machine codes.

Library, CLI, REST API and Python client share these classes; the ``code`` of each
class is part of the public contract and never changes once released
(see ``docs/ERRORS.md``)::

    TreeframeError                      internal_error              500
     +-- InvalidRequest                 invalid_request             400
     |    +-- InvalidPath               invalid_path                400
     |    +-- InvalidId                 invalid_id                  400
     |    +-- InvalidFrame              invalid_frame               400
     |    +-- InvalidViewPolicy         invalid_view_policy         400
     |    +-- InvalidPolicy             invalid_policy              400
     |    +-- VersionNotSupported       version_not_supported       400
     |    +-- SchemaValidationFailed    schema_validation_failed    422
     |    +-- PayloadTooLarge           payload_too_large           413
     |    +-- MethodNotAllowed          method_not_allowed          405
     |    +-- SnapshotInvalid           snapshot_invalid            422
     +-- NotFound                       not_found                   404
     |    +-- NodeNotFound              node_not_found              404
     |    +-- FrameNotFound             frame_not_found             404
     |    +-- WorkspaceNotFound         workspace_not_found         404
     |    +-- JobNotFound               job_not_found               404
     +-- Unauthorized                   unauthorized                401
     +-- RateLimited                    rate_limited                429
     |    +-- QueueFull                 queue_full                  429
     +-- ServerBusy                     server_busy                 503
     +-- AccessDenied                   access_denied               403
     +-- Conflict                       conflict                    409
     |    +-- ConcurrentUpdate          concurrent_update           409
     |    +-- WorkspaceDeleted          workspace_deleted           409
     |    +-- PreconditionFailed        precondition_failed         412
     |    +-- ImportConflict            import_conflict             409
     +-- SynthesisFailed                synthesis_failed            422
     +-- RegenerationFailed             regeneration_failed         422
     +-- IncompleteTree                 incomplete_tree             422
     +-- JobInterrupted                 job_interrupted             500
     +-- ScanError                      scan_failed                 500
     |    +-- FileChangedDuringScan     file_changed_during_scan    409
     |    +-- EntrySkipped              entry_skipped               422
     +-- IntegrityError                 integrity_error             500
     |    +-- RecordMismatch            record_mismatch             422
     +-- ConfigError                    config_error                500
     +-- ProviderError                  provider_failed             502
     |    +-- ProviderRateLimited       provider_rate_limited       503
     |    +-- ProviderAuthFailed        provider_auth_failed        502
     |    +-- ProviderUnavailable       provider_unavailable        503
     |    +-- ProviderRequestInvalid    provider_request_invalid    502
     |    +-- ProviderResponseInvalid   provider_response_invalid   502
     +-- StorageError                   storage_error               500
          +-- StoreLocked               store_locked                503
          +-- StoreCorrupt              store_corrupt               500
          +-- StoreNotFound             store_not_found             500
          +-- BackendUnavailable        backend_unavailable         503

Each class also carries ``http_status``, the status a REST layer answers with
(the third column), so the API maps every error in one place: ``401`` is "who
are you" (:class:`Unauthorized`), ``403`` "you may not" (:class:`AccessDenied`),
``409`` a lost race the caller retries with fresh state (:class:`Conflict`),
``503`` a store that is busy or out of reach and may come back. Subclasses
inherit their parent's status unless they say otherwise.
"""

from __future__ import annotations

import errno
from typing import TypeVar

__all__ = [
    "AccessDenied",
    "BackendUnavailable",
    "ConcurrentUpdate",
    "ConfigError",
    "Conflict",
    "EntrySkipped",
    "FileChangedDuringScan",
    "FrameNotFound",
    "ImportConflict",
    "IncompleteTree",
    "IntegrityError",
    "InvalidFrame",
    "InvalidId",
    "InvalidPath",
    "InvalidPolicy",
    "InvalidRequest",
    "InvalidViewPolicy",
    "JobInterrupted",
    "JobNotFound",
    "MethodNotAllowed",
    "NodeNotFound",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ProviderAuthFailed",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderRequestInvalid",
    "ProviderResponseInvalid",
    "ProviderUnavailable",
    "QueueFull",
    "RateLimited",
    "RecordMismatch",
    "RegenerationFailed",
    "ScanError",
    "SchemaValidationFailed",
    "ServerBusy",
    "SnapshotInvalid",
    "StorageError",
    "StoreCorrupt",
    "StoreLocked",
    "StoreNotFound",
    "SynthesisFailed",
    "TreeframeError",
    "Unauthorized",
    "VersionNotSupported",
    "WorkspaceDeleted",
    "WorkspaceNotFound",
    "from_os_error",
    "os_error_reason",
]


class TreeframeError(Exception):
    """Base of every error treeframe raises on purpose."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(TreeframeError):
    """The caller asked for something malformed; nothing was changed."""

    code = "invalid_request"
    http_status = 400


class InvalidPath(InvalidRequest):
    """A path is outside the workspace, malformed, or has a name that is not valid UTF-8."""

    code = "invalid_path"


class InvalidId(InvalidRequest):
    """A NodeID, FrameID or hash is not 64 lowercase hex characters."""

    code = "invalid_id"


class InvalidFrame(InvalidRequest):
    """A frame's type, agent, basis or content breaks the frame rules."""

    code = "invalid_frame"


class InvalidViewPolicy(InvalidRequest):
    """A view policy asks for an unknown ordering or more frames than the hard cap."""

    code = "invalid_view_policy"


class InvalidPolicy(InvalidRequest):
    """An unknown synthesis policy or composition source, or bad policy parameters."""

    code = "invalid_policy"


class VersionNotSupported(InvalidRequest):
    """A version this release cannot serve: a store schema (newer, or too old to upgrade), later an API version.

    ``supported`` lists the versions it can serve, as strings. A 400 like
    every ``InvalidRequest``: over HTTP it answers a client asking for a
    version it does not speak; a server refuses a too-new store at start-up.
    """

    code = "version_not_supported"

    def __init__(self, message: str, *, supported: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.supported = supported


class SchemaValidationFailed(InvalidRequest):
    """A request's body, query or path parameters do not match the documented schema.

    ``errors`` lists every bad field as ``{"field", "location", "message"}``
    (``field`` dotted, ``location`` one of body, query, path, header), so a
    client fixes them all at once instead of one per round trip. 422, not
    400: the request was well-formed HTTP and JSON, its content was not.
    """

    code = "schema_validation_failed"
    http_status = 422

    def __init__(self, message: str, *, errors: tuple[dict[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors


class PayloadTooLarge(InvalidRequest):
    """A request body is larger than the server accepts (``limit`` bytes); it was not read whole."""

    code = "payload_too_large"
    http_status = 413

    def __init__(self, message: str, *, limit: int = 0) -> None:
        super().__init__(message)
        self.limit = limit


class MethodNotAllowed(InvalidRequest):
    """The route exists but not for this HTTP method; ``allowed`` lists the methods it has."""

    code = "method_not_allowed"
    http_status = 405

    def __init__(self, message: str, *, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.allowed = allowed


class Unauthorized(TreeframeError):
    """Who are you: the caller is unknown (an unregistered agent) or not authenticated."""

    code = "unauthorized"
    http_status = 401


class RateLimited(TreeframeError):
    """Too many requests: the caller's rate limit is spent; ``retry_after`` says for how long (s)."""

    code = "rate_limited"
    http_status = 429
    retry_after: float

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueFull(RateLimited):
    """The server's queue of synthesis/regeneration work is full; retry after ``retry_after`` s."""

    code = "queue_full"


class ServerBusy(TreeframeError):
    """This server process has as many requests in flight as it takes; retry after ``retry_after`` s."""

    code = "server_busy"
    http_status = 503
    retry_after: float

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AccessDenied(TreeframeError):
    """You may not: the caller is known but lacks the permission the operation needs."""

    code = "access_denied"
    http_status = 403


class Conflict(TreeframeError):
    """The request lost to the current state of the store; retry with fresh state."""

    code = "conflict"
    http_status = 409


class SynthesisFailed(TreeframeError):
    """A synthesis could not be built (missing child frames under ``fail``, a policy error)."""

    code = "synthesis_failed"
    http_status = 422

    def __init__(self, message: str, *, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class RegenerationFailed(TreeframeError):
    """A regeneration could not recompute a frame it set out to recompute."""

    code = "regeneration_failed"
    http_status = 422


class NotFound(TreeframeError):
    """A record addressed by ID or path does not exist."""

    code = "not_found"
    http_status = 404


class NodeNotFound(NotFound):
    """No NodeRecord with this ID (or at this path in the current root)."""

    code = "node_not_found"


class FrameNotFound(NotFound):
    """No frame with this ID in the workspace."""

    code = "frame_not_found"


class WorkspaceNotFound(NotFound):
    """No treeframe workspace at or above the given directory."""

    code = "workspace_not_found"


class JobNotFound(NotFound):
    """No job with this ID that the caller may see on this server instance (``GET /v1/jobs/{id}``)."""

    code = "job_not_found"


class JobInterrupted(TreeframeError):
    """A background job's server process died before the job finished; its outcome is unknown."""

    code = "job_interrupted"


class ScanError(TreeframeError):
    """A scan could not read the tree; the current root did not move."""

    code = "scan_failed"


class FileChangedDuringScan(ScanError):
    """A file vanished or changed while it was being hashed."""

    code = "file_changed_during_scan"
    http_status = 409


class EntrySkipped(ScanError):
    """A strict scan met an entry a normal scan would skip; nothing was recorded.

    ``path`` is the entry's escaped workspace-relative path and ``reason`` its
    skip reason code (``non_utf8_name``, ``unreadable_file``, ... see docs/CLI.md).
    """

    code = "entry_skipped"
    http_status = 422

    def __init__(self, message: str, *, path: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


class IntegrityError(TreeframeError):
    """A recomputed hash disagrees with the stored one."""

    code = "integrity_error"

    def __init__(self, message: str, *, expected: str = "", got: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.got = got


class ConfigError(TreeframeError):
    """A configuration value or store URL is invalid."""

    code = "config_error"


class ProviderError(TreeframeError):
    """A model provider failed to produce a completion; ``provider`` names the configured one.

    502 over HTTP: the request was fine, the model behind the server was not.
    Subclasses say whether retrying later can help (rate limited, unavailable)
    or the configuration must change (auth failed, request refused).
    """

    code = "provider_failed"
    http_status = 502

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message)
        self.provider = provider


class ProviderRateLimited(ProviderError):
    """The provider answered 429 on every retry; ``retry_after`` says when it may take more (s)."""

    code = "provider_rate_limited"
    http_status = 503
    retry_after: float

    def __init__(self, message: str, *, provider: str = "", retry_after: float = 1.0) -> None:
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class ProviderAuthFailed(ProviderError):
    """The provider refused the credentials (401/403), or none is configured where one is needed."""

    code = "provider_auth_failed"


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, timed out, or answered 5xx on every retry."""

    code = "provider_unavailable"
    http_status = 503
    retry_after: float

    def __init__(self, message: str, *, provider: str = "", retry_after: float = 1.0) -> None:
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class ProviderRequestInvalid(ProviderError):
    """The provider refused the request itself (4xx: unknown model, prompt too long)."""

    code = "provider_request_invalid"


class ProviderResponseInvalid(ProviderError):
    """The provider answered with something that is not a completion of its wire format."""

    code = "provider_response_invalid"


class StorageError(TreeframeError):
    """The storage backend failed."""

    code = "storage_error"


class StoreLocked(StorageError):
    """The store stayed locked by another writer past the busy timeout."""

    code = "store_locked"
    http_status = 503


class StoreCorrupt(StorageError):
    """The store's files are damaged or are not a treeframe store."""

    code = "store_corrupt"


class StoreNotFound(StorageError):
    """The store does not exist: only ``init`` creates one, nothing recreates it silently."""

    code = "store_not_found"


class BackendUnavailable(StorageError):
    """A backend's driver is not installed, or its service or medium is out of reach.

    ``checks`` is set only by readiness (``/v1/health/ready``): every
    dependency it probed, by name, as ``{"ok", "duration_ms", "error"}``, so
    a 503 says which one failed and why. Other raisers leave it unset, and
    their envelopes carry no ``checks`` key.
    """

    code = "backend_unavailable"
    http_status = 503
    checks: dict[str, dict[str, object]]

    def __init__(self, message: str, *, checks: dict[str, dict[str, object]] | None = None) -> None:
        super().__init__(message)
        if checks is not None:
            self.checks = checks


class ConcurrentUpdate(Conflict):
    """A compare-and-set on a pointer lost a race; retry with fresh state."""

    code = "concurrent_update"

    def __init__(self, message: str, *, expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class WorkspaceDeleted(Conflict):
    """The workspace exists but is tombstoned: restore it before using (or re-creating) it."""

    code = "workspace_deleted"


class RecordMismatch(IntegrityError):
    """A pushed record's NodeID (or a child's path) disagrees with what its fields hash to.

    ``node_id`` is the ID the record claims, ``expected`` the ID recomputed
    from its hashed fields, ``got`` what the record said, ``index`` its
    position in the batch. 422, not 500: the sender's data is wrong, the
    store is fine, and nothing of the batch was stored.
    """

    code = "record_mismatch"
    http_status = 422

    def __init__(
        self,
        message: str,
        *,
        expected: str = "",
        got: str = "",
        node_id: str = "",
        index: int = -1,
    ) -> None:
        super().__init__(message, expected=expected, got=got)
        self.node_id = node_id
        self.index = index


class IncompleteTree(TreeframeError):
    """A directory (or a pushed root) names nodes the store does not hold yet; ``missing`` lists some.

    A stored directory implies its whole subtree is stored, so a push sends
    children before parents and moves the root only once the root is stored.
    """

    code = "incomplete_tree"
    http_status = 422

    def __init__(self, message: str, *, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


def os_error_reason(exc: OSError) -> str:
    """The OS's description of ``exc``, lower-cased (``"permission denied"``), never a repr."""
    if exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    if exc.errno is not None:
        return errno.errorcode.get(exc.errno, f"errno {exc.errno}")
    return str(exc) or type(exc).__name__


_E = TypeVar("_E", bound="TreeframeError")


def from_os_error(exc: OSError, what: str, error: type[_E]) -> _E:
    """The treeframe error for an OSError met while doing ``what`` (``"cannot read src/a.txt"``).

    The one place an ``OSError`` becomes a treeframe error, so every message
    reads ``"<what>: <reason>"`` and no raw ``OSError`` (exit 70, a traceback)
    escapes. The caller picks the class from what failed: a scan passes
    :class:`ScanError`, a file named on the command line :class:`InvalidRequest`.
    Raise it ``from exc`` to keep the cause for debugging.
    """
    return error(f"{what}: {os_error_reason(exc)}")


class PreconditionFailed(Conflict):
    """A conditional write (HTTP ``If-Match``) found another current head than the one it named.

    ``expected`` is the head the caller named (empty: none yet), ``actual``
    the current one (empty: none). Nothing was written; read, then retry.
    """

    code = "precondition_failed"
    http_status = 412

    def __init__(self, message: str, *, expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class SnapshotInvalid(InvalidRequest):
    """A snapshot archive failed verification; ``problems`` lists every problem found.

    Raised by import (nothing is written) and by the archive reader for a
    structural fault it cannot read past (a hostile or truncated archive).
    Each problem is ``{"code", "where", "detail"}``: see docs/SCHEMAS.md §15.5.
    """

    code = "snapshot_invalid"
    http_status = 422

    def __init__(self, message: str, *, problems: tuple[dict[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class ImportConflict(Conflict):
    """An import would overwrite a head, root or agent the target holds differently.

    Nothing was written; ``conflicts`` lists every one as ``{"kind", "key", "archive", "target"}``.
    """

    code = "import_conflict"

    def __init__(self, message: str, *, conflicts: tuple[dict[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.conflicts = conflicts
