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

const wsApi = (ws, path, params) => api(`/workspaces/${encodeURIComponent(ws)}${path}`, params);

// Hash routes: #/w/<ws>/<view>/<arg...>, each segment URI-encoded.
const href = (...parts) => "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
const pathParts = (path) => (path ? path.split("/") : []);
const treeHref = (ws, path) => href("w", ws, "tree", ...pathParts(path));
const nodeHref = (ws, id) => href("w", ws, "node", id);
const staleHref = (ws, path) => href("w", ws, "stale", ...pathParts(path));

const short = (id) => (id ? h("code", { title: id }, id.slice(0, 12)) : h("span", { class: "muted" }, "—"));
const when = (time) => h("span", { class: "time", title: time }, time.replace("T", " ").replace(/\.\d+Z$/, "Z"));
const badge = (text, kind = "") => h("span", { class: `badge ${kind}`.trim() }, text);
const link = (target, ...children) => h("a", { href: target }, ...children);
const facts = (pairs) => h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));

function table(headings, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headings.map((t) => h("th", {}, t)))), h("tbody", {}, rows));
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
  const items = [link("#/", "Workspaces")];
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
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off", required: true, placeholder: "tft_…" });
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
  const rows = [];
  let after = null;
  do {
    const page = await api("/workspaces", { after, limit: 1000 });
    rows.push(...page.workspaces);
    after = page.next;
  } while (after);
  return h(
    "section",
    {},
    h("h1", {}, "Workspaces"),
    rows.length === 0 ? h("p", { class: "notice" }, "This token can read no workspace.") : null,
    table(
      ["name", "description", "workspace ID", "owner"],
      rows.map((w) =>
        h("tr", { "data-ws": w.workspace_id }, h("td", {}, link(treeHref(w.workspace_id, ""), w.name)), h("td", {}, w.description || ""), h("td", {}, short(w.workspace_id)), h("td", {}, w.owner || "")),
      ),
    ),
  );
}

async function children(ws, nodeId) {
  const entries = [];
  let after = null;
  do {
    const page = await wsApi(ws, `/nodes/${nodeId}/children`, { after, limit: 1000 });
    entries.push(...page.entries);
    after = page.next_after;
  } while (after);
  return entries;
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
    children(ws, node.node_id),
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
  const pairs = [["kind", basis.kind]];
  if (basis.node_id) pairs.push(["node", link(nodeHref(ws, basis.node_id), short(basis.node_id))]);
  if (basis.frame_id) pairs.push(["frame", short(basis.frame_id)]);
  if (basis.policy_id) pairs.push(["policy", basis.policy_id]);
  if (basis.params) pairs.push(["params", h("code", {}, JSON.stringify(basis.params))]);
  if (basis.child_frames) pairs.push(["child frames", h("div", {}, basis.child_frames.map((id) => h("div", {}, short(id))))]);
  return facts(pairs);
}

function proofButton(ws, frame) {
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
        h("ol", {}, proof.steps.map((s) => h("li", {}, `${s.side} `, h("code", {}, s.digest)))),
      );
    } catch (err) {
      showError(err);
    }
  };
  return [h("div", { class: "actions" }, h("button", { type: "button", class: "show-proof", onclick: show }, "Show proof")), holder];
}

function frameCard(ws, frame, headIds) {
  const isHead = headIds.has(frame.frame_id);
  return h(
    "article",
    { class: frame.stale ? "frame stale" : "frame", "data-frame": frame.frame_id },
    h(
      "h3",
      {},
      frame.frame_type,
      h("span", { class: "muted" }, ` by ${frame.agent_id}`),
      isHead ? badge("head", "head") : null,
      frame.stale ? badge("stale", "stale") : null,
      frame.previous ? badge("previous version") : null,
      frame.incomplete ? badge("incomplete", "stale") : null,
    ),
    facts([
      ["frame", h("code", {}, frame.frame_id)],
      ["created", when(frame.created_at)],
      ["content", `${frame.content_type}, ${frame.size} bytes`],
      frame.stale_inputs.length ? ["stale inputs", h("div", {}, frame.stale_inputs.map((id) => h("div", {}, short(id))))] : null,
      frame.missing.length ? ["missing", h("div", {}, frame.missing.map((id) => h("div", {}, short(id))))] : null,
    ].filter(Boolean)),
    h("pre", { class: "content" }, frame.content),
    h("details", {}, h("summary", {}, "Basis"), basisView(ws, frame.basis)),
    proofButton(ws, frame),
  );
}

