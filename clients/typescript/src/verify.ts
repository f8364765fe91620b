/**
 * The verify layer: everything a server sends is recomputed here and refused when it lies.
 *
 * NodeIDs are recomputed from a record's hashed fields (§3), FrameIDs from a frame's
 * (§7), content hashes from the bytes (§2), proofs walked up to their root (§9) and
 * workspace IDs derived from names (§10). A mismatch is an `IntegrityError` naming what
 * was expected (recomputed) and what was got (claimed); a record too malformed to
 * recompute is one too, since the server promised a well-formed record.
 */

import { IntegrityError, TreeframeError } from "./errors.js";
import { compareBytes, fromBase64, isHexId, utf8 } from "./encoding.js";
import {
  type Basis,
  auditEntryHash,
  basisHash,
  contentHash,
  dirNodeId,
  fileNodeId,
  frameId,
  symlinkNodeId,
  workspaceId,
} from "./hashing.js";
import { frameSetRoot, type MembershipProof, proofRoot } from "./frameSet.js";

/** A `node/1` record as served (fields that do not apply to its kind may be null). */
export interface NodeRecordLike {
  schema?: string | null;
  node_id: string;
  path: string;
  kind: string;
  content_hash?: string | null;
  size?: number | null;
  executable?: boolean | null;
  target?: string | null;
  children?: readonly (readonly string[])[] | null;
}

/** The basis object of a `frame/1` record as served (non-applicable fields null). */
export interface BasisLike {
  kind: string;
  node_id?: string | null;
  frame_id?: string | null;
  child_frames?: readonly string[] | null;
  policy_id?: string | null;
  params?: Record<string, unknown> | null;
}

/** The hashed and checked fields of a `frame/1` record as served. */
export interface FrameRecordLike {
  frame_id: string;
  node_id: string;
  frame_type: string;
  agent_id: string;
  basis: BasisLike;
  content_hash: string;
  size?: number;
}

/** A served frame: its record plus its content (`content_b64` when not UTF-8). */
export interface ServedFrameLike extends FrameRecordLike {
  content: string;
  content_b64?: string | null;
}

function malformed(what: string, why: string): IntegrityError {
  return new IntegrityError(`${what} is malformed: ${why}`);
}

function mismatch(what: string, expected: string, got: string): IntegrityError {
  return new IntegrityError(`${what}: recomputed ${expected}, server sent ${got}`, { expected, got });
}

function requireHex(value: unknown, what: string): string {
  if (!isHexId(value)) throw malformed(what, `not 64 lowercase hex: ${JSON.stringify(value)}`);
  return value;
}

function absent(record: object, keys: readonly string[], what: string): void {
  for (const key of keys) {
    const value = (record as Record<string, unknown>)[key];
    if (value !== undefined && value !== null) throw malformed(what, `${key} does not belong to it`);
  }
}

/** Runs `fn`, turning a hashing refusal (bad label, lone surrogate) into an IntegrityError. */
function recompute<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof IntegrityError || !(error instanceof TreeframeError)) throw error;
    throw malformed(what, error.message);
  }
}

/** The NodeID a record's hashed fields give (§3), checking the fields' types. */
export function recomputeNodeId(record: NodeRecordLike): string {
  const what = `node record ${JSON.stringify(record.path)}`;
  if (record.schema !== undefined && record.schema !== null && record.schema !== "node/1") {
    throw malformed(what, `schema ${JSON.stringify(record.schema)} is not node/1`);
  }
  if (typeof record.path !== "string") throw malformed(what, "path is not a string");
  switch (record.kind) {
    case "file": {
      const hash = requireHex(record.content_hash, `${what} content_hash`);
      if (typeof record.executable !== "boolean") throw malformed(what, "executable is not a boolean");
      if (!Number.isInteger(record.size) || (record.size as number) < 0) {
        throw malformed(what, "size is not an integer >= 0");
      }
      absent(record, ["target", "children"], what);
      return recompute(what, () => fileNodeId(record.path, hash, record.executable as boolean));
    }
    case "symlink": {
      if (typeof record.target !== "string") throw malformed(what, "target is not a string");
      absent(record, ["content_hash", "size", "executable", "children"], what);
      return recompute(what, () => symlinkNodeId(record.path, record.target as string));
    }
    case "dir": {
      const children = record.children;
      if (!Array.isArray(children)) throw malformed(what, "children is not an array");
      absent(record, ["content_hash", "size", "executable", "target"], what);
      let previous: Uint8Array | undefined;
      const pairs = children.map((pair: readonly string[]) => {
        if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string") {
          throw malformed(what, "children must be [name, NodeID] pairs");
        }
        const [name, child] = pair as [string, string];
        if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
          throw malformed(what, `child name ${JSON.stringify(name)} is not a path component`);
        }
        const key = recompute(what, () => utf8(name));
        if (previous !== undefined && compareBytes(previous, key) >= 0) {
          throw malformed(what, "children are not sorted by UTF-8 name bytes without repeats");
        }
        previous = key;
        return [name, requireHex(child, `${what} child ${JSON.stringify(name)}`)] as const;
      });
      return recompute(what, () => dirNodeId(record.path, pairs));
    }
    default:
      throw malformed(what, `unknown kind ${JSON.stringify(record.kind)}`);
  }
}

