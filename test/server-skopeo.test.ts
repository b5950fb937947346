/**
 * The embedded registry against real clients: skopeo copies into and out of it, inspects, lists
 * tags and deletes, in memory and dir mode (surviving a restart), serving a bundle read-only,
 * behind htpasswd and TLS, and copying from the real distribution registry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Agent, request } from "undici";
import { startRegistry } from "../src/server/index.js";
import { startDistribution } from "./harness/distribution.js";
import { makePki } from "./harness/tls.js";
import { requireBinary, run, tempDir, withTempDir } from "./harness/tools.js";
import { makeImage, sha256, writeLayout, type Image } from "./fixtures/images.js";

requireBinary("skopeo");

async function skopeo(...args: string[]): Promise<string> {
  const r = await run("skopeo", args);
  if (r.code !== 0) throw new Error(`skopeo ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function skopeoFails(...args: string[]): Promise<string> {
  const r = await run("skopeo", args);
  assert.notEqual(r.code, 0, `skopeo ${args.join(" ")} should fail`);
  return r.stderr;
}

/** A source layout with one image tagged `v1`. */
async function sourceLayout(root: string, sizes?: number[]): Promise<{ dir: string; img: Image }> {
  const img = await makeImage({ layers: sizes ?? [2048, 70000] });
  const dir = join(root, `src-${Math.random().toString(36).slice(2)}`);
  await writeLayout(dir, [{ node: img, ref: "v1" }]);
  return { dir, img };
}

/** Digest of the manifest skopeo wrote into an OCI layout it created. */
async function layoutDigest(dir: string): Promise<string> {
  const idx = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
  return idx.manifests[0].digest;
}

test("memory mode: skopeo copy in and out, inspect, list-tags, delete", async () => {
  const { dir: root, cleanup } = await tempDir("tcrane-server-sk-");
  const reg = await startRegistry();
  try {
    const { dir, img } = await sourceLayout(root);
    await skopeo("copy", "--dest-tls-verify=false", `oci:${dir}:v1`, `docker://${reg.host}/team/app:1.0`);
    const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${reg.host}/team/app:1.0`));
    assert.equal(info.Digest, img.manifestDesc.digest, "digests are kept");
    assert.deepEqual(info.Layers, img.layers.map((l) => l.desc.digest));
    assert.equal(info.Architecture, "amd64");
    await skopeo("copy", "--dest-tls-verify=false", `docker://${reg.host}/team/app:1.0`, `docker://${reg.host}/team/app:1.1`, "--src-tls-verify=false");
    const tags = JSON.parse(await skopeo("list-tags", "--tls-verify=false", `docker://${reg.host}/team/app`));
    assert.deepEqual(tags.Tags, ["1.0", "1.1"]);
    const out = join(root, "out");
    await skopeo("copy", "--src-tls-verify=false", `docker://${reg.host}/team/app:1.0`, `oci:${out}:o`);
    assert.equal(await layoutDigest(out), img.manifestDesc.digest);
    for (const l of img.layers) assert.deepEqual(await readFile(join(out, "blobs", "sha256", l.desc.digest.slice(7))), l.blob);
    await skopeo("delete", "--tls-verify=false", `docker://${reg.host}/team/app:1.0`);
    await skopeoFails("inspect", "--tls-verify=false", `docker://${reg.host}/team/app:1.0`);
    const after = JSON.parse(await skopeo("list-tags", "--tls-verify=false", `docker://${reg.host}/team/app`));
    assert.deepEqual(after.Tags, [], "deleting the manifest removed every tag pointing at it");
  } finally {
    await reg.close();
    await cleanup();
  }
});

test("dir mode: concurrent pushes, a valid OCI layout on disk, still there after a restart", async () => {
  const { dir: root, cleanup } = await tempDir("tcrane-server-dir-");
  const store = join(root, "store");
  let reg = await startRegistry({ dir: store });
  try {
    const a = await sourceLayout(root, [100000, 3000]);
    const b = await sourceLayout(root, [5000]);
    await Promise.all([
      skopeo("copy", "--dest-tls-verify=false", `oci:${a.dir}:v1`, `docker://${reg.host}/x/a:one`),
      skopeo("copy", "--dest-tls-verify=false", `oci:${b.dir}:v1`, `docker://${reg.host}/x/b:two`),
      skopeo("copy", "--dest-tls-verify=false", `oci:${a.dir}:v1`, `docker://${reg.host}/x/a:again`),
    ]);
    await reg.close();
    reg = await startRegistry({ dir: store });
    const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${reg.host}/x/a:one`));
    assert.equal(info.Digest, a.img.manifestDesc.digest);
    const tags = JSON.parse(await skopeo("list-tags", "--tls-verify=false", `docker://${reg.host}/x/a`));
    assert.deepEqual(tags.Tags, ["again", "one"]);
    const out = join(root, "out");
    await skopeo("copy", "--src-tls-verify=false", `docker://${reg.host}/x/b:two`, `oci:${out}:b`);
    assert.equal(await layoutDigest(out), b.img.manifestDesc.digest);
    // the store is an OCI layout other tools read: every tag is an index.json entry
    const idx = JSON.parse(await readFile(join(store, "index.json"), "utf8"));
    const names = idx.manifests.map((m: { annotations: Record<string, string> }) => m.annotations["io.containerd.image.name"]).sort();
    assert.deepEqual(names, ["x/a:again", "x/a:one", "x/b:two"]);
    const viaLayout = JSON.parse(await skopeo("inspect", `oci:${store}:x/b:two`));
    assert.equal(viaLayout.Digest, b.img.manifestDesc.digest);
    for (const l of a.img.layers) assert.deepEqual(await readFile(join(store, "blobs", "sha256", l.desc.digest.slice(7))), l.blob);
    // blobs are scoped to repositories: x/b does not serve x/a's layer
    const r = await request(`${reg.url}/v2/x/b/blobs/${a.img.layers[0]!.desc.digest}`, { method: "HEAD" });
    await r.body.dump();
    assert.equal(r.statusCode, 404);
    await skopeo("delete", "--tls-verify=false", `docker://${reg.host}/x/b:two`);
    const idx2 = JSON.parse(await readFile(join(store, "index.json"), "utf8"));
    assert.equal(idx2.manifests.length, 2);
  } finally {
    await reg.close();
    await cleanup();
  }
});

