/**
 * treeframe's error hierarchy in TypeScript: one class per stable code of docs/ERRORS.md.
 *
 * The server answers every failure with the envelope
 * `{"error": {"error_type", "code", "message", "request_id", ...data}}`; the client raises
 * the class of its `code` (an unknown code raises `TreeframeError` carrying that code), so
 * callers catch by class (`instanceof NodeNotFound`, `instanceof NotFound`) and read the
 * error's own data from `data`. The tree mirrors `treeframe.errors`:
 *
 *     TreeframeError (internal_error)
 *      +-- InvalidRequest > InvalidPath, InvalidId, InvalidFrame, InvalidViewPolicy,
 *      |     InvalidPolicy, VersionNotSupported, SchemaValidationFailed, PayloadTooLarge,
 *      |     MethodNotAllowed, SnapshotInvalid
 *      +-- NotFound > NodeNotFound, FrameNotFound, WorkspaceNotFound, JobNotFound
 *      +-- Unauthorized, RateLimited > QueueFull, ServerBusy, AccessDenied
 *      +-- Conflict > ConcurrentUpdate, WorkspaceDeleted, PreconditionFailed, ImportConflict
 *      +-- SynthesisFailed, RegenerationFailed, IncompleteTree, JobInterrupted
 *      +-- ScanError > FileChangedDuringScan, EntrySkipped
 *      +-- IntegrityError > RecordMismatch
 *      +-- ConfigError
 *      +-- ProviderError > ProviderRateLimited, ProviderAuthFailed, ProviderUnavailable,
 *      |     ProviderRequestInvalid, ProviderResponseInvalid
 *      +-- StorageError > StoreLocked, StoreCorrupt, StoreNotFound, BackendUnavailable
 */

/** What an error carries besides its message. */
export interface ErrorDetails {
  /** The HTTP status of the answer (undefined for an error raised by the client itself). */
  status?: number | undefined;
  /** The request's `X-Request-ID`, when a server answered. */
  requestId?: string | undefined;
  /** Every key of the envelope's `error` object (the error's own data among them). */
  data?: Record<string, unknown> | undefined;
  cause?: unknown;
}

/** Root of every error the client raises on purpose; `code` is the stable machine code. */
export class TreeframeError extends Error {
  static readonly code: string = "internal_error";
  readonly code: string;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly data: Record<string, unknown>;

  constructor(message: string, details: ErrorDetails & { code?: string } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = details.code ?? (new.target as typeof TreeframeError).code;
    this.status = details.status;
    this.requestId = details.requestId;
    this.data = details.data ?? {};
  }

  /** Seconds to wait before retrying, when the server said (`retry_after` in the envelope). */
  get retryAfter(): number | undefined {
    const value = this.data["retry_after"];
    return typeof value === "number" ? value : undefined;
  }
}

export class InvalidRequest extends TreeframeError {
  static override readonly code: string = "invalid_request";
}
export class InvalidPath extends InvalidRequest {
  static override readonly code: string = "invalid_path";
}
export class InvalidId extends InvalidRequest {
  static override readonly code: string = "invalid_id";
}
export class InvalidFrame extends InvalidRequest {
  static override readonly code: string = "invalid_frame";
}
export class InvalidViewPolicy extends InvalidRequest {
  static override readonly code: string = "invalid_view_policy";
}
export class InvalidPolicy extends InvalidRequest {
  static override readonly code: string = "invalid_policy";
}
export class VersionNotSupported extends InvalidRequest {
  static override readonly code: string = "version_not_supported";
}
export class SchemaValidationFailed extends InvalidRequest {
  static override readonly code: string = "schema_validation_failed";
}
export class PayloadTooLarge extends InvalidRequest {
  static override readonly code: string = "payload_too_large";
}
export class MethodNotAllowed extends InvalidRequest {
  static override readonly code: string = "method_not_allowed";
}
export class SnapshotInvalid extends InvalidRequest {
  static override readonly code: string = "snapshot_invalid";
}
export class NotFound extends TreeframeError {
  static override readonly code: string = "not_found";
}
export class NodeNotFound extends NotFound {
  static override readonly code: string = "node_not_found";
}
export class FrameNotFound extends NotFound {
  static override readonly code: string = "frame_not_found";
}
export class WorkspaceNotFound extends NotFound {
  static override readonly code: string = "workspace_not_found";
}
export class JobNotFound extends NotFound {
  static override readonly code: string = "job_not_found";
}
export class Unauthorized extends TreeframeError {
  static override readonly code: string = "unauthorized";
}
export class RateLimited extends TreeframeError {
  static override readonly code: string = "rate_limited";
}
export class QueueFull extends RateLimited {
  static override readonly code: string = "queue_full";
}
export class ServerBusy extends TreeframeError {
  static override readonly code: string = "server_busy";
}
export class AccessDenied extends TreeframeError {
  static override readonly code: string = "access_denied";
}
export class Conflict extends TreeframeError {
  static override readonly code: string = "conflict";
}
export class ConcurrentUpdate extends Conflict {
  static override readonly code: string = "concurrent_update";
}
export class WorkspaceDeleted extends Conflict {
  static override readonly code: string = "workspace_deleted";
}
export class PreconditionFailed extends Conflict {
  static override readonly code: string = "precondition_failed";
}
export class ImportConflict extends Conflict {
  static override readonly code: string = "import_conflict";
}
export class SynthesisFailed extends TreeframeError {
  static override readonly code: string = "synthesis_failed";
}
export class RegenerationFailed extends TreeframeError {
  static override readonly code: string = "regeneration_failed";
}
export class IncompleteTree extends TreeframeError {
  static override readonly code: string = "incomplete_tree";
}
export class JobInterrupted extends TreeframeError {
  static override readonly code: string = "job_interrupted";
}
export class ScanError extends TreeframeError {
  static override readonly code: string = "scan_failed";
}
export class FileChangedDuringScan extends ScanError {
  static override readonly code: string = "file_changed_during_scan";
}
export class EntrySkipped extends ScanError {
  static override readonly code: string = "entry_skipped";
}

