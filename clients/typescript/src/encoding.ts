/**
 * The canonical byte encoding of docs/SCHEMAS.md §1: every hashed structure is built here.
 *
 * Lengths and counts are u32 big-endian, variable-length fields are length-prefixed
 * blobs and a domain tag leads every structure, so an encoding parses back one way only.
 */

import { InvalidId, InvalidRequest } from "./errors.js";

const HEX64 = /^[0-9a-f]{64}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const encoder = new TextEncoder();

/** True for a 64-lowercase-hex ID; every other spelling is refused (§1). */
export function isHexId(value: unknown): value is string {
  return typeof value === "string" && HEX64.test(value);
}

/** The 32 raw bytes of a 64-lowercase-hex ID; `invalid_id` for anything else. */
export function idBytes(hex: string, what = "ID"): Uint8Array {
  if (!isHexId(hex)) {
    throw new InvalidId(`${what} must be 64 lowercase hex characters, got ${JSON.stringify(hex)}`);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Bytes of an even-length hex string (test vectors, proof digests). */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new InvalidRequest(`not hex: ${JSON.stringify(hex)}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * UTF-8 bytes of a string, refusing lone surrogates.
 *
 * TextEncoder would silently turn a lone surrogate into U+FFFD, so two different
 * JavaScript strings would hash the same; such a string has no UTF-8 form at all.
 */
export function utf8(value: string): Uint8Array {
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidRequest("string contains a lone surrogate and has no UTF-8 encoding");
  }
  return encoder.encode(value);
}

/** Unsigned bytewise comparison, shorter prefix first (the order of directory children). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Concatenation of byte strings. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `u8(n)`: one byte. */
export function u8(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new InvalidRequest(`u8 out of range: ${n}`);
  return Uint8Array.of(n);
}

/** `u32(n)`: four bytes, unsigned big-endian (every length and count). */
export function u32(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new InvalidRequest(`u32 out of range: ${n}`);
  }
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

/** `u64(n)`: eight bytes, unsigned big-endian (defined by §1; no v1 structure uses it). */
export function u64(n: bigint): Uint8Array {
  if (n < 0n || n > 0xffffffffffffffffn) throw new InvalidRequest(`u64 out of range: ${n}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, false);
  return out;
}

/** `blob(b)`: `u32(len(b)) ‖ b`. */
export function blob(bytes: Uint8Array): Uint8Array {
  return concat([u32(bytes.length), bytes]);
}

/** `text(s)`: the blob of the UTF-8 bytes of `s`, encoded as given (no normalization). */
export function text(value: string): Uint8Array {
  return blob(utf8(value));
}

/** `id(x)`: the blob of the 32 raw bytes of a 64-hex ID. */
export function id(hex: string, what = "ID"): Uint8Array {
  return blob(idBytes(hex, what));
}

/** `list(items)`: `u32(count) ‖ item₀ ‖ item₁ ‖ …` (items already encoded). */
export function list(items: readonly Uint8Array[]): Uint8Array {
  return concat([u32(items.length), ...items]);
}

/** `tagged(tag, fields…)`: the domain tag as a blob, then the fields. */
export function tagged(tag: string, ...fields: Uint8Array[]): Uint8Array {
  return concat([text(tag), ...fields]);
}

/** Bytes of standard base64 (how JSON carries content that is not UTF-8). */
export function fromBase64(value: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(value);
  } catch {
    throw new InvalidRequest("not base64");
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Standard base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
