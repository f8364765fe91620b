/** The error classes against docs/ERRORS.md, and the envelope mapped to them. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  ERROR_CLASSES,
  AccessDenied,
  BackendUnavailable,
  Conflict,
  IntegrityError,
  NotFound,
  NodeNotFound,
  PreconditionFailed,
  QueueFull,
  RateLimited,
  TreeframeError,
  Unauthorized,
  errorFromResponse,
} from "../src/index.js";

const ERRORS_MD = readFileSync(new URL("../../../../docs/ERRORS.md", import.meta.url), "utf8");

test("one class per code of docs/ERRORS.md, named as the class column", () => {
  const rows = [...ERRORS_MD.matchAll(/^\| `([a-z_]+)` \| `([A-Za-z]+)` \| (\d{3}) \|/gm)];
  assert.ok(rows.length > 40, "the table parsed");
  const documented = Object.fromEntries(rows.map((m) => [m[1], m[2]]));
  const ours = Object.fromEntries(Object.entries(ERROR_CLASSES).map(([code, cls]) => [code, cls.name]));
  assert.deepEqual(ours, documented);
});

test("the envelope maps to the class of its code, with its data, status and request ID", () => {
  const error = errorFromResponse(412, {
    api_version: "1",
    error: { error_type: "PreconditionFailed", code: "precondition_failed", message: "head moved", request_id: "r-1", expected: "", actual: "ab" },
  });
  assert.ok(error instanceof PreconditionFailed && error instanceof Conflict && error instanceof TreeframeError);
  assert.equal(error.code, "precondition_failed");
  assert.equal(error.status, 412);
  assert.equal(error.requestId, "r-1");
  assert.equal(error.data["actual"], "ab");
  assert.equal(error.message, "head moved");
  assert.equal(error.name, "PreconditionFailed");
});

test("retry_after is read from the envelope", () => {
  const error = errorFromResponse(429, { error: { code: "queue_full", message: "full", request_id: "r", retry_after: 1.5 } });
  assert.ok(error instanceof QueueFull && error instanceof RateLimited);
  assert.equal(error.retryAfter, 1.5);
  assert.equal(new NodeNotFound("x").retryAfter, undefined);
});

test("an unknown code keeps its code on the root class", () => {
  const error = errorFromResponse(418, { error: { code: "teapot", message: "short and stout", request_id: "r" } });
  assert.equal(error.constructor, TreeframeError);
  assert.equal(error.code, "teapot");
});

test("a body that is not the envelope maps by status", () => {
  assert.ok(errorFromResponse(401, "<html>") instanceof Unauthorized);
  assert.ok(errorFromResponse(403, null) instanceof AccessDenied);
  assert.equal(errorFromResponse(404, {}).constructor, NotFound);
  assert.ok(errorFromResponse(503, null) instanceof BackendUnavailable);
  assert.equal(errorFromResponse(502, null).constructor, TreeframeError);
});

test("IntegrityError carries expected and got", () => {
  const error = new IntegrityError("mismatch", { expected: "aa", got: "bb" });
  assert.equal(error.code, "integrity_error");
  assert.deepEqual([error.expected, error.got], ["aa", "bb"]);
});
