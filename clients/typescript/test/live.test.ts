/**
 * Against a live `treeframe serve` (TREEFRAME_TEST_SERVER, TREEFRAME_TEST_TOKEN for an
 * all-workspaces admin token, TREEFRAME_TEST_AGENT its agent): push a tree hashed here,
 * read and verify it, put frames and compare FrameIDs, prove membership, and check that
 * answers altered in transit are refused. tests/typescript starts the server for CI.
 */

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { before, describe, test } from "node:test";

import {
  FrameNotFound,
  IntegrityError,
  InvalidId,
  NodeNotFound,
  PreconditionFailed,
  TreeframeClient,
  WorkspaceNotFound,
  basisHash,
  buildTree,
  contentHash,
  frameId,
  frameSetRoot,
  workspaceId,
} from "../src/index.js";

const SERVER = process.env["TREEFRAME_TEST_SERVER"];
const TOKEN = process.env["TREEFRAME_TEST_TOKEN"];
const AGENT = process.env["TREEFRAME_TEST_AGENT"];
const skip =
  SERVER && TOKEN && AGENT
    ? false
    : "live server tests need TREEFRAME_TEST_SERVER, TREEFRAME_TEST_TOKEN and TREEFRAME_TEST_AGENT " +
      "(tests/typescript/test_typescript_client.py sets them)";

const BINARY = Uint8Array.of(0xff, 0xfe, 0x00, 0x80, 0x41);
const tree = buildTree({
  "README.md": { kind: "file", content: "hello\n" },
  "src/app.py": { kind: "file", content: "print('hi')\n" },
  "src/run.sh": { kind: "file", content: "#!/bin/sh\necho hi\n", executable: true },
  "src/\uFF21.txt": { kind: "file", content: "fullwidth A\n" },
  "src/\u{1F600}.txt": { kind: "file", content: "smile\n" },
  "docs/cafe\u0301.md": { kind: "file", content: "caf\u00e9\n" }, // NFD in, NFC path out
  "docs/blob.bin": { kind: "file", content: BINARY },
  link: { kind: "symlink", target: "README.md" },
  empty: { kind: "dir" },
});

/** A fetch that hands `alter` the parsed JSON of answers whose URL matches, as a MITM would. */
function tampering(match: RegExp, alter: (body: any) => void): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (!match.test(String(input)) || !response.ok) return response;
    const body = await response.json();
    alter(body);
    return new Response(JSON.stringify(body), { status: response.status, headers: response.headers });
  };
}