async function nodeView(ws, nodeId) {
  const [node, heads] = await Promise.all([
    wsApi(ws, `/nodes/${nodeId}`, { max_frames: 200, include_previous: true }),
    wsApi(ws, `/nodes/${nodeId}/heads`),
  ]);
  const headIds = new Set(Object.values(heads.heads));
  const record = node.node_record;
  return h(
    "section",
    {},
    crumbs(ws, node.path),
    h("h1", {}, node.path || "/", heads.current ? null : badge("not in the current root", "stale")),
    facts([
      ["node", h("code", {}, node.node_id)],
      ["kind", record.kind],
      record.size !== null ? ["size", `${record.size} bytes`] : null,
      record.target ? ["target", record.target] : null,
      ["frames", String(heads.frame_count)],
      ["heads", Object.keys(heads.heads).length ? Object.entries(heads.heads).map(([t, id]) => h("div", {}, `${t}: `, short(id))) : "none"],
      ["frame-set root", heads.frame_set_root ? h("code", {}, heads.frame_set_root) : "none"],
    ].filter(Boolean)),
    h("div", { class: "actions" }, record.kind === "dir" ? link(treeHref(ws, node.path), "Browse children") : null, link(staleHref(ws, node.path), "Stale frames here")),
    h("h2", {}, `Frames (${node.frames.length}${node.truncated ? ", truncated" : ""})`),
    node.frames.length ? node.frames.map((f) => frameCard(ws, f, headIds)) : h("p", { class: "muted" }, "No frames."),
  );
}

async function rootsView(ws) {
  const page = await wsApi(ws, "/roots", { limit: 100 });
  const roots = page.roots;
  const radio = (name, r, checked) => h("input", { type: "radio", name, value: r.root, checked, "aria-label": `${name} ${r.seq}` });
  const form = h(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        location.hash = href("w", ws, "diff", data.get("from"), data.get("to"));
      },
    },
    table(
      ["seq", "root", "created", "from", "to"],
      roots.map((r, i) =>
        h("tr", { "data-seq": r.seq }, h("td", {}, String(r.seq)), h("td", {}, short(r.root)), h("td", {}, when(r.created_at)), h("td", {}, radio("from", r, i === Math.min(1, roots.length - 1))), h("td", {}, radio("to", r, i === 0))),
      ),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", disabled: roots.length === 0 }, "Diff the two roots")),
  );
  return h(
    "section",
    {},
    h("h1", {}, "Root history"),
    h("p", { class: "muted" }, "Newest first; the current root is ", short(page.current && page.current.root), page.next_before !== null ? " (older roots not shown)" : "", "."),
    form,
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
          diff.entries.map((e) => h("tr", { class: `diff-${e.kind}`, "data-path": e.path }, h("td", {}, e.path || "/"), h("td", {}, e.kind), h("td", {}, side(e.old_id)), h("td", {}, side(e.new_id)))),
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
        h("tr", { class: "stale", "data-path": f.path }, h("td", {}, link(nodeHref(ws, f.node_id), f.path || "/")), h("td", {}, f.frame_type), h("td", {}, f.agent_id), h("td", {}, f.reason), h("td", {}, f.recomputable ? "yes" : "no"), h("td", {}, short(f.frame_id))),
      ),
    );
  const within = stale.frames.filter(inside);
  const above = stale.frames.filter((f) => !inside(f));
  return h(
    "section",
    {},
    crumbs(ws, path, staleHref),
    h("h1", {}, `Stale frames under ${path || "/"}`),
    h("p", { class: "muted" }, "Head frames whose basis is no longer current (GET stale?recursive=true)."),
    h(
      "div",
      { id: "stale-within" },
      within.length ? rows(within) : h("p", { class: "notice" }, "Nothing stale here: every head frame in this subtree is built on what is current."),
    ),
    above.length
      ? h("div", { id: "stale-above" }, h("h2", {}, "Stale up the chain"), h("p", { class: "muted" }, "Stale head frames of the directories above."), rows(above))
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
      h("p", { class: "notice", id: "audit-denied" }, "The audit log is for the workspace's admins: this token does not hold ", h("code", {}, "admin"), " here."),
    );
  }
  return h(
    "section",
    {},
    h("h1", {}, "Audit log"),
    table(
      ["seq", "time", "agent", "operation", "node", "frame", "outcome", "request"],
      page.entries.map((e) =>
        h(
          "tr",
          { "data-seq": e.seq, class: e.success ? null : "stale" },
          h("td", {}, String(e.seq)),
          h("td", {}, when(e.time)),
          h("td", {}, e.agent ?? h("span", { class: "muted" }, "local owner")),
          h("td", {}, e.operation),
          h("td", {}, e.node ? link(nodeHref(ws, e.node), short(e.node)) : short(null)),
          h("td", {}, short(e.frame)),
          h("td", {}, e.success ? "ok" : badge(e.error || "refused", "stale")),
          h("td", {}, short(e.request_id)),
        ),
      ),
    ),
    page.next_after !== null ? h("p", {}, link(href("w", ws, "audit", String(page.next_after)), "Next entries →")) : null,
  );
}

// ---- router ----------------------------------------------------------------------------------

let rendering = 0;

async function render() {
  const mine = ++rendering;
  clearError();
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
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
    if (w !== "w") page = await workspacesView();
    else if (view === "node") page = await nodeView(ws, rest[0]);
    else if (view === "roots") page = await rootsView(ws);
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
