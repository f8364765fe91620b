/** Loads docs/test-vectors.json (the repository's copy, found from this file's location). */

import { readFileSync } from "node:fs";

// dist/test/vectors.js -> clients/typescript/dist/test -> repository root is four levels up.
const URL_OF_VECTORS = new URL("../../../../docs/test-vectors.json", import.meta.url);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Vector = any;

export const vectors: Vector = JSON.parse(readFileSync(URL_OF_VECTORS, "utf8"));
