/** The verify layer refuses records, frames, contents and proofs that do not hash right. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  IntegrityError,
  buildTree,
  contentHash,
  frameSetRoot,
  prove,
  servedContentBytes,
  toBase64,
  verifyContent,
  verifyFrameRecord,
  verifyFrameSetRoot,
  verifyNodeRecord,
  verifyProofResponse,
  verifyServedFrame,
  verifyWorkspace,
} from "../src/index.js";
import { vectors, type Vector } from "./vectors.js";

const records: Vector[] = vectors.canonical_json.filter((v: Vector) => v.value.schema === "node/1").map((v: Vector) => v.value);
const frameRecord: Vector = vectors.canonical_json.find((v: Vector) => v.value.schema === "frame/1").value;

function rejects(fn: () => unknown): void {
  assert.throws(fn, IntegrityError);
}

describe("node records", () => {
  test("the vector records verify, with the nulls a server adds", () => {
    for (const r of records) {
      verifyNodeRecord(r);
      const served = { content_hash: null, size: null, executable: null, target: null, children: null, ...r };
      verifyNodeRecord(served);
    }
  });
  test("a changed hashed field is refused", () => {
    const [file, dir, link] = ["file", "dir", "symlink"].map((k) => records.find((r) => r.kind === k));
    rejects(() => verifyNodeRecord({ ...file, executable: !file.executable }));
    rejects(() => verifyNodeRecord({ ...file, path: "docs/cafe\u0301.md" })); // NFD spelling: another path
    rejects(() => verifyNodeRecord({ ...file, content_hash: contentHash("other") }));
    rejects(() => verifyNodeRecord({ ...link, target: "README.md " }));
    rejects(() => verifyNodeRecord({ ...dir, children: dir.children.slice(1) }));
  });
  test("a malformed record is refused, never coerced", () => {
    const file = records.find((r) => r.kind === "file");
    const dir = records.find((r) => r.kind === "dir");
    rejects(() => verifyNodeRecord({ ...file, executable: "true" }));
    rejects(() => verifyNodeRecord({ ...file, size: -1 }));
    rejects(() => verifyNodeRecord({ ...file, target: "x" }));
    rejects(() => verifyNodeRecord({ ...file, schema: "node/2" }));
    rejects(() => verifyNodeRecord({ ...file, node_id: file.node_id.toUpperCase() }));
    rejects(() => verifyNodeRecord({ ...dir, children: [...dir.children].reverse() }));
    rejects(() => verifyNodeRecord({ ...dir, kind: "folder" }));
  });
  test("a tree built here verifies record by record", () => {
    const tree = buildTree({ "a/b.txt": { kind: "file", content: "b" }, "a/c": { kind: "symlink", target: "b.txt" }, e: { kind: "dir" } });
    tree.records.forEach((r) => verifyNodeRecord(r));
    assert.equal(tree.records.at(-1)?.node_id, tree.root);
  });
});

describe("frames", () => {
  const content = new TextEncoder().encode("A readme.");
  const v = vectors.frame_id[0];
  const served = {
    frame_id: v.frame_id,
    node_id: v.node_id,
    frame_type: v.frame_type,
    agent_id: v.agent_id,
    basis: { kind: "node", node_id: v.node_id, frame_id: null, child_frames: null, policy_id: null, params: null },
    content_hash: v.content_hash,
    size: content.length,
    content: "A readme.",
    content_b64: null,
  };
  test("a served frame verifies; the frame/1 vector record too", () => {
    verifyServedFrame(served);
    verifyFrameRecord(frameRecord);
  });
  test("hashed fields, content and size are checked", () => {
    rejects(() => verifyServedFrame({ ...served, agent_id: "agent-2" }));
    rejects(() => verifyServedFrame({ ...served, content: "A readme!" }));
    rejects(() => verifyServedFrame({ ...served, size: 10 }));
    rejects(() => verifyServedFrame({ ...served, basis: { kind: "frame", frame_id: v.frame_id } }));
    rejects(() => verifyServedFrame({ ...served, basis: { ...served.basis, policy_id: "concat" } }));
    rejects(() => verifyFrameRecord({ ...frameRecord, basis: { ...frameRecord.basis, params: { max: 3, separator: "\n" } } }));
    rejects(() => verifyFrameRecord({ ...frameRecord, frame_type: "bad type" }));
  });
  test("content_b64 carries the exact bytes", () => {
    const bytes = Uint8Array.of(0xff, 0xfe, 0x00);
    const frame = { ...served, content: "\uFFFD\uFFFD\u0000", content_b64: toBase64(bytes) };
    assert.deepEqual(servedContentBytes(frame), bytes);
    assert.deepEqual(verifyContent(bytes, contentHash(bytes), 3), bytes);
    rejects(() => verifyContent(bytes, v.content_hash));
  });
});

describe("proofs", () => {
  const p = vectors.frame_set.proofs[1];
  const answer = { node_id: "00".repeat(32), root: p.root, valid: true, ...p.proof };
  test("a proof is walked to its root", () => {
    verifyProofResponse(answer, { frameId: p.proof.frame_id, expectedRoot: p.root });
    assert.deepEqual(prove(p.members, p.proof.frame_id), p.proof);
  });
  test("a changed step, frame, verdict or root is refused", () => {
    const step = { ...p.proof.steps[0], digest: "00".repeat(32) };
    rejects(() => verifyProofResponse({ ...answer, steps: [step, ...p.proof.steps.slice(1)] }));
    rejects(() => verifyProofResponse(answer, { frameId: p.members[0] === p.proof.frame_id ? p.members[1] : p.members[0] }));
    rejects(() => verifyProofResponse({ ...answer, valid: false }));
    rejects(() => verifyProofResponse({ ...answer, root: frameSetRoot(p.members.slice(1)) }));
    rejects(() => verifyProofResponse(answer, { expectedRoot: frameSetRoot(p.members.slice(1)) }));
  });
  test("a set root is recomputed from its members", () => {
    verifyFrameSetRoot(p.members, p.root);
    rejects(() => verifyFrameSetRoot(p.members.slice(1), p.root));
  });
});

test("workspace IDs are derived from names", () => {
  const v = vectors.workspace_id[0];
  verifyWorkspace({ workspace_id: v.workspace_id, name: v.workspace_name });
  rejects(() => verifyWorkspace({ workspace_id: v.workspace_id, name: "other" }));
});
