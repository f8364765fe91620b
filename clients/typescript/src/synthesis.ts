/**
 * The content of the built-in synthesis policies (docs/SCHEMAS.md §8), so a client can
 * recompute what a synthesis frame should hold from its inputs instead of believing it.
 *
 * "Whitespace" and "lines" are Python's `str.isspace` and `str.splitlines`, spelled out
 * in §8; an input's text is its bytes decoded as UTF-8 with each maximal ill-formed
 * subpart replaced by U+FFFD, and a leading byte-order mark kept as U+FEFF.
 */

import { InvalidPolicy } from "./errors.js";
import { utf8 } from "./encoding.js";

/** One input of a synthesis, in basis order, as the policy sees it. */
export interface SynthesisInput {
  /** The child's workspace path (`src/a.py`, not `a.py`). */
  child_path: string;
  frame_type: string;
  agent_id: string;
  content_type: string;
  metadata: Readonly<Record<string, string>>;
  content: Uint8Array;
}

const WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const LEADING_WS = new RegExp(`^${WHITESPACE.source}+`);
const TRAILING_WS = new RegExp(`${WHITESPACE.source}+$`);
const LINE_BREAK = /\r\n|[\n\v\f\r\x1c-\x1e\x85\u2028\u2029]/;
// ignoreBOM keeps a leading U+FEFF, as Python's "utf-8" codec does.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** An input's text (§8): ill-formed UTF-8 replaced, nothing else changed. */
export function inputText(content: Uint8Array): string {
  return decoder.decode(content);
}

const strip = (s: string) => s.replace(LEADING_WS, "").replace(TRAILING_WS, "");

function concatText(inputs: readonly SynthesisInput[]): string {
  return inputs
    .map(
      (i) =>
        `## ${i.child_path} (${i.frame_type} by ${i.agent_id})\n` +
        inputText(i.content).replace(TRAILING_WS, "") +
        "\n",
    )
    .join("\n");
}

function firstLine(text: string): string {
  for (const raw of text.split(LINE_BREAK)) {
    const line = strip(strip(raw).replace(/^#+/, ""));
    if (line !== "") return line;
  }
  return "(empty)";
}

function summaryText(inputs: readonly SynthesisInput[], maxLine: number, maxBytes: number): string {
  let out = "";
  let used = 0;
  const n = inputs.length;
  for (const [i, input] of inputs.entries()) {
    let line = firstLine(inputText(input.content));
    const points = [...line];
    if (points.length > maxLine) line = points.slice(0, maxLine - 1).join("") + "\u2026";
    const bullet = `- ${input.child_path}: ${line}\n`;
    const notice = `- \u2026 ${n - i} more\n`;
    const bulletBytes = utf8(bullet).length;
    if (used + bulletBytes + (n - i > 1 ? utf8(notice).length : 0) > maxBytes) {
      out += notice;
      break;
    }
    out += bullet;
    used += bulletBytes;
  }
  return out;
}

function positiveInt(params: Record<string, unknown>, key: string): number {
  const value = params[key];
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new InvalidPolicy(`summary ${key} must be an integer >= 1, got ${JSON.stringify(value)}`);
  }
  return value;
}

function strings(value: unknown, key: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new InvalidPolicy(`filter ${key} must be a list of strings`);
  }
  return value;
}

function passes(input: SynthesisInput, params: Record<string, unknown>): boolean {
  const types = strings(params["types"], "types");
  const agents = strings(params["agents"], "agents");
  const prefix = params["content_type_prefix"];
  const metadata = params["metadata"];
  if (typeof prefix !== "string") throw new InvalidPolicy("filter content_type_prefix must be a string");
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    throw new InvalidPolicy("filter metadata must be an object");
  }
  return (
    (types.length === 0 || types.includes(input.frame_type)) &&
    (agents.length === 0 || agents.includes(input.agent_id)) &&
    input.content_type.startsWith(prefix) &&
    Object.entries(metadata).every(([k, v]) => Object.hasOwn(input.metadata, k) && input.metadata[k] === v)
  );
}

/**
 * The bytes a built-in policy (`concat`, `summary`, `filter`) produces from its inputs
 * with its normalized parameters (the `params` inside a synthesis basis's params).
 */
export function policyContent(
  policyId: string,
  params: Record<string, unknown>,
  inputs: readonly SynthesisInput[],
): Uint8Array {
  switch (policyId) {
    case "concat":
      return utf8(concatText(inputs));
    case "summary":
      return utf8(summaryText(inputs, positiveInt(params, "max_line"), positiveInt(params, "max_bytes")));
    case "filter":
      return utf8(concatText(inputs.filter((input) => passes(input, params))));
    default:
      throw new InvalidPolicy(`the client cannot recompute the content of policy ${JSON.stringify(policyId)}`);
  }
}
