/** `npm run demo` (the README's main job) runs on the embedded registries and keeps the digest. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { run } from "./harness/tools.js";

test("the demo pushes, copies, saves, validates and pushes --to with the digest kept", async () => {
  const script = new URL("../scripts/demo.js", import.meta.url).pathname;
  const r = await run(process.execPath, [script]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const m = /kept its digest (sha256:[0-9a-f]{64}) through push, copy, save, validate and push --to/.exec(r.stdout);
  assert.ok(m, r.stdout);
  for (const cmd of ["push", "copy", "save", "validate", "digest"]) assert.match(r.stdout, new RegExp(`\\$ tcrane ${cmd} `));
});