/**
 * A recomputed hash disagrees with the one received (`expected`: what the bytes hash to,
 * `got`: what was claimed). The verify layer raises it for every record, frame, content
 * or proof a server sends that does not check out; it also maps the server's own code.
 */
export class IntegrityError extends TreeframeError {
  static override readonly code: string = "integrity_error";

  constructor(
    message: string,
    details: ErrorDetails & { code?: string; expected?: string; got?: string } = {},
  ) {
    const data = { ...(details.data ?? {}) };
    if (details.expected !== undefined) data["expected"] = details.expected;
    if (details.got !== undefined) data["got"] = details.got;
    super(message, { ...details, data });
  }

  /** The value recomputed from what was received. */
  get expected(): string | undefined {
    const value = this.data["expected"];
    return typeof value === "string" ? value : undefined;
  }

  /** The value the server claimed. */
  get got(): string | undefined {
    const value = this.data["got"];
    return typeof value === "string" ? value : undefined;
  }
}
export class RecordMismatch extends IntegrityError {
  static override readonly code: string = "record_mismatch";
}
export class ConfigError extends TreeframeError {
  static override readonly code: string = "config_error";
}
export class ProviderError extends TreeframeError {
  static override readonly code: string = "provider_failed";
}
export class ProviderRateLimited extends ProviderError {
  static override readonly code: string = "provider_rate_limited";
}
export class ProviderAuthFailed extends ProviderError {
  static override readonly code: string = "provider_auth_failed";
}
export class ProviderUnavailable extends ProviderError {
  static override readonly code: string = "provider_unavailable";
}
export class ProviderRequestInvalid extends ProviderError {
  static override readonly code: string = "provider_request_invalid";
}
export class ProviderResponseInvalid extends ProviderError {
  static override readonly code: string = "provider_response_invalid";
}
export class StorageError extends TreeframeError {
  static override readonly code: string = "storage_error";
}
export class StoreLocked extends StorageError {
  static override readonly code: string = "store_locked";
}
export class StoreCorrupt extends StorageError {
  static override readonly code: string = "store_corrupt";
}
export class StoreNotFound extends StorageError {
  static override readonly code: string = "store_not_found";
}
export class BackendUnavailable extends StorageError {
  static override readonly code: string = "backend_unavailable";
}

/** Every class, keyed by its stable code (the `code` column of docs/ERRORS.md). */
export const ERROR_CLASSES: Readonly<Record<string, typeof TreeframeError>> = Object.freeze(
  Object.fromEntries(
    [
      TreeframeError, InvalidRequest, InvalidPath, InvalidId, InvalidFrame, InvalidViewPolicy,
      InvalidPolicy, VersionNotSupported, SchemaValidationFailed, PayloadTooLarge,
      MethodNotAllowed, SnapshotInvalid, NotFound, NodeNotFound, FrameNotFound,
      WorkspaceNotFound, JobNotFound, Unauthorized, RateLimited, QueueFull, ServerBusy,
      AccessDenied, Conflict, ConcurrentUpdate, WorkspaceDeleted, PreconditionFailed,
      ImportConflict, SynthesisFailed, RegenerationFailed, IncompleteTree, JobInterrupted,
      ScanError, FileChangedDuringScan, EntrySkipped, IntegrityError, RecordMismatch,
      ConfigError, ProviderError, ProviderRateLimited, ProviderAuthFailed, ProviderUnavailable,
      ProviderRequestInvalid, ProviderResponseInvalid, StorageError, StoreLocked, StoreCorrupt,
      StoreNotFound, BackendUnavailable,
    ].map((cls) => [cls.code, cls]),
  ),
);

/** The class a body that is not the envelope (a proxy's page) maps to, by status. */
function classForStatus(status: number): typeof TreeframeError {
  switch (status) {
    case 401:
      return Unauthorized;
    case 403:
      return AccessDenied;
    case 404:
      return NotFound;
    case 503:
      return BackendUnavailable;
    default:
      return TreeframeError;
  }
}

/**
 * The error an HTTP failure stands for: the envelope's class by `code`, carrying all its
 * keys in `data`; a body that is not an envelope maps by status.
 */
export function errorFromResponse(status: number, body: unknown): TreeframeError {
  const envelope =
    typeof body === "object" && body !== null ? (body as Record<string, unknown>)["error"] : null;
  if (typeof envelope === "object" && envelope !== null) {
    const data = envelope as Record<string, unknown>;
    const code = typeof data["code"] === "string" ? data["code"] : "internal_error";
    const message = typeof data["message"] === "string" ? data["message"] : `HTTP ${status}`;
    const requestId = typeof data["request_id"] === "string" ? data["request_id"] : undefined;
    const cls = ERROR_CLASSES[code] ?? TreeframeError;
    return new cls(message, { code, status, requestId, data });
  }
  const cls = classForStatus(status);
  return new cls(`HTTP ${status} without an error envelope`, { status });
}
