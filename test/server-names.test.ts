/**
 * Small units of the embedded registry: grammar tables (repository names, bundle image names,
 * listen addresses), the htpasswd loader's refusal of non-bcrypt entries, upload-session expiry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isValidName, isValidTag, splitImageName } from "../src/server/names.js";
import { parseAddress, startRegistry } from "../src/server/index.js";
import { fallbackRepoName } from "../src/server/from-store.js";
import { TcraneError } from "../src/errors.js";
import { Uploads } from "../src/server/uploads.js";
import { HttpError } from "../src/server/errors.js";
import { readdir } from "node:fs/promises";
import { run, withTempDir } from "./harness/tools.js";

test("repository names follow the distribution path-component grammar", () => {
  for (const good of ["a", "library/busybox", "a-b/c_d/e.f", "a__b", "a---b", "x/y/z/w", "0", "a".repeat(255)]) {
    assert.equal(isValidName(good), true, good);
  }
  for (const bad of ["", "..", "a/..", "../a", "a/../b", ".a", "a.", "-a", "a-", "a_", "A", "a//b", "/a", "a/", "a___b", "a..b", "%2e%2e", "a b", "a".repeat(256), "a:b"]) {
    assert.equal(isValidName(bad), false, bad);
  }
  assert.equal(isValidTag("v1.0_RC-2"), true);
  assert.equal(isValidTag(".hidden"), false);
  assert.equal(isValidTag("x".repeat(129)), false);
});

test("bundle image names map to repository and tag", () => {
  const cases: Array<[string, boolean, { repo: string; tag: string } | undefined]> = [
    ["docker.io/library/busybox:1.36", true, { repo: "busybox", tag: "1.36" }],
    ["index.docker.io/library/busybox:1.36", true, { repo: "busybox", tag: "1.36" }],
    ["docker.io/foo/bar:1", true, { repo: "foo/bar", tag: "1" }],
    ["ghcr.io/o/app:v1", true, { repo: "o/app", tag: "v1" }],
    ["localhost:5000/x/y:t", true, { repo: "x/y", tag: "t" }],
    ["legacy/tool:3.0", true, { repo: "legacy/tool", tag: "3.0" }],
    ["busybox", true, { repo: "busybox", tag: "latest" }],
    ["my.org/app:1", false, { repo: "my.org/app", tag: "1" }],
    ["Bad/Name:1", false, undefined],
    ["x:-bad", false, undefined],
  ];
  for (const [name, strip, want] of cases) assert.deepEqual(splitImageName(name, strip), want, name);
  assert.equal(fallbackRepoName("/tmp/My Bundle.tar"), "my-bundle");
  assert.equal(fallbackRepoName("/tmp/___/"), "image");
});

test("listen addresses", () => {
  assert.deepEqual(parseAddress("127.0.0.1:5000"), { host: "127.0.0.1", port: 5000 });
  assert.deepEqual(parseAddress(":5000"), { host: "0.0.0.0", port: 5000 });
  assert.deepEqual(parseAddress("[::1]:0"), { host: "::1", port: 0 });
  assert.deepEqual(parseAddress("localhost:8080"), { host: "localhost", port: 8080 });
  for (const bad of ["5000", "host", "a:b", "1.2.3.4:99999", "[::1]"]) {
    assert.throws(() => parseAddress(bad), (e: unknown) => e instanceof TcraneError && e.code === "USAGE", bad);
  }
});

test("htpasswd: a non-bcrypt entry is refused at start (MALFORMED), a missing file is NOT_FOUND", async () => {
  await withTempDir(async (dir) => {
    const md5 = await run("htpasswd", ["-mbn", "bob", "pw"]);
    assert.equal(md5.code, 0);
    const file = join(dir, "htpasswd");
    await writeFile(file, md5.stdout);
    await assert.rejects(startRegistry({ htpasswd: file }), (e: unknown) => e instanceof TcraneError && e.code === "MALFORMED" && /bcrypt/.test(e.message));
    await assert.rejects(startRegistry({ htpasswd: join(dir, "none") }), (e: unknown) => e instanceof TcraneError && e.code === "NOT_FOUND");
  }, "tcrane-server-htp-");
});

test("upload sessions idle for longer than maxIdleMs are dropped with their files", async () => {
  await withTempDir(async (dir) => {
    const up = new Uploads(async () => dir, 20);
    const old = await up.create("r");
    assert.equal(up.get("r", old.id), old);
    assert.throws(() => up.get("other", old.id), (e: unknown) => e instanceof HttpError && e.code === "BLOB_UPLOAD_UNKNOWN");
    await new Promise((r) => setTimeout(r, 40));
    const fresh = await up.create("r");
    assert.throws(() => up.get("r", old.id), (e: unknown) => e instanceof HttpError && e.status === 404);
    assert.deepEqual(await readdir(dir), [fresh.id]);
    await up.closeAll();
    assert.deepEqual(await readdir(dir), []);
  }, "tcrane-server-idle-");
});