/** The record, once its NodeID is the hash of its fields; IntegrityError otherwise. */
export function verifyNodeRecord<R extends NodeRecordLike>(record: R): R {
  const expected = recomputeNodeId(record);
  if (expected !== record.node_id) throw mismatch(`NodeID of ${JSON.stringify(record.path)}`, expected, String(record.node_id));
  return record;
}

/** The basis a served basis object stands for, refusing fields that do not belong to its kind. */
export function parseBasis(basis: BasisLike): Basis {
  const what = "frame basis";
  if (typeof basis !== "object" || basis === null) throw malformed(what, "not an object");
  switch (basis.kind) {
    case "node":
      absent(basis, ["frame_id", "child_frames", "policy_id", "params"], what);
      return { kind: "node", node_id: requireHex(basis.node_id, "basis node_id") };
    case "frame":
      absent(basis, ["node_id", "child_frames", "policy_id", "params"], what);
      return { kind: "frame", frame_id: requireHex(basis.frame_id, "basis frame_id") };
    case "node+frame":
      absent(basis, ["child_frames", "policy_id", "params"], what);
      return {
        kind: "node+frame",
        node_id: requireHex(basis.node_id, "basis node_id"),
        frame_id: requireHex(basis.frame_id, "basis frame_id"),
      };
    case "synthesis": {
      absent(basis, ["node_id", "frame_id"], what);
      if (!Array.isArray(basis.child_frames)) throw malformed(what, "child_frames is not an array");
      if (typeof basis.policy_id !== "string") throw malformed(what, "policy_id is not a string");
      const params = basis.params;
      if (typeof params !== "object" || params === null || Array.isArray(params)) {
        throw malformed(what, "params is not an object");
      }
      return {
        kind: "synthesis",
        child_frames: basis.child_frames.map((f) => requireHex(f, "basis child frame")),
        policy_id: basis.policy_id,
        params,
      };
    }
    default:
      throw malformed(what, `unknown kind ${JSON.stringify(basis.kind)}`);
  }
}

/** The FrameID a frame record's hashed fields give (§7). */
export function recomputeFrameId(frame: FrameRecordLike): string {
  const what = `frame ${JSON.stringify(frame.frame_id)}`;
  const basis = parseBasis(frame.basis);
  return recompute(what, () =>
    frameId({
      node_id: requireHex(frame.node_id, `${what} node_id`),
      frame_type: frame.frame_type,
      agent_id: frame.agent_id,
      basis_hash: basisHash(basis),
      content_hash: requireHex(frame.content_hash, `${what} content_hash`),
    }),
  );
}

/** The record, once its FrameID is the hash of its fields; IntegrityError otherwise. */
export function verifyFrameRecord<F extends FrameRecordLike>(frame: F): F {
  const expected = recomputeFrameId(frame);
  if (expected !== frame.frame_id) throw mismatch("FrameID", expected, String(frame.frame_id));
  return frame;
}

/** The bytes, once they hash to `hash` (and are `size` long when given). */
export function verifyContent(bytes: Uint8Array, hash: string, size?: number): Uint8Array {
  const expected = contentHash(bytes);
  if (expected !== hash) throw mismatch("content hash", expected, hash);
  if (size !== undefined && size !== bytes.length) {
    throw new IntegrityError(`content is ${bytes.length} bytes, the record says ${size}`, {
      expected: String(bytes.length),
      got: String(size),
    });
  }
  return bytes;
}

/** The exact bytes of a served frame: `content_b64` when set, else the UTF-8 of `content`. */
export function servedContentBytes(frame: ServedFrameLike): Uint8Array {
  if (frame.content_b64 !== undefined && frame.content_b64 !== null) {
    return recompute("frame content_b64", () => fromBase64(frame.content_b64 as string));
  }
  return recompute("frame content", () => utf8(frame.content));
}

