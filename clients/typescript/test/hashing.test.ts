/**
 * Every hash vector of docs/test-vectors.json, recomputed by this package: encoded bytes
 * first (`encoded_hex`), then the hash, as docs/SCHEMAS.md §13 advises.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  EMPTY_ROOT,
  type Basis,
  IntegrityError,
  InvalidFrame,
  InvalidId,
  InvalidPolicy,
  InvalidPath,
  InvalidRequest,
  auditEntryHash,
  auditEntryHashBytes,
  basisHash,
  basisHashBytes,
  buildTree,
  canonicalJson,
  canonicalJsonBytes,
  contentHash,
  contentHashBytes,
  contentHasher,
  dirNodeId,
  dirNodeIdBytes,
  emptyRootBytes,
  fileNodeId,
  fileNodeIdBytes,
  frameId,
  frameIdBytes,
  frameSetRoot,
  fromHex,
  inner,
  innerBytes,
  leaf,
  leafBytes,
  parseBasis,
  policyContent,
  prove,
  proofRoot,
  recomputeFrameId,
  sortChildren,
  sortedMembers,
  symlinkNodeId,
  symlinkNodeIdBytes,
  toHex,
  type TreeEntry,
  verifyAuditChain,
  verifyProof,
  workspaceId,
  workspaceIdBytes,
} from "../src/index.js";
import { vectors, type Vector } from "./vectors.js";

const text = (hex: string) => new TextDecoder("utf-8", { fatal: true }).decode(fromHex(hex));

describe("content_hash", () => {
  for (const v of vectors.content_hash as Vector[]) {
    test(v.name, () => {
      const content =
        v.content_hex !== undefined
          ? fromHex(v.content_hex)
          : Uint8Array.from({ length: v.content_length }, (_, i) => i % 251);
      if (v.content_hex === undefined) assert.equal(v.content_rule, "bytes(i % 251 for i in range(1048577))");
      if (v.encoded_hex !== undefined) assert.equal(toHex(contentHashBytes(content)), v.encoded_hex);
      assert.equal(contentHash(content), v.content_hash);
      const chunked = contentHasher();
      for (let i = 0; i < content.length; i += 65536) chunked.update(content.subarray(i, i + 65536));
      assert.equal(chunked.hex(), v.content_hash);
    });
  }
});

describe("file_node_id", () => {
  for (const v of vectors.file_node_id as Vector[]) {
    test(v.name, () => {
      assert.equal(text(v.path_utf8_hex), v.path);
      assert.equal(contentHash(fromHex(v.content_hex)), v.content_hash);
      assert.equal(toHex(fileNodeIdBytes(v.path, v.content_hash, v.executable)), v.encoded_hex);
      assert.equal(fileNodeId(v.path, v.content_hash, v.executable), v.node_id);
    });
  }
});

describe("symlink_node_id", () => {
  for (const v of vectors.symlink_node_id as Vector[]) {
    test(v.name, () => {
      const target = text(v.target_utf8_hex);
      assert.equal(target, v.target);
      assert.equal(toHex(symlinkNodeIdBytes(v.path, target)), v.encoded_hex);
      assert.equal(symlinkNodeId(v.path, target), v.node_id);
    });
  }
});

describe("dir_node_id", () => {
  for (const v of vectors.dir_node_id as Vector[]) {
    test(v.name, () => {
      const given = (v.children_as_given as Vector[]).map((c) => [text(c.name_utf8_hex), c.node_id] as const);
      const sorted = (v.children_sorted as Vector[]).map((c) => [text(c.name_utf8_hex), c.node_id]);
      assert.deepEqual(sortChildren(given), sorted);
      assert.equal(toHex(dirNodeIdBytes(v.path, given)), v.encoded_hex);
      assert.equal(dirNodeId(v.path, given), v.node_id);
      if (v.children_utf16_order_wrong !== undefined) {
        // JavaScript's default sort is the wrong order the vector exists to catch.
        assert.deepEqual(given.map(([n]) => n).sort(), v.children_utf16_order_wrong);
        assert.notDeepEqual(v.children_utf16_order_wrong, sorted.map(([n]) => n));
      }
    });
  }
  test("a repeated name is invalid_path", () => {
    const id = "75b972f3c90dce9719f76958ab5b247a50d75a33dbfa00681b086ae0273317ff";
    assert.throws(() => dirNodeId("", [["a", id], ["a", id]]), InvalidPath);
  });
});

describe("basis_hash", () => {
  for (const v of vectors.basis_hash as Vector[]) {
    test(v.name, () => {
      const basis = parseBasis(v.basis);
      if (v.params_json !== undefined) assert.equal(canonicalJson((basis as { params: unknown }).params), v.params_json);
      assert.equal(toHex(basisHashBytes(basis)), v.encoded_hex);
      assert.equal(basisHash(basis), v.basis_hash);
    });
  }
});

describe("frame_id", () => {
  for (const v of vectors.frame_id as Vector[]) {
    test(v.name, () => {
      assert.equal(basisHash(parseBasis(v.basis)), v.basis_hash);
      assert.equal(contentHash(fromHex(v.content_hex)), v.content_hash);
      const fields = { node_id: v.node_id, frame_type: v.frame_type, agent_id: v.agent_id, basis_hash: v.basis_hash, content_hash: v.content_hash };
      assert.equal(toHex(frameIdBytes(fields)), v.encoded_hex);
      assert.equal(frameId(fields), v.frame_id);
    });
  }
  test("labels outside the alphabet are invalid_frame, IDs in another spelling invalid_id", () => {
    const v = vectors.frame_id[0];
    const fields = { node_id: v.node_id, frame_type: v.frame_type, agent_id: v.agent_id, basis_hash: v.basis_hash, content_hash: v.content_hash };
    assert.throws(() => frameId({ ...fields, frame_type: " summary" }), InvalidFrame);
    assert.throws(() => frameId({ ...fields, agent_id: "" }), InvalidFrame);
    assert.throws(() => frameId({ ...fields, node_id: v.node_id.toUpperCase() }), InvalidId);
  });
});

describe("frame_set", () => {
  const set = vectors.frame_set;
  test("empty root", () => {
    assert.equal(toHex(emptyRootBytes()), set.empty_root.encoded_hex);
    assert.equal(EMPTY_ROOT, set.empty_root.root);
    assert.equal(frameSetRoot([]), set.empty_root.root);
  });
  test("leaf", () => {
    assert.equal(toHex(leafBytes(set.leaf.frame_id)), set.leaf.encoded_hex);
    assert.equal(toHex(leaf(set.leaf.frame_id)), set.leaf.digest);
  });
  test("inner", () => {
    const [l, r] = [fromHex(set.inner.left), fromHex(set.inner.right)];
    assert.equal(toHex(innerBytes(l, r)), set.inner.encoded_hex);
    assert.equal(toHex(inner(l, r)), set.inner.digest);
  });
  for (const v of set.roots as Vector[]) {
    test(`root of ${v.name}`, () => {
      assert.deepEqual(sortedMembers(v.members_in_append_order), v.members_sorted);
      assert.deepEqual(v.members_sorted.map((f: string) => toHex(leaf(f))), v.leaves_sorted);
      assert.equal(frameSetRoot(v.members_in_append_order), v.root);
      assert.equal(frameSetRoot([...v.members_in_append_order].reverse().concat(v.members_in_append_order)), v.root);
    });
  }
  for (const v of set.proofs as Vector[]) {
    test(`proof of ${v.name}`, () => {
      assert.equal(frameSetRoot(v.members), v.root);
      assert.equal(proofRoot(v.proof), v.root);
      assert.equal(verifyProof(v.proof, v.root), true);
      assert.deepEqual(prove(v.members, v.proof.frame_id), v.proof);
      const flipped = { ...v.proof, steps: v.proof.steps.map((s: Vector, i: number) => (i === 0 ? { ...s, side: s.side === "left" ? "right" : "left" } : s)) };
      assert.equal(verifyProof(flipped, v.root), false);
      const other = v.members.find((f: string) => f !== v.proof.frame_id);
      assert.equal(verifyProof({ ...v.proof, frame_id: other }, v.root), false);
      assert.equal(verifyProof({ ...v.proof, steps: v.proof.steps.slice(1) }, v.root), false);
    });
  }
});

describe("workspace_id", () => {
  for (const v of vectors.workspace_id as Vector[]) {
    test(JSON.stringify(v.workspace_name), () => {
      assert.equal(text(v.workspace_name_utf8_hex), v.workspace_name);
      assert.equal(toHex(workspaceIdBytes(v.workspace_name)), v.encoded_hex);
      assert.equal(workspaceId(v.workspace_name), v.workspace_id);
    });
  }
});

describe("canonical_json", () => {
  for (const v of vectors.canonical_json as Vector[]) {
    test(v.name, () => {
      assert.equal(canonicalJson(v.value), v.canonical);
      assert.equal(toHex(canonicalJsonBytes(v.value)), v.canonical_utf8_hex);
    });
  }
  test("keys sort by code point, not UTF-16 unit", () => {
    assert.equal(canonicalJson({ "\u{1F600}": 1, "\uFF21": 2, b: 3 }), '{"b":3,"\uFF21":2,"\u{1F600}":1}');
  });
  test("floats, lone surrogates and undefined are refused", () => {
    assert.throws(() => canonicalJson({ a: 1.5 }), InvalidRequest);
    assert.throws(() => canonicalJson({ a: Number.NaN }), InvalidRequest);
    assert.throws(() => canonicalJson("\uD800"), InvalidRequest);
    assert.throws(() => canonicalJson({ a: undefined }), InvalidRequest);
    assert.equal(canonicalJson([-0, 10 ** 21, 2n ** 64n]), "[0,1000000000000000000000,18446744073709551616]");
  });
});

describe("audit_chain", () => {
  const chain = vectors.audit_chain;
  chain.entries.forEach((v: Vector, i: number) => {
    test(`entry ${v.fields.seq}`, () => {
      assert.equal(canonicalJson(v.fields), v.canonical_json);
      assert.equal(toHex(auditEntryHashBytes(v.fields)), v.encoded_hex);
      assert.equal(auditEntryHash(v.fields), v.entry_hash);
      const prev = i === 0 ? chain.genesis_prev_hash : chain.entries[i - 1].entry_hash;
      assert.equal(v.fields.prev_hash, prev);
    });
  });
  const served = chain.entries.map((v: Vector) => ({ ...v.fields, entry_hash: v.entry_hash }));
  test("the chain verifies, up to a kept head", () => {
    verifyAuditChain(served, chain.entries.at(-1).head);
    verifyAuditChain(served, `1:${served[0].entry_hash}`);
  });
  test("an edited, removed, reordered or cut entry is refused", () => {
    assert.throws(() => verifyAuditChain([{ ...served[0], operation: "frame.put" === served[0].operation ? "acl.grant" : "frame.put" }, ...served.slice(1)]), IntegrityError);
    assert.throws(() => verifyAuditChain([served[0], ...served.slice(2)]), IntegrityError);
    assert.throws(() => verifyAuditChain([served[1], served[0], ...served.slice(2)]), IntegrityError);
    assert.throws(() => verifyAuditChain(served.slice(0, -1), chain.entries.at(-1).head), IntegrityError);
  });
});

/** The tree of a vector's entries that are members, as `buildTree` takes it. */
function memberTree(entries: Vector[], members: Set<string>): Record<string, TreeEntry> {
  const tree: Record<string, TreeEntry> = {};
  for (const e of entries) {
    let path: string;
    try {
      path = text(e.path_hex).normalize("NFC");
    } catch {
      continue; // not UTF-8: never a member
    }
    if (!members.has(path)) continue;
    if (e.kind === "file") tree[path] = { kind: "file", content: fromHex(e.content_hex), executable: (parseInt(e.mode, 8) & 0o100) !== 0 };
    else if (e.kind === "symlink") tree[path] = { kind: "symlink", target: e.target };
    else tree[path] = { kind: "dir" };
  }
  return tree;
}

