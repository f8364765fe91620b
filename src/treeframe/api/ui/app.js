// treeframe explorer: a read-only view of a workspace through the public v1 API.
//
// Everything shown comes from the routes any client may call, with the token
// the user typed in (kept in sessionStorage: gone when the tab closes). Every
// value is put into the page as text (`h` below appends strings as text nodes
// and sets attributes): frame content is untrusted and never parsed as HTML.

const TOKEN_KEY = "treeframe.token";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const errorBox = document.getElementById("error");
const logoutButton = document.getElementById("logout");

class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** An element with attributes (`on*` functions become listeners) and text or element children. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

/** GET a v1 route; a failure becomes an ApiError from the error envelope (code + message). */
async function api(path, params = {}) {
  const url = new URL(`/v1${path}`, location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${token()}`, "X-API-Version": "1" },
    });
  } catch (err) {
    throw new ApiError("network_error", String(err.message || err), 0);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const envelope = body && body.error;
    throw new ApiError(
      envelope ? envelope.code : `http_${response.status}`,
      envelope ? envelope.message : response.statusText,
      response.status,
    );
  }
  return body;
}

// IDs from the URL become path segments of API calls: only 64 lowercase hex, never "..".
const HEX64 = /^[0-9a-f]{64}$/;

function checkedId(value, what) {
  if (!HEX64.test(value || "")) throw new ApiError("invalid_id", `not a ${what} (64 lowercase hex): ${value}`, 400);
  return value;
}

const wsApi = (ws, path, params) => api(`/workspaces/${encodeURIComponent(ws)}${path}`, params);

// Hash routes: #/w/<ws>/<view>/<arg...>, each segment URI-encoded.
const href = (...parts) => "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
const pathParts = (path) => (path ? path.split("/") : []);
const treeHref = (ws, path) => href("w", ws, "tree", ...pathParts(path));
const nodeHref = (ws, id) => href("w", ws, "node", id);
const staleHref = (ws, path) => href("w", ws, "stale", ...pathParts(path));

const short = (id) =>
  id ? h("code", { title: id }, id.slice(0, 12)) : h("span", { class: "muted" }, "—");
const when = (time) =>
  h("span", { class: "time", title: time }, time.replace("T", " ").replace(/\.\d+Z$/, "Z"));
const badge = (text, kind = "") => h("span", { class: `badge ${kind}`.trim() }, text);
const link = (target, ...children) => h("a", { href: target }, ...children);
const ids = (list) => h("div", {}, list.map((id) => h("div", {}, short(id))));
const facts = (pairs) =>
  h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
const row = (attrs, ...cells) => h("tr", attrs, cells.map((cell) => h("td", {}, cell)));
const table = (headings, rows) =>
  h("table", {}, h("thead", {}, h("tr", {}, headings.map((t) => h("th", {}, t)))), h("tbody", {}, rows));

/** Every item of a keyset-paged listing; `fetchPage(after)` answers one page. */
async function allPages(fetchPage, items, next) {
  const out = [];
  let after = null;
  do {
    const page = await fetchPage(after);
    out.push(...page[items]);
    after = page[next];
  } while (after !== null && after !== undefined);
  return out;
}

function showError(err) {
  errorBox.replaceChildren(h("code", {}, err.code || "error"), ": ", err.message);
  errorBox.dataset.code = err.code || "error";
  errorBox.hidden = false;
}

function clearError() {
  errorBox.hidden = true;
  errorBox.replaceChildren();
  delete errorBox.dataset.code;
}

function crumbs(ws, path, to = treeHref) {
  const parts = pathParts(path);
  return h(
    "div",
    { class: "crumbs" },
    link(to(ws, ""), "/"),
    parts.map((name, i) => [i ? " / " : " ", link(to(ws, parts.slice(0, i + 1).join("/")), name)]),
  );
}

function setNav(ws) {
  const items = token() ? [link("#/", "Workspaces")] : [];
  if (ws) {
    items.push(
      link(treeHref(ws, ""), "Tree"),
      link(href("w", ws, "roots"), "Root history"),
      link(staleHref(ws, ""), "Stale"),
      link(href("w", ws, "audit"), "Audit log"),
    );
  }
  nav.replaceChildren(...items);
  logoutButton.hidden = !token();
}

// ---- views: each returns the element that becomes the page -------------------------------

function loginView() {
  const input = h("input", {
    type: "password",
    id: "token",
    name: "token",
    autocomplete: "off",
    required: true,
    placeholder: "tft_…",
  });
  const submit = async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      await api("/workspaces", { limit: 1 });
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      showError(err);
      return;
    }
    location.hash = "#/";
    render();
  };
  return h(
    "form",
    { class: "login", onsubmit: submit },
    h("h1", {}, "Log in"),
    h("label", { for: "token" }, "API token (Authorization: Bearer); kept in this tab only"),
    input,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Log in")),
  );
}

async function workspacesView() {
  const workspaces = await allPages((after) => api("/workspaces", { after, limit: 1000 }), "workspaces", "next");
  return h(
    "section",
    {},
    h("h1", {}, "Workspaces"),
    workspaces.length ? null : h("p", { class: "notice" }, "This token can read no workspace."),
    table(
      ["name", "description", "workspace ID", "owner"],
      workspaces.map((w) =>
        row(
          { "data-ws": w.workspace_id },
          link(treeHref(w.workspace_id, ""), w.name),
          w.description || "",
          short(w.workspace_id),
          w.owner || "",
        ),
      ),
    ),
  );
}

/** How many stale frames lie at or under `path` ("" is the root: all of them). */
const staleUnder = (frames, path) =>
  frames.filter((f) => !path || f.path === path || f.path.startsWith(`${path}/`)).length;

async function treeView(ws, path) {
  const node = await wsApi(ws, "/nodes/by-path", { path, max_frames: 1 });
  if (node.node_record.kind !== "dir") {
    location.replace(nodeHref(ws, node.node_id));
    return null;
  }
  const [entries, stale] = await Promise.all([
    allPages((after) => wsApi(ws, `/nodes/${node.node_id}/children`, { after, limit: 1000 }), "entries", "next_after"),
    wsApi(ws, "/stale", { node: node.node_id, recursive: true }),
  ]);
  const below = staleUnder(stale.frames, path);
  const rows = entries.map((e) => {
    const count = staleUnder(stale.frames, e.path);
    const target = e.kind === "dir" ? treeHref(ws, e.path) : nodeHref(ws, e.node_id);
    return h(
      "tr",
      { class: count ? "stale" : null, "data-path": e.path },
      h("td", {}, link(target, e.name, e.kind === "dir" ? "/" : "")),
      h("td", {}, e.kind),
      h("td", { class: "frames" }, String(e.frame_count)),
      h("td", {}, count ? badge(`${count} stale`, "stale") : ""),
    );
  });
  return h(
    "section",
    {},
    crumbs(ws, path),
    h("h1", {}, path || "/", below ? badge(`${below} stale here and below`, "stale") : null),
    h(
      "div",
      { class: "actions" },
      link(nodeHref(ws, node.node_id), `Frames of this directory (${node.frame_count})`),
      link(staleHref(ws, path), "Stale frames here"),
      h("span", { class: "muted" }, "node ", short(node.node_id)),
    ),
    entries.length ? table(["name", "kind", "frames", "stale"], rows) : h("p", { class: "muted" }, "Empty directory."),
  );
}

function basisView(ws, basis) {
  return facts([
    ["kind", basis.kind],
    basis.node_id && ["node", link(nodeHref(ws, basis.node_id), short(basis.node_id))],
    basis.frame_id && ["frame", short(basis.frame_id)],
    basis.policy_id && ["policy", basis.policy_id],
    basis.params && ["params", h("code", {}, JSON.stringify(basis.params))],
    basis.child_frames && ["child frames", ids(basis.child_frames)],
  ]);
}

function proofView(ws, frame) {
  const holder = h("div", { class: "proof" });
  const show = async () => {
    try {
      const proof = await wsApi(ws, `/nodes/${frame.node_id}/proof/${frame.frame_id}`);
      holder.replaceChildren(
        h("h4", {}, "Membership proof ", proof.valid ? badge("valid", "head") : badge("invalid", "stale")),
        facts([
          ["frame-set root", h("code", {}, proof.root)],
          ["steps", String(proof.steps.length)],
        ]),
        h("ol", {}, proof.steps.map((step) => h("li", {}, `${step.side} `, h("code", {}, step.digest)))),
      );
    } catch (err) {
      showError(err);
    }
  };
  const button = h("button", { type: "button", class: "show-proof", onclick: show }, "Show proof");
  return [h("div", { class: "actions" }, button), holder];
}

function frameCard(ws, frame, headIds) {
  return h(
    "article",
    { class: frame.stale ? "frame stale" : "frame", "data-frame": frame.frame_id },
    h(
      "h3",
      {},
      frame.frame_type,
      h("span", { class: "muted" }, ` by ${frame.agent_id}`),
      headIds.has(frame.frame_id) ? badge("head", "head") : null,
      frame.stale ? badge("stale", "stale") : null,
      frame.previous ? badge("previous version") : null,
      frame.incomplete ? badge("incomplete", "stale") : null,
    ),
    facts([
      ["frame", h("code", {}, frame.frame_id)],
      ["created", when(frame.created_at)],
      ["content", `${frame.content_type}, ${frame.size} bytes`],
      frame.stale_inputs.length && ["stale inputs", ids(frame.stale_inputs)],
      frame.missing.length && ["missing", ids(frame.missing)],
    ]),
    h("pre", { class: "content" }, frame.content),
    h("details", {}, h("summary", {}, "Basis"), basisView(ws, frame.basis)),
    proofView(ws, frame),
  );
}

async function nodeView(ws, nodeId, maxFrames) {
  // Without max_frames the server's view.default_max_frames applies; "more" asks for 100 more.
  const [node, heads] = await Promise.all([
    wsApi(ws, `/nodes/${nodeId}`, { max_frames: maxFrames, include_previous: true }),
    wsApi(ws, `/nodes/${nodeId}/heads`),
  ]);
  const headIds = new Set(Object.values(heads.heads));
  const record = node.node_record;
  const headList = Object.entries(heads.heads).map(([type, id]) => h("div", {}, `${type}: `, short(id)));
  return h(
    "section",
    {},
    crumbs(ws, node.path),
    h("h1", {}, node.path || "/", heads.current ? null : badge("not in the current root", "stale")),
    facts([
      ["node", h("code", {}, node.node_id)],
      ["kind", record.kind],
      record.size !== null && ["size", `${record.size} bytes`],
      record.target && ["target", record.target],
      ["frames", String(heads.frame_count)],
      ["heads", headList.length ? headList : "none"],
      ["frame-set root", heads.frame_set_root ? h("code", {}, heads.frame_set_root) : "none"],
    ]),
    h(
      "div",
      { class: "actions" },
      record.kind === "dir" ? link(treeHref(ws, node.path), "Browse children") : null,
      link(staleHref(ws, node.path), "Stale frames here"),
    ),
    h("h2", {}, `Frames (${node.frames.length})`),
    node.frames.length ? node.frames.map((f) => frameCard(ws, f, headIds)) : h("p", { class: "muted" }, "No frames."),
    node.truncated
      ? h("p", {}, link(href("w", ws, "node", nodeId, String(node.frames.length + 100)), "Show more frames"))
      : null,
  );
}

async function rootsView(ws, before) {
  const page = await wsApi(ws, "/roots", { limit: 100, before });
  const roots = page.roots;
  const radio = (name, r, checked) =>
    h("input", { type: "radio", name, value: r.root, checked, "aria-label": `${name} ${r.seq}` });
  const diff = (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    location.hash = href("w", ws, "diff", data.get("from"), data.get("to"));
  };
  const rows = roots.map((r, i) =>
    row(
      { "data-seq": r.seq },
      String(r.seq),
      short(r.root),
      when(r.created_at),
      radio("from", r, i === Math.min(1, roots.length - 1)),
      radio("to", r, i === 0),
    ),
  );
  return h(
    "section",
    {},
    h("h1", {}, "Root history"),
    h("p", { class: "muted" }, "Newest first; the current root is ", short(page.current && page.current.root), "."),
    h(
      "form",
      { onsubmit: diff },
      table(["seq", "root", "created", "from", "to"], rows),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "primary", disabled: roots.length === 0 }, "Diff the two roots"),
        page.next_before !== null ? link(href("w", ws, "roots", String(page.next_before)), "Older roots →") : null,
      ),
    ),
  );
}

async function diffView(ws, from, to) {
  const diff = await wsApi(ws, "/diff", { from, to });
  const side = (id) => (id ? link(nodeHref(ws, id), short(id)) : short(null));
  return h(
    "section",
    {},
    h("h1", {}, "Diff ", short(diff.from_root), " → ", short(diff.to_root)),
    h("p", {}, link(href("w", ws, "roots"), "← root history")),
    diff.same ? h("p", { class: "notice" }, "The two roots are the same tree.") : null,
    facts(Object.entries(diff.counts).map(([k, v]) => [k.replace("_", " "), String(v)])),
    diff.entries.length
      ? table(
          ["path", "change", "old", "new"],
          diff.entries.map((e) =>
            row({ class: `diff-${e.kind}`, "data-path": e.path }, e.path || "/", e.kind, side(e.old_id), side(e.new_id)),
          ),
        )
      : null,
  );
}

async function staleView(ws, path) {
  const stale = await wsApi(ws, "/stale", { node: path, recursive: true });
  const inside = (f) => staleUnder([f], path) === 1;
  const rows = (frames) =>
    table(
      ["path", "type", "agent", "reason", "recomputable", "frame"],
      frames.map((f) =>
        row(
          { class: "stale", "data-path": f.path },
          link(nodeHref(ws, f.node_id), f.path || "/"),
          f.frame_type,
          f.agent_id,
          f.reason,
          f.recomputable ? "yes" : "no",
          short(f.frame_id),
        ),
      ),
    );
  const within = stale.frames.filter(inside);
  const above = stale.frames.filter((f) => !inside(f));
  const nothing = "Nothing stale here: every head frame in this subtree is built on what is current.";
  return h(
    "section",
    {},
    crumbs(ws, path, staleHref),
    h("h1", {}, `Stale frames under ${path || "/"}`),
    h("p", { class: "muted" }, "Head frames whose basis is no longer current (GET stale?recursive=true)."),
    h("div", { id: "stale-within" }, within.length ? rows(within) : h("p", { class: "notice" }, nothing)),
    above.length
      ? h(
          "div",
          { id: "stale-above" },
          h("h2", {}, "Stale up the chain"),
          h("p", { class: "muted" }, "Stale head frames of the directories above."),
          rows(above),
        )
      : null,
  );
}

async function auditView(ws, after) {
  let page;
  try {
    page = await wsApi(ws, "/audit", { after: after || 0, limit: 100 });
  } catch (err) {
    if (err.code !== "access_denied") throw err;
    return h(
      "section",
      {},
      h("h1", {}, "Audit log"),
      h(
        "p",
        { class: "notice", id: "audit-denied" },
        "The audit log is for the workspace's admins: this token does not hold ",
        h("code", {}, "admin"),
        " here.",
      ),
    );
  }
  const rows = page.entries.map((e) =>
    row(
      { "data-seq": e.seq, class: e.success ? null : "stale" },
      String(e.seq),
      when(e.time),
      e.agent ?? h("span", { class: "muted" }, "local owner"),
      e.operation,
      e.node ? link(nodeHref(ws, e.node), short(e.node)) : short(null),
      short(e.frame),
      e.success ? "ok" : badge(e.error || "refused", "stale"),
      short(e.request_id),
    ),
  );
  return h(
    "section",
    {},
    h("h1", {}, "Audit log"),
    table(["seq", "time", "agent", "operation", "node", "frame", "outcome", "request"], rows),
    page.next_after !== null ? h("p", {}, link(href("w", ws, "audit", String(page.next_after)), "Next entries →")) : null,
  );
}

// ---- router ----------------------------------------------------------------------------------

let rendering = 0;

/** A hash segment as text (a malformed escape, typed by hand, is kept as it is). */
function decoded(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

async function render() {
  const mine = ++rendering;
  clearError();
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decoded);
  const [w, ws, view, ...rest] = parts;
  setNav(w === "w" ? ws : null);
  if (!token()) {
    setNav(null);
    main.replaceChildren(loginView());
    return;
  }
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  let page;
  try {
    if (w === "w") checkedId(ws, "workspace ID");
    if (w !== "w") page = await workspacesView();
    else if (view === "node") page = await nodeView(ws, checkedId(rest[0], "NodeID"), rest[1]);
    else if (view === "roots") page = await rootsView(ws, rest[0]);
    else if (view === "diff") page = await diffView(ws, rest[0], rest[1]);
    else if (view === "stale") page = await staleView(ws, rest.join("/"));
    else if (view === "audit") page = await auditView(ws, rest[0]);
    else page = await treeView(ws, rest.join("/"));
  } catch (err) {
    if (mine !== rendering) return;
    if (err.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      setNav(null);
      main.replaceChildren(loginView());
    } else {
      main.replaceChildren();
    }
    showError(err);
    return;
  }
  if (mine === rendering && page) main.replaceChildren(page);
}

logoutButton.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = "#/";
  render();
});
window.addEventListener("hashchange", render);
render();
