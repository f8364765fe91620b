/**
 * Content hashes, NodeIDs, basis hashes, FrameIDs and workspace IDs (docs/SCHEMAS.md §2-§10).
 *
 * Each function builds the structure's bytes with `encoding.ts` and hashes them with
 * BLAKE3-256; `*Bytes` variants return the encoded bytes so they can be compared with a
 * test vector's `encoded_hex` before the hash is.
 */

import { blake3 } from "@noble/hashes/blake3.js";

import { canonicalJson } from "./canonicalJson.js";
import { InvalidFrame, InvalidPath } from "./errors.js";
import { blob, compareBytes, concat, id, list, tagged, text, toHex, u8, utf8 } from "./encoding.js";

/** The domain tags of §1, all version 1. */
export const TAGS = Object.freeze({
  content: "treeframe:content:v1",
  file: "treeframe:node:file:v1",
  dir: "treeframe:node:dir:v1",
  symlink: "treeframe:node:symlink:v1",
  basis: "treeframe:basis:v1",
  frame: "treeframe:frame:v1",
  setLeaf: "treeframe:set:leaf:v1",
  setInner: "treeframe:set:inner:v1",
  setEmpty: "treeframe:set:empty:v1",
  workspace: "treeframe:workspace:v1",
  audit: "treeframe:audit:v1",
});

/** The label alphabet of frame types, agent IDs and policy IDs (§4). */
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}$/;

/** BLAKE3-256 (unkeyed, 32-byte output) of bytes, as 64 lowercase hex. */
export function blake3Hex(bytes: Uint8Array): string {
  return toHex(blake3(bytes));
}

