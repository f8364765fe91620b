/**
 * Canonical JSON (docs/SCHEMAS.md §11): the one byte form of records and synthesis params.
 *
 * Written out by hand rather than through `JSON.stringify`, whose key order is insertion
 * order and whose sort would be UTF-16 order; canonical keys are in code-point order.
 */

import { InvalidRequest } from "./errors.js";
import { utf8 } from "./encoding.js";

/** A JSON value canonical JSON can encode (integers only; bigint for large ones). */
export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

const SHORT_ESCAPES: Record<number, string> = {
  0x08: "\\b",
  0x09: "\\t",
  0x0a: "\\n",
  0x0c: "\\f",
  0x0d: "\\r",
  0x22: '\\"',
  0x5c: "\\\\",
};

/** Compare two strings by Unicode code point (equal to UTF-8 byte order, not UTF-16). */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    const d = (x.value.codePointAt(0) as number) - (y.value.codePointAt(0) as number);
    if (d !== 0) return d;
  }
}

function encodeString(value: string): string {
  utf8(value); // refuses lone surrogates
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    const short = SHORT_ESCAPES[unit];
    if (short !== undefined) out += short;
    else if (unit < 0x20) out += "\\u" + unit.toString(16).padStart(4, "0");
    else out += value[i];
  }
  return out + '"';
}

function encodeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (!Number.isInteger(value)) {
      throw new InvalidRequest(`canonical JSON has integers only, got ${value}`);
    }
    return BigInt(value).toString(); // exact decimal, never an exponent; -0 is 0
  }
  if (typeof value === "string") return encodeString(value);
  if (Array.isArray(value)) return "[" + value.map(encodeValue).join(",") + "]";
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    entries.sort(([a], [b]) => compareCodePoints(a, b));
    return (
      "{" + entries.map(([k, v]) => encodeString(k) + ":" + encodeValue(v)).join(",") + "}"
    );
  }
  throw new InvalidRequest(`canonical JSON cannot encode a ${typeof value}`);
}

/** The canonical JSON text of a value. */
export function canonicalJson(value: unknown): string {
  return encodeValue(value);
}

/** The canonical JSON bytes (UTF-8, no byte-order mark) of a value. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return utf8(encodeValue(value));
}
