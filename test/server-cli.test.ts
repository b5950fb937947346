/**
 * `tcrane registry serve` as users run it: prints HOST:PORT on stdout, serves until SIGTERM and
 * exits 0; a large push to a --dir store keeps the server's memory flat (streamed to disk).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { request } from "undici";
import { serveTcrane, tcrane, tempDir, type Served } from "./harness/tools.js";

/** `tcrane registry serve ARGS…`; `host` is the HOST:PORT it printed. */
async function serve(args: string[]): Promise<Served & { host: string }> {
  const s = await serveTcrane(["registry", "serve", ...args]);
  assert.match(s.stderr(), /serving on/);
  return { ...s, host: s.line };
}

test("registry serve prints HOST:PORT on stdout, serves, and exits 0 on SIGTERM", async () => {
  const s = await serve([]);
  try {
    assert.match(s.host, /^127\.0\.0\.1:\d+$/);
    const r = await request(`http://${s.host}/v2/`);
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["docker-distribution-api-version"], "registry/2.0");
    await r.body.dump();
    assert.match(s.stderr(), new RegExp(`serving on http://${s.host.replace(/\./g, "\\.")}`));
  } finally {
    s.proc.kill("SIGTERM"); // also after a failed assertion: a server left running holds the test run
  }
  assert.equal(await s.exit, 0);
});

test("registry serve --help shows an example; bad input exits 2, a missing bundle 3", async () => {
  const help = await tcrane(["registry", "serve", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--dir/);
  assert.match(help.stdout, /Examples:[\s\S]*tcrane registry serve --address 127\.0\.0\.1:5000/);
  const bad = await tcrane(["registry", "serve", "--address", "nonsense"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /^tcrane: nonsense: address must be/);
  const missing = await tcrane(["registry", "serve", "--from", "/nonexistent/bundle"]);
  assert.equal(missing.code, 3, missing.stderr);
  assert.match(missing.stderr, /^tcrane: \/nonexistent\/bundle: /);
});

test("a 256 MiB streamed push to --dir keeps the server's memory flat", async () => {
  const { dir, cleanup } = await tempDir("tcrane-server-big-");
  const store = join(dir, "store");
  const s = await serve(["--dir", store]);
  try {
    const chunk = Buffer.alloc(1 << 20);
    const total = 256;
    const hash = createHash("sha256");
    for (let i = 0; i < total; i++) {
      chunk.writeUInt32BE(i, 0);
      hash.update(chunk);
    }
    const digest = `sha256:${hash.digest("hex")}`;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < total; i++) {
          const c = Buffer.alloc(1 << 20);
          c.writeUInt32BE(i, 0);
          yield c;
        }
      })(),
    );
    const start = await request(`http://${s.host}/v2/big/blobs/uploads/`, { method: "POST" });
    assert.equal(start.statusCode, 202);
    await start.body.dump();
    const loc = String(start.headers.location);
    const patch = await request(`http://${s.host}${loc}`, { method: "PATCH", body, headers: { "content-type": "application/octet-stream" } });
    assert.equal(patch.statusCode, 202);
    await patch.body.dump();
    const put = await request(`http://${s.host}${loc}?digest=${digest}`, { method: "PUT" });
    assert.equal(put.statusCode, 201);
    await put.body.dump();
    assert.equal((await stat(join(store, "blobs", "sha256", digest.slice(7)))).size, total << 20);
    const status = await readFile(`/proc/${s.proc.pid}/status`, "utf8");
    const hwmKiB = Number(/VmHWM:\s+(\d+)/.exec(status)![1]);
    console.log(`# server peak RSS ${Math.round(hwmKiB / 1024)} MiB`);
    assert.ok(hwmKiB < 160 * 1024, `peak RSS ${Math.round(hwmKiB / 1024)} MiB for a 256 MiB push`);
  } finally {
    s.proc.kill("SIGINT");
    assert.equal(await s.exit, 0);
    await cleanup();
  }
});