/** `invalid_frame` unless `value` is a label (frame type, agent ID, policy ID). */
export function checkLabel(value: string, what: string): string {
  if (typeof value !== "string" || !LABEL.test(value)) {
    throw new InvalidFrame(`${what} must match [A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function asBytes(content: Uint8Array | string): Uint8Array {
  return typeof content === "string" ? utf8(content) : content;
}

/** The bytes hashed for a content hash: `blob(tag) ‖ content`, the content unprefixed (§2). */
export function contentHashBytes(content: Uint8Array | string): Uint8Array {
  return concat([text(TAGS.content), asBytes(content)]);
}

/** Content hash of bytes (a string is hashed as its UTF-8 bytes): names file and frame content. */
export function contentHash(content: Uint8Array | string): string {
  return contentHasher().update(asBytes(content)).hex();
}

/** An incremental content hash (see `contentHasher`). */
export interface ContentHasher {
  update(chunk: Uint8Array): ContentHasher;
  /** The content hash of everything fed so far, as 64 hex. */
  hex(): string;
}

/** An incremental content hash, pre-fed the tag, for content that arrives in chunks. */
export function contentHasher(): ContentHasher {
  const state = blake3.create();
  state.update(text(TAGS.content));
  const hasher: ContentHasher = {
    update(chunk: Uint8Array) {
      state.update(chunk);
      return hasher;
    },
    hex() {
      return toHex(state.digest());
    },
  };
  return hasher;
}

/** §3.1 encoded bytes of a file node. */
export function fileNodeIdBytes(path: string, contentHashHex: string, executable: boolean): Uint8Array {
  return tagged(TAGS.file, text(path), id(contentHashHex, "content hash"), u8(executable ? 1 : 0));
}

/** §3.1 file NodeID: path, content hash and the owner-execute bit. */
export function fileNodeId(path: string, contentHashHex: string, executable: boolean): string {
  return blake3Hex(fileNodeIdBytes(path, contentHashHex, executable));
}

/** §3.2 encoded bytes of a symlink node. */
export function symlinkNodeIdBytes(path: string, target: string): Uint8Array {
  return tagged(TAGS.symlink, text(path), text(target));
}

/** §3.2 symlink NodeID: path and the target string, verbatim (never normalized). */
export function symlinkNodeId(path: string, target: string): string {
  return blake3Hex(symlinkNodeIdBytes(path, target));
}

/** A directory child: its last path component and its NodeID. */
export type Child = readonly [name: string, nodeId: string];

/**
 * Children sorted by the UTF-8 bytes of their names (§3.3), which is not JavaScript's
 * default UTF-16 order; a repeated name is `invalid_path`.
 */
export function sortChildren(children: readonly Child[]): Child[] {
  const keyed = children.map((child) => ({ child, key: utf8(child[0]) }));
  keyed.sort((a, b) => compareBytes(a.key, b.key));
  for (let i = 1; i < keyed.length; i++) {
    if (compareBytes((keyed[i - 1] as { key: Uint8Array }).key, (keyed[i] as { key: Uint8Array }).key) === 0) {
      throw new InvalidPath(`duplicate child name ${JSON.stringify((keyed[i] as { child: Child }).child[0])}`);
    }
  }
  return keyed.map((k) => k.child);
}

/** §3.3 encoded bytes of a directory node (children sorted here). */
export function dirNodeIdBytes(path: string, children: readonly Child[]): Uint8Array {
  const entries = sortChildren(children).map(([name, nodeId]) =>
    concat([text(name), id(nodeId, "child NodeID")]),
  );
  return tagged(TAGS.dir, text(path), list(entries));
}

/** §3.3 directory NodeID: path and the (name, NodeID) children in UTF-8 name order. */
export function dirNodeId(path: string, children: readonly Child[]): string {
  return blake3Hex(dirNodeIdBytes(path, children));
}

/** A frame's basis, as the `frame/1` record spells it (§12). */
export type Basis =
  | { kind: "node"; node_id: string }
  | { kind: "frame"; frame_id: string }
  | { kind: "node+frame"; node_id: string; frame_id: string }
  | {
      kind: "synthesis";
      child_frames: readonly string[];
      policy_id: string;
      params: Record<string, unknown>;
    };

/** §6 encoded bytes of a basis. */
export function basisHashBytes(basis: Basis): Uint8Array {
  switch (basis.kind) {
    case "node":
      return tagged(TAGS.basis, u8(1), id(basis.node_id, "basis node_id"));
    case "frame":
      return tagged(TAGS.basis, u8(2), id(basis.frame_id, "basis frame_id"));
    case "node+frame":
      return tagged(
        TAGS.basis,
        u8(3),
        id(basis.node_id, "basis node_id"),
        id(basis.frame_id, "basis frame_id"),
      );
    case "synthesis": {
      const params = basis.params;
      if (typeof params !== "object" || params === null || Array.isArray(params)) {
        throw new InvalidFrame("synthesis params must be a JSON object");
      }
      return tagged(
        TAGS.basis,
        u8(4),
        list(basis.child_frames.map((f) => id(f, "child FrameID"))),
        text(checkLabel(basis.policy_id, "policy ID")),
        text(canonicalJson(params)),
      );
    }
    default:
      throw new InvalidFrame(`unknown basis kind ${JSON.stringify((basis as { kind: unknown }).kind)}`);
  }
}

/** §6 basis hash: what a frame was derived from. */
export function basisHash(basis: Basis): string {
  return blake3Hex(basisHashBytes(basis));
}

/** The hashed fields of a frame (§7). */
export interface FrameFields {
  node_id: string;
  frame_type: string;
  agent_id: string;
  basis_hash: string;
  content_hash: string;
}

/** §7 encoded bytes of a frame. */
export function frameIdBytes(fields: FrameFields): Uint8Array {
  return tagged(
    TAGS.frame,
    id(fields.node_id, "node_id"),
    text(checkLabel(fields.frame_type, "frame type")),
    text(checkLabel(fields.agent_id, "agent ID")),
    id(fields.basis_hash, "basis hash"),
    id(fields.content_hash, "content hash"),
  );
}

/** §7 FrameID: node, frame type, agent, basis hash and content hash; nothing else. */
export function frameId(fields: FrameFields): string {
  return blake3Hex(frameIdBytes(fields));
}

/** §10 encoded bytes of a workspace ID. */
export function workspaceIdBytes(name: string): Uint8Array {
  return tagged(TAGS.workspace, text(name));
}

/** §10 workspace ID: derived from the name as given (not normalized). */
export function workspaceId(name: string): string {
  return blake3Hex(workspaceIdBytes(name));
}

/** §14 encoded bytes of an audit entry: the canonical JSON of its 11 fields, as a blob. */
export function auditEntryHashBytes(fields: Record<string, unknown>): Uint8Array {
  return tagged(TAGS.audit, blob(utf8(canonicalJson(fields))));
}

/** §14 audit entry hash (every field present, nulls included, `entry_hash` left out). */
export function auditEntryHash(fields: Record<string, unknown>): string {
  return blake3Hex(auditEntryHashBytes(fields));
}