/** A served frame, once its FrameID and its content both check out. */
export function verifyServedFrame<F extends ServedFrameLike>(frame: F): F {
  verifyFrameRecord(frame);
  verifyContent(servedContentBytes(frame), frame.content_hash, frame.size);
  return frame;
}

/** A server's proof answer: the node, the frame, the root it claims and its own verdict. */
export interface ProofLike extends MembershipProof {
  node_id: string;
  root: string;
  valid: boolean;
}

/**
 * The proof, once its steps lead from the frame's leaf to `root`, it is about the
 * frame asked for, and the server's `valid` agrees; `expectedRoot` (a frame-set root the
 * caller holds, e.g. from heads) pins the root too.
 */
export function verifyProofResponse<P extends ProofLike>(
  proof: P,
  asked: { nodeId?: string; frameId?: string; expectedRoot?: string } = {},
): P {
  if (asked.frameId !== undefined && proof.frame_id !== asked.frameId) {
    throw mismatch("proof frame", asked.frameId, proof.frame_id);
  }
  if (asked.nodeId !== undefined && proof.node_id !== asked.nodeId) {
    throw mismatch("proof node", asked.nodeId, proof.node_id);
  }
  requireHex(proof.root, "proof root");
  const reached = recompute("proof", () => proofRoot(proof));
  if ((reached === proof.root) !== proof.valid) {
    throw new IntegrityError(
      `proof: the server says valid=${proof.valid}, its steps reach ${reached} against root ${proof.root}`,
      { expected: reached, got: proof.root },
    );
  }
  if (!proof.valid) throw mismatch("proof root", reached, proof.root);
  if (asked.expectedRoot !== undefined && proof.root !== asked.expectedRoot) {
    throw mismatch("frame-set root", asked.expectedRoot, proof.root);
  }
  return proof;
}

/** The root claimed for a set, once it is the root of `frameIds`. */
export function verifyFrameSetRoot(frameIds: Iterable<string>, root: string): string {
  const expected = frameSetRoot(frameIds);
  if (expected !== root) throw mismatch("frame-set root", expected, root);
  return root;
}

/** A workspace answer, once its ID is the one its name derives. */
export function verifyWorkspace<W extends { workspace_id: string; name: string }>(workspace: W): W {
  const expected = recompute("workspace", () => workspaceId(workspace.name));
  if (expected !== workspace.workspace_id) {
    throw mismatch(`workspace ID of ${JSON.stringify(workspace.name)}`, expected, workspace.workspace_id);
  }
  return workspace;
}

/** The 64 zeros an audit chain's first entry names as its `prev_hash` (§14). */
export const GENESIS_PREV_HASH = "0".repeat(64);

/** An audit entry as served: its 11 hashed fields (all of them) plus `entry_hash`. */
export interface AuditEntryLike {
  seq: number;
  prev_hash: string;
  entry_hash: string;
}

/**
 * A whole audit chain, once every entry's hash is recomputed (§14), `seq` runs 1, 2, …
 * without gaps and each `prev_hash` is the entry before's; with `head` (`<seq>:<hash>`,
 * kept from an earlier `X-Audit-Head`) the chain must still hold that entry, so a chain
 * cut short or rewritten after it is refused too.
 */
export function verifyAuditChain<E extends AuditEntryLike>(entries: readonly E[], head?: string): readonly E[] {
  let prev = GENESIS_PREV_HASH;
  entries.forEach((entry, index) => {
    const what = `audit entry ${entry.seq}`;
    if (entry.seq !== index + 1) throw new IntegrityError(`${what} is at position ${index + 1}: an entry is missing or out of order`);
    if (entry.prev_hash !== prev) throw mismatch(`${what} prev_hash`, prev, entry.prev_hash);
    const { entry_hash: claimed, ...fields } = entry;
    const expected = recompute(what, () => auditEntryHash(fields));
    if (expected !== claimed) throw mismatch(`${what} hash`, expected, claimed);
    prev = claimed;
  });
  if (head !== undefined) {
    const match = /^(\d+):([0-9a-f]{64})$/.exec(head);
    if (match === null) throw malformed("audit head", `not <seq>:<64 hex>: ${JSON.stringify(head)}`);
    const entry = entries[Number(match[1]) - 1];
    if (entry === undefined) throw new IntegrityError(`the audit chain has ${entries.length} entries, the kept head is ${head}: it was cut short`);
    if (entry.entry_hash !== match[2]) throw mismatch(`audit entry ${match[1]} (the kept head)`, String(match[2]), entry.entry_hash);
  }
  return entries;
}
