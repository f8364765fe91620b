/**
 * The frame Merkle set of docs/SCHEMAS.md §9: a node's set root and membership proofs.
 *
 * Leaves are the sorted, de-duplicated FrameIDs; neighbours pair left to right and an odd
 * last node is promoted unchanged, so the root depends on membership only.
 */

import { InvalidRequest } from "./errors.js";
import { blob, compareBytes, fromHex, id, idBytes, isHexId, tagged, text, toHex } from "./encoding.js";
import { blake3 } from "@noble/hashes/blake3.js";
import { TAGS } from "./hashing.js";

/** One step of a proof: the sibling digest and the side it sits on. */
export interface ProofStep {
  side: "left" | "right";
  digest: string;
}

/** A membership proof: the FrameID and its path of siblings from the leaf up. */
export interface MembershipProof {
  frame_id: string;
  steps: readonly ProofStep[];
}

/** Encoded bytes of `leaf(f)`. */
export function leafBytes(frameIdHex: string): Uint8Array {
  return tagged(TAGS.setLeaf, id(frameIdHex, "FrameID"));
}

/** `leaf(f)`: the raw 32-byte digest of a FrameID's leaf. */
export function leaf(frameIdHex: string): Uint8Array {
  return blake3(leafBytes(frameIdHex));
}

/** Encoded bytes of `inner(l, r)` over two 32-byte digests. */
export function innerBytes(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== 32 || right.length !== 32) {
    throw new InvalidRequest("inner nodes combine two 32-byte digests");
  }
  return tagged(TAGS.setInner, blob(left), blob(right));
}

/** `inner(l, r)`: the raw digest of an inner node. */
export function inner(left: Uint8Array, right: Uint8Array): Uint8Array {
  return blake3(innerBytes(left, right));
}

/** Encoded bytes of the empty set's root. */
export function emptyRootBytes(): Uint8Array {
  return text(TAGS.setEmpty);
}

/** The root of the empty set, a constant (64 hex). */
export const EMPTY_ROOT: string = toHex(blake3(emptyRootBytes()));

/** The FrameIDs as the set orders them: duplicates removed, sorted by raw bytes. */
export function sortedMembers(frameIds: Iterable<string>): string[] {
  const unique = [...new Set(frameIds)];
  for (const f of unique) idBytes(f, "FrameID");
  return unique.sort((a, b) => compareBytes(fromHex(a), fromHex(b)));
}

/** The set root (64 hex) of a node's FrameIDs, whatever their order or repetition. */
export function frameSetRoot(frameIds: Iterable<string>): string {
  let level = sortedMembers(frameIds).map(leaf);
  if (level.length === 0) return EMPTY_ROOT;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      next.push(inner(level[i] as Uint8Array, level[i + 1] as Uint8Array));
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1] as Uint8Array);
    level = next;
  }
  return toHex(level[0] as Uint8Array);
}

/** The root a proof leads to (64 hex); a malformed proof is `invalid_request`. */
export function proofRoot(proof: MembershipProof): string {
  let digest = leaf(proof.frame_id);
  for (const step of proof.steps) {
    if (!isHexId(step.digest)) {
      throw new InvalidRequest(`proof step digest is not 64 lowercase hex: ${JSON.stringify(step.digest)}`);
    }
    const sibling = fromHex(step.digest);
    if (step.side === "left") digest = inner(sibling, digest);
    else if (step.side === "right") digest = inner(digest, sibling);
    else throw new InvalidRequest(`proof step side must be left or right, got ${JSON.stringify(step.side)}`);
  }
  return toHex(digest);
}

/** Whether a proof shows `proof.frame_id` is a member of the set whose root is `root`. */
export function verifyProof(proof: MembershipProof, root: string): boolean {
  try {
    return proofRoot(proof) === root;
  } catch (error) {
    if (error instanceof InvalidRequest) return false;
    throw error;
  }
}

/** A membership proof of `member` in the set of `frameIds`; `undefined` when it is not one. */
export function prove(frameIds: Iterable<string>, member: string): MembershipProof | undefined {
  const members = sortedMembers(frameIds);
  let level = members.map(leaf);
  let index = members.indexOf(member);
  if (index < 0) return undefined;
  const steps: ProofStep[] = [];
  while (level.length > 1) {
    const sibling = index % 2 === 0 ? index + 1 : index - 1;
    if (sibling < level.length) {
      steps.push({ side: index % 2 === 0 ? "right" : "left", digest: toHex(level[sibling] as Uint8Array) });
    }
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      next.push(inner(level[i] as Uint8Array, level[i + 1] as Uint8Array));
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1] as Uint8Array);
    level = next;
    index = Math.floor(index / 2);
  }
  return { frame_id: member, steps };
}