test("--from DIR serves a bundle read-only by its image names; writes answer 405", async () => {
  const { dir: root, cleanup } = await tempDir("tcrane-server-from-");
  const one = await makeImage({ layers: [4000] });
  const two = await makeImage({ layers: [6000] });
  const bundle = join(root, "Bundle");
  await writeLayout(bundle, [
    { node: one, ref: "1.36", annotations: { "io.containerd.image.name": "docker.io/library/busybox:1.36" } },
    { node: two, ref: "v2" },
  ]);
  const reg = await startRegistry({ from: bundle });
  try {
    const cat = await request(`${reg.url}/v2/_catalog`);
    assert.deepEqual(await cat.body.json(), { repositories: ["bundle", "busybox"] });
    const out = join(root, "out");
    await skopeo("copy", "--src-tls-verify=false", `docker://${reg.host}/busybox:1.36`, `oci:${out}:a`);
    assert.equal(await layoutDigest(out), one.manifestDesc.digest);
    const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${reg.host}/bundle:v2`));
    assert.equal(info.Digest, two.manifestDesc.digest);
    const r = await request(`${reg.url}/v2/busybox/blobs/${one.layers[0]!.desc.digest}`, { headers: { range: "bytes=10-19" } });
    assert.equal(r.statusCode, 206);
    assert.deepEqual(Buffer.from(await r.body.arrayBuffer()), one.layers[0]!.blob.subarray(10, 20));
    const put = await request(`${reg.url}/v2/busybox/manifests/new`, { method: "PUT", body: one.manifest, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
    assert.equal(put.statusCode, 405);
    assert.equal(((await put.body.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, "UNSUPPORTED");
    const post = await request(`${reg.url}/v2/busybox/blobs/uploads/`, { method: "POST" });
    assert.equal(post.statusCode, 405);
    await post.body.dump();
    const del = await request(`${reg.url}/v2/busybox/manifests/${one.manifestDesc.digest}`, { method: "DELETE" });
    assert.equal(del.statusCode, 405);
    await del.body.dump();
    await skopeoFails("copy", "--dest-tls-verify=false", `oci:${bundle}:v2`, `docker://${reg.host}/busybox:pushed`);
    const idx = JSON.parse(await readFile(join(bundle, "index.json"), "utf8"));
    assert.equal(idx.manifests.length, 2, "the bundle is untouched");
  } finally {
    await reg.close();
    await cleanup();
  }
});

test("--from ARCHIVE serves an oci-archive and a docker-archive without unpacking them", async () => {
  await withTempDir(async (root) => {
    const img = await makeImage({ layers: [3000, 9000] });
    const layout = join(root, "layout");
    await writeLayout(layout, [{ node: img, ref: "2.0", annotations: { "io.containerd.image.name": "example.com/team/tool:2.0" } }]);
    const ociTar = join(root, "bundle.tar");
    const t = await run("tar", ["-cf", ociTar, "-C", layout, "oci-layout", "index.json", "blobs"]);
    assert.equal(t.code, 0, t.stderr);
    const dockerTar = join(root, "saved.tar");
    await skopeo("copy", `oci:${layout}:2.0`, `docker-archive:${dockerTar}:legacy/tool:3.0`);
    const oci = await startRegistry({ from: ociTar });
    try {
      const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${oci.host}/team/tool:2.0`));
      assert.equal(info.Digest, img.manifestDesc.digest);
      const out = join(root, "out-oci");
      await skopeo("copy", "--src-tls-verify=false", `docker://${oci.host}/team/tool:2.0`, `oci:${out}:x`);
      assert.equal(await layoutDigest(out), img.manifestDesc.digest);
      const r = await request(`${oci.url}/v2/team/tool/blobs/${img.layers[1]!.desc.digest}`, { headers: { range: "bytes=100-199" } });
      assert.equal(r.statusCode, 206);
      assert.deepEqual(Buffer.from(await r.body.arrayBuffer()), img.layers[1]!.blob.subarray(100, 200));
    } finally {
      await oci.close();
    }
    const dock = await startRegistry({ from: dockerTar });
    try {
      const tags = JSON.parse(await skopeo("list-tags", "--tls-verify=false", `docker://${dock.host}/legacy/tool`));
      assert.deepEqual(tags.Tags, ["3.0"]);
      const out = join(root, "out-docker");
      await skopeo("copy", "--src-tls-verify=false", `docker://${dock.host}/legacy/tool:3.0`, `oci:${out}:y`);
      const info = JSON.parse(await skopeo("inspect", `oci:${out}:y`));
      assert.equal(info.Architecture, "amd64");
      assert.equal(info.Layers.length, 2);
    } finally {
      await dock.close();
    }
  }, "tcrane-server-arch-");
});

