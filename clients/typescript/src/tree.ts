/**
 * Node records built from an in-memory tree, for pushing a tree the client hashed itself.
 *
 * Names are NFC-normalized (§4) and checked to be path components; directories list
 * their children in UTF-8 name order (§3.3). Every record's NodeID is computed here, so a
 * server that accepts the push agrees with this implementation byte for byte.
 */

import { InvalidPath } from "./errors.js";
import { contentHash, dirNodeId, fileNodeId, sortChildren, symlinkNodeId } from "./hashing.js";
import { utf8 } from "./encoding.js";

/** A file, symlink or (possibly empty) directory at a workspace path. */
export type TreeEntry =
  | { kind: "file"; content: Uint8Array | string; executable?: boolean }
  | { kind: "symlink"; target: string }
  | { kind: "dir" };

/** A `node/1` record in its `to_dict()` form (no null fields). */
export type NodeRecord =
  | { schema: "node/1"; node_id: string; path: string; kind: "file"; content_hash: string; size: number; executable: boolean }
  | { schema: "node/1"; node_id: string; path: string; kind: "symlink"; target: string }
  | { schema: "node/1"; node_id: string; path: string; kind: "dir"; children: [string, string][] };

/** A hashed tree: its root NodeID and every record, children before their parents. */
export interface BuiltTree {
  root: string;
  records: NodeRecord[];
  byPath: Map<string, NodeRecord>;
}

interface Dir {
  dirs: Map<string, Dir>;
  leaves: Map<string, TreeEntry>;
}

function splitPath(path: string): string[] {
  const names = path.split("/").map((name) => name.normalize("NFC"));
  for (const name of names) {
    if (name === "" || name === "." || name === ".." || name.includes("\0")) {
      throw new InvalidPath(`not a workspace path: ${JSON.stringify(path)}`);
    }
    utf8(name);
  }
  return names;
}

/**
 * The records of a tree given as `{path: entry}` (parents are implied: `src/a.py` makes
 * `src`). The root is the directory `""`.
 */
export function buildTree(entries: Readonly<Record<string, TreeEntry>>): BuiltTree {
  const top: Dir = { dirs: new Map(), leaves: new Map() };
  for (const [path, entry] of Object.entries(entries)) {
    const names = splitPath(path);
    let dir = top;
    for (const [i, name] of names.entries()) {
      const last = i === names.length - 1;
      if (last && entry.kind !== "dir") {
        if (dir.dirs.has(name) || dir.leaves.has(name)) throw new InvalidPath(`${JSON.stringify(path)} given twice`);
        dir.leaves.set(name, entry);
        break;
      }
      if (dir.leaves.has(name)) throw new InvalidPath(`${JSON.stringify(path)} is below a file`);
      let sub = dir.dirs.get(name);
      if (sub === undefined) {
        sub = { dirs: new Map(), leaves: new Map() };
        dir.dirs.set(name, sub);
      }
      dir = sub;
    }
  }
  const records: NodeRecord[] = [];
  const walk = (dir: Dir, path: string): NodeRecord => {
    const children: [string, string][] = [];
    const join = (name: string) => (path === "" ? name : `${path}/${name}`);
    for (const [name, sub] of dir.dirs) children.push([name, walk(sub, join(name)).node_id]);
    for (const [name, entry] of dir.leaves) {
      const childPath = join(name);
      let record: NodeRecord;
      if (entry.kind === "file") {
        const bytes = typeof entry.content === "string" ? utf8(entry.content) : entry.content;
        const hash = contentHash(bytes);
        const executable = entry.executable ?? false;
        record = {
          schema: "node/1",
          node_id: fileNodeId(childPath, hash, executable),
          path: childPath,
          kind: "file",
          content_hash: hash,
          size: bytes.length,
          executable,
        };
      } else {
        const target = (entry as { target: string }).target;
        record = { schema: "node/1", node_id: symlinkNodeId(childPath, target), path: childPath, kind: "symlink", target };
      }
      records.push(record);
      children.push([name, record.node_id]);
    }
    const sorted = sortChildren(children).map(([n, c]) => [n, c] as [string, string]);
    const record: NodeRecord = { schema: "node/1", node_id: dirNodeId(path, sorted), path, kind: "dir", children: sorted };
    records.push(record);
    return record;
  };
  const root = walk(top, "");
  return { root: root.node_id, records, byPath: new Map(records.map((r) => [r.path, r])) };
}
