/**
 * @treeframe/client: a TypeScript client for treeframe that recomputes every hash itself.
 *
 * `hashing`, `frameSet` and `canonicalJson` implement docs/SCHEMAS.md independently of
 * the Python library; `verify` checks server answers with them; `TreeframeClient` is the
 * typed REST client that runs every answer through `verify`.
 */

export * from "./canonicalJson.js";
export * from "./client.js";
export * from "./encoding.js";
export * from "./errors.js";
export * from "./frameSet.js";
export * from "./hashing.js";
export * from "./synthesis.js";
export * from "./tree.js";
export * from "./verify.js";
export type * as api from "./generated/openapi.js";