describe("live server", { skip }, () => {
  const client = new TreeframeClient({ baseUrl: SERVER ?? "", token: TOKEN ?? "", agentId: AGENT ?? "" });
  const name = `ts-client-${randomBytes(6).toString("hex")}`;
  const ws = workspaceId(name);
  const node = (path: string) => tree.byPath.get(path)?.node_id as string;

  before(async () => {
    await client.healthLive();
    const created = await client.createWorkspace(name, "TypeScript client test");
    assert.equal(created.workspace_id, ws);
    const commit = await client.pushTree(ws, tree);
    assert.equal(commit.root, tree.root);
  });

  test("the pushed tree is the workspace's root, every record as hashed here", async () => {
    const detail = await client.getWorkspace(ws);
    assert.equal(detail.root, tree.root);
    const root = await client.getNodeByPath(ws, "");
    assert.equal(root.node_id, tree.root);
    for (const record of tree.records) {
      const served = await client.getNodeRecord(ws, record.node_id);
      for (const [key, value] of Object.entries(record)) assert.deepEqual((served as any)[key], value, `${record.path} ${key}`);
    }
    const cafe = await client.getNodeByPath(ws, "docs/cafe\u0301.md");
    assert.equal(cafe.path, "docs/caf\u00e9.md");
    assert.ok((await client.listWorkspaces()).workspaces.some((w) => w.workspace_id === ws));
  });

  test("children are paged in UTF-8 name order and match the directory record", async () => {
    const names: string[] = [];
    let after: string | undefined;
    do {
      const page = await client.getChildren(ws, node("src"), after === undefined ? { limit: 2 } : { limit: 2, after });
      names.push(...page.entries.map((e) => e.name));
      after = page.next_after ?? undefined;
    } while (after !== undefined);
    assert.deepEqual(names, ["app.py", "run.sh", "\uFF21.txt", "\u{1F600}.txt"]);
  });

  test("put frames: the server's FrameIDs are the ones computed here", async () => {
    const readme = node("README.md");
    const first = await client.putFrame(ws, readme, { frame_type: "summary", content: "Says hello." });
    assert.equal(first.created, true);
    const again = await client.putFrame(ws, "README.md", { frame_type: "summary", content: "Says hello." });
    assert.deepEqual([again.created, again.frame_id], [false, first.frame_id]);
    const note = await client.putFrame(ws, readme, {
      frame_type: "note",
      content: "On the summary.",
      basis: { kind: "node+frame", node_id: readme, frame_id: first.frame_id },
      metadata: { model: "none" },
    });
    const binary = await client.putFrame(ws, node("docs/blob.bin"), {
      frame_type: "raw",
      bytes: BINARY,
      content_type: "application/octet-stream",
    });

    const served = await client.getFrame(ws, binary.frame_id, { fresh: true });
    assert.equal(served.content_hash, contentHash(BINARY));
    assert.equal(served.stale, false);
    assert.deepEqual(await client.getFrameContent(ws, binary.frame_id), BINARY);
    assert.deepEqual(new TextDecoder().decode(await client.getFrameContent(ws, note.frame_id)), "On the summary.");

    const view = await client.getNode(ws, readme, { max_frames: 10 });
    assert.deepEqual(new Set(view.frames.map((f) => f.frame_id)), new Set([first.frame_id, note.frame_id]));

    await assert.rejects(client.putFrame(ws, readme, { frame_type: "summary", content: "x" }, { ifNoneMatch: true }), PreconditionFailed);
    const moved = await client.putFrame(ws, readme, { frame_type: "summary", content: "Greets." }, { ifMatch: first.frame_id });
    assert.ok(client.auditHead?.match(/^\d+:[0-9a-f]{64}$/));

    const heads = await client.getHeads(ws, readme);
    assert.deepEqual(heads.heads, { note: note.frame_id, summary: moved.frame_id });
    const set = await client.verifyFrameSet(ws, readme);
    assert.equal(set.root, frameSetRoot([first.frame_id, note.frame_id, moved.frame_id]));
    assert.equal(heads.frame_set_root, set.root);
    for (const id of set.frameIds) {
      const proof = await client.getProof(ws, readme, id, set.root);
      assert.equal(proof.root, set.root);
    }
  });

  test("synthesis, composition, staleness and diff answers verify", async () => {
    for (const path of ["src/app.py", "src/run.sh"]) {
      await client.putFrame(ws, node(path), { frame_type: "summary", content: `About ${path}.` });
    }
    const synthesis = await client.synthesize(ws, { node: "src", frame_type: "summary", policy: "concat" });
    assert.equal(synthesis.frames.length, 1);
    assert.equal(synthesis.frames[0]?.node_id, node("src"));
    const heads = await client.getHeads(ws, node("src"));
    assert.equal(heads.heads["summary"], synthesis.frames[0]?.frame_id);
    const concat = new TextDecoder().decode(await client.verifySynthesis(ws, synthesis.frames[0] as any));
    assert.match(concat, /^## src\/app\.py \(summary by /);
    const summary = await client.synthesize(ws, { node: "src", frame_type: "summary", policy: "summary", output_type: "digest" });
    await client.verifySynthesis(ws, summary.frames[0] as any);

    // A frame may claim a synthesis basis with any content: its FrameID is valid all the same.
    const basis = summary.frames[0]?.basis as any;
    const forged = await client.putFrame(ws, node("src"), { frame_type: "digest", content: "- all is well\n", basis });
    await assert.rejects(client.verifySynthesis(ws, forged.frame), IntegrityError);

    const composed = await client.compose(ws, { node: "src/app.py" });
    assert.ok(composed.frames.length >= 1);
    // The note's basis frame was superseded by the conditional put above.
    const stale = await client.stale(ws, { node: "", recursive: true });
    const note = stale.frames.find((f) => f.frame_type === "note");
    assert.equal(note?.reason, "basis frame superseded");
    const regeneration = await client.regenerate(ws, { node: "", recursive: true, dry_run: true });
    assert.equal(regeneration.dry_run, true);
    const diff = await client.diff(ws, tree.root);
    assert.equal(diff.same, true);
  });

  test("generated frames (the offline provider) verify when fetched", async () => {
    const app = node("src/app.py");
    const contents = { "src/app.py": Buffer.from("print('hi')\n").toString("base64") };
    const generation = await client.generate(ws, { node: "src/app.py", frame_type: "description", contents });
    assert.equal(generation.generated, 1);
    const entry = generation.entries[0];
    assert.equal(entry?.node_id, app);
    const frame = await client.getFrame(ws, entry?.frame_id as string);
    assert.deepEqual([frame.node_id, frame.agent_id, frame.basis.kind], [app, AGENT, "node"]);
  });

  test("heads are proven and the audit log's chain verifies up to the last head seen", async () => {
    const heads = await client.verifyHeads(ws, node("README.md"));
    assert.deepEqual(Object.keys(heads.heads).sort(), ["note", "summary"]);
    const head = client.auditHead as string;
    const entries = await client.verifyAuditLog(ws);
    assert.ok(entries.some((e) => e.operation === "tree.push"));
    assert.ok(entries.length >= Number(head.split(":")[0]));
  });

  test("errors arrive as their classes", async () => {
    await assert.rejects(client.getNode(ws, "0".repeat(64)), (e: unknown) => e instanceof NodeNotFound && e.status === 404 && typeof e.requestId === "string");
    await assert.rejects(client.getFrame(ws, "A".repeat(64)), InvalidId);
    await assert.rejects(client.getProof(ws, node("README.md"), "0".repeat(64)), FrameNotFound);
    await assert.rejects(client.getWorkspace(workspaceId(`${name}-absent`)), WorkspaceNotFound);
  });

  test("answers altered in transit are refused", async () => {
    const mitm = (match: RegExp, alter: (body: any) => void) =>
      new TreeframeClient({ baseUrl: SERVER ?? "", token: TOKEN ?? "", agentId: AGENT ?? "", fetch: tampering(match, alter) });
    const readme = node("README.md");
    const heads = await client.getHeads(ws, readme);
    const summary = heads.heads["summary"] as string;

    const cases: [string, RegExp, (b: any) => void, (c: TreeframeClient) => Promise<unknown>][] = [
      ["a record's content hash", /\/record$/, (b) => (b.content_hash = contentHash("forged")), (c) => c.getNodeRecord(ws, readme)],
      ["a record swapped for another", /\/record$/, (b) => Object.assign(b, tree.byPath.get("src/app.py")), (c) => c.getNodeRecord(ws, readme)],
      ["a view's frame content", /\/nodes\/[0-9a-f]{64}$/, (b) => (b.frames[0].content = "forged"), (c) => c.getNode(ws, readme)],
      ["a frame's agent", /\/frames\/[0-9a-f]{64}$/, (b) => (b.agent_id = "mallory"), (c) => c.getFrame(ws, summary)],
      ["a proof step", /\/proof\//, (b) => (b.steps[0].digest = "0".repeat(64)), (c) => c.getProof(ws, readme, summary)],
      ["a proof's root", /\/proof\//, (b) => (b.root = frameSetRoot([summary])), (c) => c.getProof(ws, readme, summary, heads.frame_set_root ?? "")],
      ["a child's NodeID", /\/children/, (b) => (b.entries[0].node_id = tree.root), (c) => c.getChildren(ws, node("src"))],
      // Consistent all through (the FrameID is recomputed too): only the path gives it away.
      ["a put onto another node than the path", /\/frames$/, (b) => {
        b.node_id = b.frame.node_id = b.frame.basis.node_id = node("src/app.py");
        b.frame_id = b.frame.frame_id = frameId({ ...b.frame, basis_hash: basisHash({ kind: "node", node_id: b.node_id }) });
      }, (c) => c.putFrame(ws, "README.md", { frame_type: "summary", content: "Honest." })],
      ["an audit entry", /\/audit\?/, (b) => (b.entries[1].success = !b.entries[1].success), (c) => c.verifyAuditLog(ws)],
      ["a head of another type", /\/heads$/, (b) => (b.heads.note = b.heads.summary), (c) => c.verifyHeads(ws, readme)],
      ["a put's FrameID", /\/frames$/, (b) => (b.frame_id = b.frame.frame_id = summary), (c) => c.putFrame(ws, readme, { frame_type: "summary", content: "Honest." })],
      ["a workspace ID", /\/workspaces\/[0-9a-f]{64}$/, (b) => (b.name = "other"), (c) => c.getWorkspace(ws)],
      ["a node served for another path", /by-path/, (b) => Object.assign(b, { path: "src/app.py" }), (c) => c.getNodeByPath(ws, "README.md")],
      ["a synthesis frame", /\/synthesize$/, (b) => (b.frames[0].content_hash = contentHash("forged")), (c) => c.synthesize(ws, { node: "src", frame_type: "summary", policy: "concat" })],
    ];
    for (const [what, match, alter, call] of cases) {
      await assert.rejects(call(mitm(match, alter)), IntegrityError, what);
    }
    const forged: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).endsWith("/content")) return response;
      return new Response(new TextEncoder().encode("forged"), { status: 200 });
    };
    const contentMitm = new TreeframeClient({ baseUrl: SERVER ?? "", token: TOKEN ?? "", fetch: forged });
    await assert.rejects(contentMitm.getFrameContent(ws, summary), IntegrityError, "a frame's raw content");
  });
});