test("skopeo copies from the real distribution registry into ours and back", async () => {
  const { dir: root, cleanup } = await tempDir("tcrane-server-dist-");
  const dist = await startDistribution();
  const reg = await startRegistry();
  try {
    const { dir, img } = await sourceLayout(root);
    await skopeo("copy", "--dest-tls-verify=false", `oci:${dir}:v1`, `docker://${dist.host}/up/stream:1`);
    await skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", `docker://${dist.host}/up/stream:1`, `docker://${reg.host}/mirror/stream:1`);
    const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${reg.host}/mirror/stream:1`));
    assert.equal(info.Digest, img.manifestDesc.digest);
    await skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", `docker://${reg.host}/mirror/stream:1`, `docker://${dist.host}/back/again:1`);
    const back = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${dist.host}/back/again:1`));
    assert.equal(back.Digest, img.manifestDesc.digest);
  } finally {
    await reg.close();
    await dist.stop();
    await cleanup();
  }
});

test("htpasswd: no credentials 401 with a Basic challenge, wrong 401, right 200; skopeo pushes with creds", async () => {
  requireBinary("htpasswd");
  const { dir: root, cleanup } = await tempDir("tcrane-server-auth-");
  const h = await run("htpasswd", ["-Bbn", "alice", "s3cret-pass"]);
  assert.equal(h.code, 0, h.stderr);
  const file = join(root, "htpasswd");
  await writeFile(file, h.stdout);
  const reg = await startRegistry({ htpasswd: file });
  const basic = (u: string, p: string) => "Basic " + Buffer.from(`${u}:${p}`).toString("base64");
  try {
    const none = await request(`${reg.url}/v2/`);
    assert.equal(none.statusCode, 401);
    assert.match(String(none.headers["www-authenticate"]), /^Basic realm="[^"]+"$/);
    assert.equal(((await none.body.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, "UNAUTHORIZED");
    const wrong = await request(`${reg.url}/v2/`, { headers: { authorization: basic("alice", "nope") } });
    assert.equal(wrong.statusCode, 401);
    await wrong.body.dump();
    const right = await request(`${reg.url}/v2/_catalog`, { headers: { authorization: basic("alice", "s3cret-pass") } });
    assert.equal(right.statusCode, 200);
    await right.body.dump();
    const { dir } = await sourceLayout(root);
    await skopeoFails("copy", "--dest-tls-verify=false", `oci:${dir}:v1`, `docker://${reg.host}/locked:1`);
    await skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret-pass", `oci:${dir}:v1`, `docker://${reg.host}/locked:1`);
    const tags = JSON.parse(await skopeo("list-tags", "--tls-verify=false", "--creds", "alice:s3cret-pass", `docker://${reg.host}/locked`));
    assert.deepEqual(tags.Tags, ["1"]);
  } finally {
    await reg.close();
    await cleanup();
  }
});

test("TLS with a test CA: skopeo verifies the certificate and pushes", async () => {
  const { dir: root, cleanup } = await tempDir("tcrane-server-tls-");
  const pkiDir = join(root, "pki");
  await mkdir(pkiDir);
  const pki = await makePki(pkiDir);
  const reg = await startRegistry({ tlsCert: pki.certPath, tlsKey: pki.keyPath });
  try {
    assert.match(reg.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const agent = new Agent({ connect: { ca: pki.caPem } });
    const r = await request(`${reg.url}/v2/`, { dispatcher: agent });
    assert.equal(r.statusCode, 200);
    await r.body.dump();
    await agent.close();
    const certs = join(root, "certs");
    await mkdir(certs);
    await writeFile(join(certs, "ca.crt"), pki.caPem);
    const { dir, img } = await sourceLayout(root);
    await skopeoFails("copy", `oci:${dir}:v1`, `docker://${reg.host}/secure:1`); // unknown CA
    await skopeo("copy", "--dest-cert-dir", certs, `oci:${dir}:v1`, `docker://${reg.host}/secure:1`);
    const info = JSON.parse(await skopeo("inspect", "--cert-dir", certs, `docker://${reg.host}/secure:1`));
    assert.equal(info.Digest, img.manifestDesc.digest);
    assert.equal(sha256(img.manifest), img.manifestDesc.digest);
  } finally {
    await reg.close();
    await cleanup();
  }
});