describe("trees", () => {
  test(vectors.tree[0].name, () => {
    const v = vectors.tree[0];
    const built = buildTree(memberTree(v.entries, new Set(v.members.map((m: Vector) => m.path))));
    assert.equal(built.root, v.root);
    for (const m of v.members as Vector[]) assert.equal(built.byPath.get(m.path)?.node_id, m.node_id, m.path);
  });
  for (const v of vectors.ignore_rules as Vector[]) {
    test(`ignore_rules: ${v.name}`, () => {
      assert.equal(buildTree(memberTree(v.entries, new Set(v.members))).root, v.root);
    });
  }
  test("synthesis tree and frames", () => {
    const s = vectors.synthesis;
    const tree = memberTree(s.tree.entries, new Set(s.tree.entries.map((e: Vector) => text(e.path_hex))));
    const built = buildTree(tree);
    for (const f of s.frames as Vector[]) {
      assert.equal(built.byPath.get(f.path)?.node_id, f.node_id, f.path);
      const basis: Basis = { kind: "node", node_id: f.node_id };
      const fields = { node_id: f.node_id, frame_type: f.frame_type, agent_id: f.agent_id, basis_hash: basisHash(basis), content_hash: contentHash(fromHex(f.content_hex)) };
      assert.equal(frameId(fields), f.frame_id, f.path);
    }
  });
});

