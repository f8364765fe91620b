/**
 * A typed client over `fetch` for the treeframe REST API (docs/API.md) that trusts no server.
 *
 * Routes are typed by `generated/openapi.ts` (from docs/openapi.json), failures raise the
 * class of the envelope's code (`errors.ts`), and every record, frame, content and proof
 * an answer carries is recomputed by `verify.ts` before it is returned: a server that
 * sends a hash its bytes do not have gets an `IntegrityError`, not a caller's trust.
 */

import { BackendUnavailable, IntegrityError, InvalidFrame, errorFromResponse } from "./errors.js";
import { isHexId, toBase64, utf8 } from "./encoding.js";
import { EMPTY_ROOT } from "./frameSet.js";
import { type Basis, basisHash, contentHash, frameId } from "./hashing.js";
import { policyContent, type SynthesisInput } from "./synthesis.js";
import type { BuiltTree } from "./tree.js";
import type * as api from "./generated/openapi.js";
import type { Paths } from "./generated/openapi.js";
import {
  type FrameRecordLike,
  parseBasis,
  servedContentBytes,
  verifyAuditChain,
  verifyContent,
  verifyFrameRecord,
  verifyFrameSetRoot,
  verifyNodeRecord,
  verifyProofResponse,
  verifyServedFrame,
  verifyWorkspace,
} from "./verify.js";

type Method<P extends keyof Paths> = keyof Paths[P] & string;
type Op<P extends keyof Paths, M extends Method<P>> = Paths[P][M] & {
  path: unknown;
  query: unknown;
  body: unknown;
  response: unknown;
};

/** What a route call sends besides its method and path template. */
interface CallArgs<P extends keyof Paths, M extends Method<P>> {
  path?: Op<P, M>["path"];
  query?: Op<P, M>["query"];
  body?: Op<P, M>["body"];
  headers?: Record<string, string>;
  binary?: boolean;
}

/** Options of a client. */
export interface ClientOptions {
  /** The server, e.g. `http://127.0.0.1:8420`. */
  baseUrl: string;
  /** A bearer token (`tft_…`), sent as `Authorization: Bearer`. */
  token?: string;
  /** The agent the token acts as: when given, every frame put is checked to be authored by it. */
  agentId?: string;
  /** Another `fetch` (tests, proxies); the global one by default. */
  fetch?: typeof fetch;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

/** View options of a node read (docs/API.md "Nodes"), as the generated route types give them. */
export type ViewOptions = Paths["/v1/workspaces/{ws}/nodes/{node_id}"]["get"]["query"];

/** The frame to put: text in `content`, or bytes (sent base64). */
export type FrameInput = Omit<api.FrameSpec, "content" | "content_b64"> &
  ({ content: string; bytes?: undefined } | { bytes: Uint8Array; content?: undefined });

/**
 * The path the server answers for a `by-path` request: empty and `.` names dropped, names
 * NFC-normalized (§4); `undefined` for a path with `..`, which the server refuses anyway.
 */
function normalizePath(path: string): string | undefined {
  const names = path.split("/").filter((name) => name !== "" && name !== ".");
  return names.includes("..") ? undefined : names.map((name) => name.normalize("NFC")).join("/");
}

function check(ok: boolean, what: string, expected: string, got: string): void {
  if (!ok) throw new IntegrityError(`${what}: expected ${expected}, server sent ${got}`, { expected, got });
}

/** The treeframe REST client; every method verifies what it returns. */
export class TreeframeClient {
  readonly baseUrl: string;
  readonly agentId: string | undefined;
  /** The newest `X-Audit-Head` a write answered with (`<seq>:<entry hash>`). */
  auditHead: string | undefined;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Record<string, string>;
  /** Node records are immutable and named by their hash: one verified fetch each. */
  private readonly records = new Map<string, api.NodeRecordResponse>();

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.token = options.token;
    this.agentId = options.agentId;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.headers = { ...(options.headers ?? {}) };
  }

