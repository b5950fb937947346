/**
 * Foreign (non-distributable) layers against the real distribution registry: skipped by default, as
 * crane does; copied with --allow-nondistributable-artifacts, fetched from the descriptor's `urls`
 * when the registry does not hold them (as ggcr does), without the registry's credentials.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { freePort, tcrane, withTempDir } from "./harness/tools.js";
import { RegistryClient } from "../src/registry/client.js";
import { imageOf, layerOf, pushToRegistry } from "./fixtures/images.js";

const USER = "tcrane";
const PASSWORD = "tcrane-password";
const creds = ["--username", USER, "--password", PASSWORD];
const FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

let reg: Distribution;
let server: Server;
let base: string;
/** The requests the foreign-layer server saw. */
const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
const foreign = layerOf(randomBytes(50_000), { mediaType: FOREIGN });
const foreignBlob = foreign.blob;
const foreignDigest = foreign.desc.digest;

/** Push an image whose second layer is foreign, served (only) at `url`. */
async function pushImage(repo: string, url: string): Promise<string> {
  const layer = layerOf(Buffer.from("an ordinary layer\n".repeat(100)), { docker: true });
  const img = imageOf([layer, { ...foreign, desc: { ...foreign.desc, urls: [url] } }], { docker: true, platform: "windows/amd64" });
  const client = new RegistryClient({ insecure: true, credentials: { username: USER, password: PASSWORD } });
  try {
    return await pushToRegistry(client, { registry: reg.host, repository: repo }, img, "1");
  } finally {
    await client.close();
  }
}

before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? "", headers: req.headers });
    if (req.url === "/layers/foreign.tar.gz") {
      res.writeHead(200, { "content-length": foreignBlob.length });
      res.end(foreignBlob);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  // distribution refuses manifests with urls unless they match an allow pattern
  reg = await startDistribution({ mode: "basic", extra: { validation: { manifests: { urls: { allow: ["^http://127\\.0\\.0\\.1:"] } } } } });
  await pushImage("win/app", `${base}/layers/foreign.tar.gz`);
  await pushImage("win/gone", `${base}/missing.tar.gz`);
});
after(async () => {
  await reg?.stop();
  await new Promise((r) => server?.close(r));
});

test("foreign layers: skipped by default; with --allow-nondistributable-artifacts fetched from their urls, without credentials", async () => {
  await withTempDir(async (dir) => {
    const blobFile = (layout: string) => join(layout, "blobs", "sha256", foreignDigest.slice("sha256:".length));
    // default: the layer stays where its urls say, nothing asks for it
    const plain = join(dir, "plain");
    const r1 = await tcrane(["copy", ...creds, `${reg.host}/win/app:1`, `oci:${plain}:app`]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(existsSync(blobFile(plain)), false);
    assert.equal(seen.length, 0);

    // allowed: the registry answers 404, the layer comes from its url, with no Authorization
    const full = join(dir, "full");
    const r2 = await tcrane(["copy", ...creds, "--allow-nondistributable-artifacts", `${reg.host}/win/app:1`, `oci:${full}:app`]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.ok((await readFile(blobFile(full))).equals(foreignBlob));
    assert.deepEqual(
      seen.map((s) => s.url),
      ["/layers/foreign.tar.gz"],
    );
    assert.equal(seen[0]!.headers.authorization, undefined);

    // registry to registry: the destination gets the layer
    const r3 = await tcrane(["copy", ...creds, "--allow-nondistributable-artifacts", `${reg.host}/win/app:1`, `${reg.host}/win/copy:1`]);
    assert.equal(r3.code, 0, r3.stderr);
    const client = new RegistryClient({ insecure: true, credentials: { username: USER, password: PASSWORD } });
    try {
      assert.equal(await client.headBlob({ registry: reg.host, repository: "win/copy" }, foreignDigest), foreignBlob.length);
    } finally {
      await client.close();
    }
    for (const s of seen) assert.equal(s.headers.authorization, undefined, `credentials sent to ${s.url}`);
  });
});

test("foreign layers: when neither the registry nor the urls have the layer, the copy fails with exit 3 and leaves nothing", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out");
    const r = await tcrane(["copy", ...creds, "--allow-nondistributable-artifacts", `${reg.host}/win/gone:1`, `oci:${out}:app`]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /missing\.tar\.gz/);
    assert.equal(r.stderr.includes(PASSWORD), false);
    assert.equal(existsSync(out), false);
  });
});