describe("synthesis cases", () => {
  const frames = new Map((vectors.synthesis.frames as Vector[]).map((f) => [f.frame_id, f]));
  for (const v of vectors.synthesis.cases as Vector[]) {
    test(v.name, () => {
      const inputs = (v.inputs_in_basis_order as Vector[]).map((i) => {
        const f = frames.get(i.frame_id);
        return { ...f, child_path: i.child_path, content: fromHex(f.content_hex) };
      });
      assert.equal(toHex(policyContent(v.policy_id, v.basis.params.params, inputs)), v.content_hex);
      const basis = parseBasis(v.basis);
      assert.deepEqual((basis as { child_frames: readonly string[] }).child_frames, v.inputs_in_basis_order.map((i: Vector) => i.frame_id));
      assert.equal(canonicalJson(v.basis.params), v.params_json);
      assert.equal(basisHash(basis), v.basis_hash);
      assert.equal(contentHash(fromHex(v.content_hex)), v.content_hash);
      const fields = { node_id: v.directory_node_id, frame_type: v.frame_type, agent_id: v.agent_id, basis_hash: v.basis_hash, content_hash: v.content_hash };
      assert.equal(frameId(fields), v.frame_id);
    });
  }
});

test("a policy the client does not know, or bad summary params, are invalid_policy", () => {
  assert.throws(() => policyContent("provider", {}, []), InvalidPolicy);
  assert.throws(() => policyContent("summary", { max_line: 0, max_bytes: 10 }, []), InvalidPolicy);
});

test("an input's byte-order mark is kept, as Python's utf-8 codec keeps it", () => {
  const input = { child_path: "a", frame_type: "t", agent_id: "x", content_type: "text/plain", metadata: {}, content: Uint8Array.of(0xef, 0xbb, 0xbf, 0x23, 0x20, 0x54) };
  assert.equal(new TextDecoder().decode(policyContent("summary", { max_line: 120, max_bytes: 100 }, [input])), "- a: \uFEFF# T\n");
});

describe("generated", () => {
  const g = vectors.generated;
  test("prompt and context hashes", () => {
    for (const [v, key] of [[g.prompt_hash, "prompt_hash"], [g.context_hash, "context_hash"]] as const) {
      assert.equal(canonicalJson(JSON.parse(v.canonical_json)), v.canonical_json);
      assert.equal(contentHash(v.canonical_json), v[key]);
    }
    assert.equal(JSON.parse(g.context_hash.canonical_json).message, g.context_hash.message);
  });
  for (const f of g.offline.frames as Vector[]) {
    test(`offline frame of ${JSON.stringify(f.path)}`, () => {
      const frame = { ...f, content_hash: contentHash(f.content) };
      assert.equal(recomputeFrameId(frame), f.frame_id);
    });
  }
});