  /** Sends one typed route call and parses its answer; a failure raises its error class. */
  async call<P extends keyof Paths, M extends Method<P>>(
    method: M,
    route: P,
    args: CallArgs<P, M> = {},
  ): Promise<Op<P, M>["response"]> {
    let url = this.baseUrl + String(route).replace(/\{([^}]+)\}/g, (_, name: string) => {
      const value = (args.path as Record<string, unknown> | undefined)?.[name];
      if (typeof value !== "string") throw new TypeError(`missing path parameter ${name}`);
      return encodeURIComponent(value);
    });
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(args.query ?? {})) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (item !== undefined && item !== null) query.append(key, String(item));
      }
    }
    if ([...query].length > 0) url += `?${query}`;
    const headers: Record<string, string> = { "X-API-Version": "1", ...this.headers, ...(args.headers ?? {}) };
    if (this.token !== undefined) headers["Authorization"] = `Bearer ${this.token}`;
    let body: string | undefined;
    if (args.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(args.body);
    }
    let response: Response;
    try {
      response = await this.fetchImpl(url, { method: method.toUpperCase(), headers, body });
    } catch (cause) {
      throw new BackendUnavailable(`cannot reach ${this.baseUrl}: ${String(cause)}`, { cause });
    }
    const head = response.headers.get("X-Audit-Head");
    if (head !== null) this.auditHead = head;
    if (!response.ok) {
      const text = await response.text();
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: mapped by status
      }
      throw errorFromResponse(response.status, parsed);
    }
    if (args.binary) return new Uint8Array(await response.arrayBuffer()) as Op<P, M>["response"];
    return (await response.json()) as Op<P, M>["response"];
  }

  // -- health and workspaces ---------------------------------------------------------

  healthLive(): Promise<api.Live> {
    return this.call("get", "/v1/health/live");
  }

  healthReady(): Promise<api.Ready> {
    return this.call("get", "/v1/health/ready");
  }

  /** Creates (or returns) the workspace of `name`; its ID must be the one the name derives. */
  async createWorkspace(name: string, description?: string): Promise<api.Workspace> {
    const body: api.WorkspaceCreate = description === undefined ? { name } : { name, description };
    return verifyWorkspace(await this.call("post", "/v1/workspaces", { body }));
  }

  async listWorkspaces(page: { after?: string; limit?: number } = {}): Promise<api.WorkspaceList> {
    const list = await this.call("get", "/v1/workspaces", { query: page });
    list.workspaces.forEach(verifyWorkspace);
    return list;
  }

  async getWorkspace(ws: string): Promise<api.WorkspaceDetail> {
    const detail = verifyWorkspace(await this.call("get", "/v1/workspaces/{ws}", { path: { ws } }));
    check(detail.workspace_id === ws, "workspace", ws, detail.workspace_id);
    return detail;
  }

  // -- nodes ---------------------------------------------------------------------------

  /** The node's view; its record, every frame and every content are verified. */
  async getNode(ws: string, nodeId: string, view: ViewOptions = {}): Promise<api.NodeView> {
    const answer = await this.call("get", "/v1/workspaces/{ws}/nodes/{node_id}", {
      path: { ws, node_id: nodeId },
      query: view,
    });
    check(answer.node_id === nodeId, "node view", nodeId, answer.node_id);
    return this.verifyNodeView(answer);
  }

  /** The view of the node at `path` in the current root, verified as `getNode`'s. */
  async getNodeByPath(ws: string, path: string, view: ViewOptions = {}): Promise<api.NodeView> {
    const answer = await this.call("get", "/v1/workspaces/{ws}/nodes/by-path", {
      path: { ws },
      query: { ...view, path },
    });
    const asked = normalizePath(path);
    if (asked !== undefined) check(answer.node_record.path === asked, "node path", asked, answer.node_record.path);
    return this.verifyNodeView(answer);
  }

  private verifyNodeView(view: api.NodeView): api.NodeView {
    verifyNodeRecord(view.node_record);
    check(view.node_record.node_id === view.node_id, "node view record", view.node_id, view.node_record.node_id);
    check(view.path === view.node_record.path, "node view path", view.node_record.path, view.path);
    for (const frame of view.frames) {
      verifyServedFrame(frame);
      if (!frame.previous) check(frame.node_id === view.node_id, "frame's node", view.node_id, frame.node_id);
    }
    return view;
  }

  /** The immutable `node/1` record of a NodeID, verified (and then kept: it never changes). */
  async getNodeRecord(ws: string, nodeId: string): Promise<api.NodeRecordResponse> {
    const key = `${ws}/${nodeId}`;
    const known = this.records.get(key);
    if (known !== undefined) return known;
    const record = await this.call("get", "/v1/workspaces/{ws}/nodes/{node_id}/record", {
      path: { ws, node_id: nodeId },
    });
    check(record.node_id === nodeId, "node record", nodeId, record.node_id);
    verifyNodeRecord(record);
    this.records.set(key, record);
    return record;
  }

  /** A page of a directory's children, each checked against the directory's verified record. */
  async getChildren(ws: string, nodeId: string, page: { after?: string; limit?: number } = {}): Promise<api.Children> {
    const children = await this.call("get", "/v1/workspaces/{ws}/nodes/{node_id}/children", {
      path: { ws, node_id: nodeId },
      query: page,
    });
    const record = await this.getNodeRecord(ws, nodeId);
    check(children.node_id === nodeId, "children", nodeId, children.node_id);
    check(children.path === record.path, "children path", record.path, children.path);
    const listed = new Map((record.children ?? []).map(([name, id]) => [name as string, id as string]));
    for (const entry of children.entries) {
      const id = listed.get(entry.name);
      check(id === entry.node_id, `child ${JSON.stringify(entry.name)}`, String(id), entry.node_id);
      const path = record.path === "" ? entry.name : `${record.path}/${entry.name}`;
      check(entry.path === path, "child path", path, entry.path);
    }
    return children;
  }

  /** The node's heads and frame-set root; the node's path is checked against its record. */
  async getHeads(ws: string, nodeId: string): Promise<api.Heads> {
    const heads = await this.call("get", "/v1/workspaces/{ws}/nodes/{node_id}/heads", {
      path: { ws, node_id: nodeId },
    });
    check(heads.node_id === nodeId, "heads", nodeId, heads.node_id);
    const record = await this.getNodeRecord(ws, nodeId);
    check(heads.path === record.path, "heads path", record.path, heads.path);
    for (const [type, id] of Object.entries(heads.heads)) {
      check(isHexId(id), `head of ${type}`, "a FrameID", id);
    }
    return heads;
  }

  /** A membership proof, walked up to its root here; `expectedRoot` pins the root too. */
  async getProof(ws: string, nodeId: string, frameIdHex: string, expectedRoot?: string): Promise<api.Proof> {
    const proof = await this.call("get", "/v1/workspaces/{ws}/nodes/{node_id}/proof/{frame_id}", {
      path: { ws, node_id: nodeId, frame_id: frameIdHex },
    });
    const asked = expectedRoot === undefined ? { nodeId, frameId: frameIdHex } : { nodeId, frameId: frameIdHex, expectedRoot };
    return verifyProofResponse(proof, asked);
  }

  /**
   * The node's whole frame set, checked: every frame is fetched through a view and
   * verified, and the heads' frame-set root must be the root of exactly those FrameIDs.
   */
  async verifyFrameSet(ws: string, nodeId: string): Promise<{ root: string; frameIds: string[] }> {
    const heads = await this.getHeads(ws, nodeId);
    const view = await this.getNode(ws, nodeId, { max_frames: Math.max(1, heads.frame_count) });
    if (view.frames.length !== heads.frame_count) {
      throw new IntegrityError(`the node has ${heads.frame_count} frames, the view served ${view.frames.length}`);
    }
    const frameIds = view.frames.map((f) => f.frame_id);
    const claimed = heads.frame_set_root ?? (heads.frame_count === 0 ? EMPTY_ROOT : "");
    return { root: verifyFrameSetRoot(frameIds, claimed), frameIds };
  }

  /**
   * The node's heads, each proven: its frame fetched and verified (it is of that node and
   * type) and shown by a proof to be in the frame set whose root the heads name.
   */
  async verifyHeads(ws: string, nodeId: string): Promise<api.Heads> {
    const heads = await this.getHeads(ws, nodeId);
    for (const [type, id] of Object.entries(heads.heads)) {
      const frame = await this.getFrame(ws, id);
      check(frame.node_id === nodeId && frame.frame_type === type, `head of ${type}`, `a ${type} frame of ${nodeId}`, `a ${frame.frame_type} frame of ${frame.node_id}`);
      await this.getProof(ws, nodeId, id, heads.frame_set_root ?? "");
    }
    return heads;
  }

  // -- audit ---------------------------------------------------------------------------

  /**
   * The workspace's whole audit log (admin), its hash chain verified here (§14); `head`
   * (by default the newest `X-Audit-Head` this client saw) must still be in it.
   */
  async verifyAuditLog(ws: string, head: string | undefined = this.auditHead): Promise<api.AuditEntryModel[]> {
    const entries: api.AuditEntryModel[] = [];
    let after = 0;
    for (;;) {
      const page = await this.call("get", "/v1/workspaces/{ws}/audit", { path: { ws }, query: { after, limit: 1000 } });
      entries.push(...page.entries);
      if (page.next_after === null) break;
      after = page.next_after;
    }
    verifyAuditChain(entries, head);
    return entries;
  }

  // -- frames --------------------------------------------------------------------------

  /**
   * Puts a frame; the FrameID the server answers must be the one computed here from the
   * node, the type, the author, the basis and the content sent.
   */
  async putFrame(
    ws: string,
    node: string,
    frame: FrameInput,
    condition: { ifMatch?: string; ifNoneMatch?: boolean } = {},
  ): Promise<api.PutFrameResult> {
    const { bytes, content, ...rest } = frame;
    const data = bytes ?? utf8(content as string);
    const spec: api.FrameSpec = bytes === undefined ? { ...rest, content: content as string } : { ...rest, content_b64: toBase64(bytes) };
    const headers: Record<string, string> = {};
    if (condition.ifMatch !== undefined) headers["If-Match"] = `"${condition.ifMatch}"`;
    if (condition.ifNoneMatch) headers["If-None-Match"] = "*";
    const result = await this.call("post", "/v1/workspaces/{ws}/frames", {
      path: { ws },
      body: { node_id: node, frame: spec },
      headers,
    });
    if (isHexId(node)) check(result.node_id === node, "put node", node, result.node_id);
    else {
      const asked = normalizePath(node);
      const record = await this.getNodeRecord(ws, result.node_id);
      if (asked !== undefined) check(record.path === asked, "put node path", asked, record.path);
    }
    const agent = this.agentId ?? result.frame.agent_id;
    const basis: Basis = frame.basis ? parseBasis(frame.basis) : { kind: "node", node_id: result.node_id };
    const expected = frameId({
      node_id: result.node_id,
      frame_type: frame.frame_type,
      agent_id: agent,
      basis_hash: basisHash(basis),
      content_hash: contentHash(data),
    });
    check(result.frame_id === expected, "FrameID of the put", expected, result.frame_id);
    check(result.frame.frame_id === expected, "FrameID of the stored frame", expected, result.frame.frame_id);
    verifyFrameRecord(result.frame);
    return result;
  }

  /** A frame and its content, both verified (`fresh` adds the freshness fields). */
  async getFrame(ws: string, frameIdHex: string, options: { fresh?: boolean } = {}): Promise<api.FrameResource> {
    const frame = await this.call("get", "/v1/workspaces/{ws}/frames/{frame_id}", {
      path: { ws, frame_id: frameIdHex },
      query: options.fresh ? { fresh: true } : {},
    });
    check(frame.frame_id === frameIdHex, "frame", frameIdHex, frame.frame_id);
    return verifyServedFrame(frame);
  }

  /**
   * A frame's raw content, verified against the frame's content hash (fetched and
   * verified first unless `contentHash` is given).
   */
  async getFrameContent(ws: string, frameIdHex: string, expectedHash?: string): Promise<Uint8Array> {
    const hash = expectedHash ?? (await this.getFrame(ws, frameIdHex)).content_hash;
    const bytes = (await this.call("get", "/v1/workspaces/{ws}/frames/{frame_id}/content", {
      path: { ws, frame_id: frameIdHex },
      binary: true,
    })) as unknown as Uint8Array;
    return verifyContent(bytes, hash);
  }

  // -- operations ----------------------------------------------------------------------

  /** Runs a synthesis; every frame it answers with is verified. */
  async synthesize(ws: string, request: api.SynthesizeRequest): Promise<api.Synthesis> {
    const result = await this.call("post", "/v1/workspaces/{ws}/synthesize", { path: { ws }, body: request });
    result.frames.forEach(verifyFrameRecord);
    return result;
  }

  /**
   * Recomputes a synthesis frame's content from its inputs (§8): each input frame is
   * fetched and verified, its node's path read from the node's verified record, and the
   * policy's bytes must hash to the frame's content hash. A valid FrameID alone does not
   * show this: anyone can put a frame with a synthesis basis and any content.
   */
  async verifySynthesis(ws: string, frame: FrameRecordLike): Promise<Uint8Array> {
    verifyFrameRecord(frame);
    const basis = parseBasis(frame.basis);
    if (basis.kind !== "synthesis") throw new InvalidFrame(`frame ${frame.frame_id} has a ${basis.kind} basis`);
    const params = basis.params["params"];
    if (typeof params !== "object" || params === null || Array.isArray(params)) {
      throw new IntegrityError(`frame ${frame.frame_id}: its basis params carry no policy params object`);
    }
    const inputs: SynthesisInput[] = [];
    for (const id of basis.child_frames) {
      const input = await this.getFrame(ws, id);
      const record = await this.getNodeRecord(ws, input.node_id);
      inputs.push({ ...input, child_path: record.path, content: servedContentBytes(input) });
    }
    const bytes = policyContent(basis.policy_id, params as Record<string, unknown>, inputs);
    return verifyContent(bytes, frame.content_hash, frame.size);
  }

  async regenerate(ws: string, request: api.RegenerateRequest): Promise<api.Regeneration> {
    const result = await this.call("post", "/v1/workspaces/{ws}/regenerate", { path: { ws }, body: request });
    for (const id of result.frame_ids) check(isHexId(id), "regenerated frame", "a FrameID", id);
    return result;
  }

  /**
   * Generates frames with the caller's model provider. The answer names FrameIDs only:
   * `getFrame` each one to verify it (the model's text is whatever the model said).
   */
  async generate(ws: string, request: api.GenerateRequest): Promise<api.Generation> {
    const result = await this.call("post", "/v1/workspaces/{ws}/generate", { path: { ws }, body: request });
    for (const entry of result.entries) {
      check(isHexId(entry.node_id), `generated entry ${JSON.stringify(entry.path)}`, "a NodeID", entry.node_id);
      if (entry.frame_id !== null && entry.frame_id !== undefined) {
        check(isHexId(entry.frame_id), `generated entry ${JSON.stringify(entry.path)}`, "a FrameID", entry.frame_id);
      }
    }
    return result;
  }

  async stale(ws: string, options: { node?: string; recursive?: boolean } = {}): Promise<api.StaleReport> {
    const report = await this.call("get", "/v1/workspaces/{ws}/stale", { path: { ws }, query: options });
    for (const frame of report.frames) check(isHexId(frame.frame_id), "stale frame", "a FrameID", frame.frame_id);
    return report;
  }

  /** A composition; every frame it serves (record and content) is verified. */
  async compose(ws: string, request: api.ComposeRequest): Promise<api.Composition> {
    const result = await this.call("post", "/v1/workspaces/{ws}/compose", { path: { ws }, body: request });
    result.frames.forEach(verifyServedFrame);
    return result;
  }

  async diff(ws: string, from: string, to?: string): Promise<api.Diff> {
    return this.call("get", "/v1/workspaces/{ws}/diff", { path: { ws }, query: to === undefined ? { from } : { from, to } });
  }

  // -- push ----------------------------------------------------------------------------

  /**
   * Pushes a tree hashed here (`buildTree`) and makes it the workspace's root: the server
   * recomputes every NodeID it receives, so its acceptance is a second implementation's
   * agreement with this one.
   */
  async pushTree(ws: string, tree: BuiltTree): Promise<api.CommitResponse> {
    const offer = await this.call("post", "/v1/workspaces/{ws}/push/negotiate", {
      path: { ws },
      body: { root: tree.root },
    });
    if (!offer.root_present) {
      const size = Math.max(1, offer.max_batch);
      for (let i = 0; i < tree.records.length; i += size) {
        await this.call("post", "/v1/workspaces/{ws}/push/records", {
          path: { ws },
          body: { records: tree.records.slice(i, i + size) },
        });
      }
    }
    const commit = await this.call("post", "/v1/workspaces/{ws}/push/commit", {
      path: { ws },
      body: { root: tree.root, expected_root: offer.current_root },
    });
    check(commit.root === tree.root, "pushed root", tree.root, commit.root);
    return commit;
  }
}
